"""The canvas's scene: a mirror of the graph (orange-canvas-core's ``item_for_node`` pattern).

It reacts to the bridge's signals only; user gestures become requests (``connectRequested``,
``nodesMoved``...) that the document turns into undo commands. Nothing is read back from an item
to be saved: a drag ends with a move command that writes the positions into the model.

While a wire is dragged from a port, every port shows whether it can take it (``layerloom.edits.wiring``'s
``port_verdicts``, the graph's own connect rules): highlighted or dimmed, with the reason as its tooltip and
in a note beside the cursor over it; releasing the button puts every port back.
"""

from __future__ import annotations

import bisect
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

from layerloom import Edge
from layerloom.edits.wiring import port_verdicts, same_side_reason, verdict_text

from layerloom.nodeeditor.adapters.bridge import GraphBridge
from layerloom.nodeeditor.canvas.items import (ACCEPT, INPUT, OUTPUT, REFUSE, EdgeItem, NodeItem, PortItem, TitleEditor,
                                               WireHint, shape_text, wire_path)
from layerloom.nodeeditor.canvas.insert_target import InsertTarget
from layerloom.nodeeditor.theme.style import DARK, GRID, Theme, port_color


class GraphScene(QGraphicsScene):
    connectRequested = Signal(str, str, str, str)          # src, src port, dst, dst port
    wireDroppedOnEmpty = Signal(str, str, str, QPointF)    # node, port, direction, scene position
    nodesMoved = Signal(dict)                               # id -> ((old x, old y), (new x, new y))
    renameRequested = Signal(str, str)                      # node, new name (typed on the canvas)
    openBlockRequested = Signal(str)                        # a block instance was double-clicked

    def __init__(self, bridge: GraphBridge, theme: Theme = DARK, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.graph = bridge.graph
        self.theme = theme
        self.item_for_node: dict[str, NodeItem] = {}
        self.item_for_edge: dict[Edge, EdgeItem] = {}
        self.edges_at: dict[str, set[EdgeItem]] = {}   # node id -> the wires touching it
        # wires back to a lower row run level through the gap between two rows: a card moved into or out
        # of the strip they cross moves the gap; they are found again once the moves of an event are done
        self.level_back: set[EdgeItem] = set()
        self._moved: QRectF | None = None
        self._card_rects: dict[str, QRectF] = {}
        self.snap = False
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._drag_start: dict[str, tuple[float, float]] = {}
        self.syncing = False    # an item is being moved to the model's position: no snapping, no report
        self.title_editor: TitleEditor | None = None
        self.wire_hint = WireHint(theme)   # in the scene only while a wire or an insertable node is dragged
        self.insert_target = InsertTarget(self)
        self.setSceneRect(-5000, -5000, 10000, 10000)
        self.setBackgroundBrush(theme.color("canvas"))
        bridge.nodeAdded.connect(self._add_node)
        bridge.nodeRemoved.connect(self._remove_node)
        bridge.nodeChanged.connect(self._refresh_node)
        bridge.nodeMoved.connect(self._move_node)
        bridge.edgeAdded.connect(self._add_edge)
        bridge.edgeRemoved.connect(self._remove_edge)
        bridge.analyzed.connect(self._apply_analysis)
        self._card_tops: list | None = None   # (top, bottom, left, right) of every card, by top: cards_in
        for node in self.graph:
            self._add_node(node.id)
        for edge in self.graph.edges:
            self._add_edge(edge)
        self._label_edges(bridge.analysis)

    # ------------------------------------------------------------------ model -> scene
    def _add_node(self, node_id: str) -> None:
        self._card_tops = None
        item = NodeItem(node_id, self.theme)
        self.item_for_node[node_id] = item
        self._refresh(item)
        self.syncing = True
        item.setPos(*self.graph.node(node_id).position)
        self.syncing = False
        self.addItem(item)

    def _remove_node(self, node_id: str) -> None:
        if self.title_editor is not None and self.title_editor.node_id == node_id:
            self.title_editor.cancel()
        item = self.item_for_node.pop(node_id, None)
        if item is not None:
            self.removeItem(item)
            self._card_tops = None

    def cards_in(self, left: float, top: float, right: float, bottom: float) -> list[tuple[float, float]]:
        """The top and bottom of every card that overlaps the rectangle: what a wire back to a lower row
        must keep clear of. From a list of the cards sorted by their top, made again after cards changed
        (asking the scene's own index instead, while a big graph's wires are added, rebuilt that index
        for every such wire: seconds for a 5,000-node import)."""
        if self._card_tops is None:
            bounds = sorted((t, b, lft, rgt) for lft, t, rgt, b in
                            (item.scene_bounds() for item in self.item_for_node.values()))
            self._card_tops = [b[0] for b in bounds], bounds, max((b[1] - b[0] for b in bounds), default=0.0)
        tops, bounds, tallest = self._card_tops
        first = bisect.bisect_left(tops, top - tallest)
        last = bisect.bisect_right(tops, bottom)
        return [(t, b) for t, b, lft, rgt in bounds[first:last]
                if b > top and t < bottom and rgt > left and lft < right]

    def _refresh_node(self, node_id: str) -> None:
        item = self.item_for_node.get(node_id)
        if item is not None:
            self._refresh(item)

    def _refresh(self, item: NodeItem) -> None:
        self._card_tops = None   # its ports, so its height, may change
        analysis = self.bridge.analysis
        info = analysis.nodes.get(item.node_id) if analysis else None
        problems = analysis.problems_for(item.node_id) if analysis else ()
        item.refresh(self.graph, info, problems)

    def _move_node(self, node_id: str, x: float, y: float) -> None:
        item = self.item_for_node.get(node_id)
        if item is not None and (item.x(), item.y()) != (x, y):
            self.syncing = True
            item.setPos(x, y)
            self.syncing = False

    def _add_edge(self, edge: Edge) -> None:
        src, dst = self.item_for_node.get(edge.src), self.item_for_node.get(edge.dst)
        source = src.port(edge.src_port, OUTPUT) if src else None
        target = dst.port(edge.dst_port, INPUT) if dst else None
        if source is None or target is None:
            return  # a wire to an unknown port of a broken file: analysis reports it
        item = EdgeItem(edge, source, target, self.theme)
        self.item_for_edge[edge] = item
        self.edges_at.setdefault(edge.src, set()).add(item)
        self.edges_at.setdefault(edge.dst, set()).add(item)
        self.addItem(item)
        if item.runs_level_back:
            item.update_path()   # its level again, now that it can see the other cards
        self._track(item)

    def _remove_edge(self, edge: Edge) -> None:
        item = self.item_for_edge.pop(edge, None)
        if item is not None:
            for node_id in (edge.src, edge.dst):
                self.edges_at.get(node_id, set()).discard(item)
            self.level_back.discard(item)
            self.removeItem(item)

    def _apply_analysis(self, analysis) -> None:
        for item in self.item_for_node.values():
            self._refresh(item)
        for edge, item in list(self.item_for_edge.items()):
            src, dst = self.item_for_node[edge.src], self.item_for_node[edge.dst]
            if item.source is not src.port(edge.src_port, OUTPUT) or item.target is not dst.port(edge.dst_port, INPUT):
                self._remove_edge(edge)  # its node's ports were rebuilt (a merge's input count changed)
                self._add_edge(edge)
        self._label_edges(analysis)

    def _label_edges(self, analysis) -> None:
        for edge, item in self.item_for_edge.items():
            spec = analysis.edge_specs.get(edge) if analysis else None
            item.set_shape(shape_text(spec) if spec is not None else "")

    # ------------------------------------------------------------------ renaming in place
    def start_rename(self, node_id: str) -> TitleEditor | None:
        """Open the name editor over a node's title (double-click on the title, or F2)."""
        item = self.item_for_node.get(node_id)
        if item is None:
            return None
        if self.title_editor is not None:
            self.title_editor.commit()
        self.title_editor = TitleEditor(item, self._rename_finished)
        self.addItem(self.title_editor)
        self.title_editor.start()
        return self.title_editor

    def _rename_finished(self, editor: TitleEditor, text: str | None) -> None:
        if self.title_editor is editor:
            self.title_editor = None
        # hidden now, removed after the line edit's signal has returned (deleting it inside its own
        # handler crashes)
        editor.hide()
        QTimer.singleShot(0, lambda: editor.scene() is self and self.removeItem(editor))
        item = self.item_for_node.get(editor.node_id)
        if text is not None and item is not None and text.strip() != item.name:
            self.renameRequested.emit(editor.node_id, text)

    def node_item_moved(self, item: NodeItem) -> None:
        self._card_tops = None
        for edge_item in self.edges_at.get(item.node_id, ()):
            edge_item.update_path()
            self._track(edge_item)
        if self.level_back:
            card = item.sceneBoundingRect()
            before = self._card_rects.get(item.node_id)
            moved = card.united(before) if before is not None else card
            self._card_rects[item.node_id] = card
            if self._moved is None:
                QTimer.singleShot(0, self._refresh_level_back)
            self._moved = moved if self._moved is None else self._moved.united(moved)

    def _track(self, edge_item: EdgeItem) -> None:
        if edge_item.runs_level_back:
            self.level_back.add(edge_item)
        else:
            self.level_back.discard(edge_item)

    def _refresh_level_back(self) -> None:
        moved, self._moved = self._moved, None
        if moved is None:
            return
        for edge_item in list(self.level_back):
            if edge_item.scene() is self and edge_item.level_strip().intersects(moved):
                edge_item.update_path()
                self._track(edge_item)

    # ------------------------------------------------------------------ gestures
    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def mousePressEvent(self, event):  # noqa: N802 - Qt override
        port = self.port_at(event.scenePos()) if event.button() == Qt.MouseButton.LeftButton else None
        if port is not None:
            self._wire_from = port
            self._wire = QGraphicsPathItem()
            self._wire.setPen(QPen(port_color(port.kind, self.theme), 2.0, Qt.PenStyle.DashLine))
            self._wire.setZValue(3)
            self.addItem(self._wire)
            self._show_guides(port)
            self._update_wire(event.scenePos())
            event.accept()
            return
        self._drag_start = {nid: self.graph.node(nid).position for nid, item in self.item_for_node.items()}
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):  # noqa: N802 - Qt override
        if self._wire is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        lone = self.lone_dragged_card()
        if lone is not None:
            self.insert_target.show(lone.sceneBoundingRect().center(), moving=lone.node_id)
        elif self.insert_target.shown:
            self.insert_target.clear()

    def lone_dragged_card(self) -> NodeItem | None:
        """The card being dragged when it is the only one and has no wires: it goes into the wire it is
        released on."""
        grabber = self.mouseGrabberItem()
        if not isinstance(grabber, NodeItem) or not self._drag_start:
            return None
        if any(isinstance(item, NodeItem) and item is not grabber for item in self.selectedItems()):
            return None
        node_id = grabber.node_id
        if node_id not in self.graph or self.graph.incoming(node_id) or self.graph.outgoing(node_id):
            return None
        return grabber

    def mouseReleaseEvent(self, event):  # noqa: N802 - Qt override
        if self._wire is not None:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        self.insert_target.clear()
        super().mouseReleaseEvent(event)
        self._report_moves()

    def _update_wire(self, pos: QPointF) -> None:
        anchor = self._wire_from.scene_anchor()
        if self._wire_from.direction == OUTPUT:
            self._wire.setPath(wire_path(anchor, pos))
        else:
            self._wire.setPath(wire_path(pos, anchor))
        over = self.port_at(pos)
        if over is not None and over is not self._wire_from and over.guide is not None:
            left = self.hint_goes_left(pos, over.guide_text)
            self.wire_hint.show_text(over.guide_text, over.guide == ACCEPT, pos, left)
        else:
            self.wire_hint.hide()

    def hint_goes_left(self, pos: QPointF, text: str) -> bool:
        """Whether the note for ``text`` at ``pos`` would run off the right edge of the view showing it
        (then it goes to the left of the cursor, when there is more room there)."""
        view = next((v for v in self.views() if v.isVisible()), None)
        if view is None:
            return False
        x, width = view.mapFromScene(pos).x(), view.viewport().width()
        return x + 14 + self.wire_hint.size(text)[0] > width and x > width / 2

    def guided_ports(self):
        """Every port item of the scene (the ones a dragged wire judges)."""
        for item in self.item_for_node.values():
            yield from item.inputs.values()
            yield from item.outputs.values()

    def _show_guides(self, start: PortItem) -> None:
        """Highlight the ports the wire from ``start`` can go to and dim the others, each with its reason."""
        verdicts = port_verdicts(self.graph, start.node_id, start.name, start.direction)
        same_side = same_side_reason(start.direction)
        self.addItem(self.wire_hint)
        for port in self.guided_ports():
            if port is start:
                continue
            label = f"{port.node_item.name}.{port.name}"
            verdict = verdicts.get((port.node_id, port.name)) if port.direction != start.direction else None
            if verdict is None:
                port.set_guide(REFUSE, f"{label}: {same_side}")
            else:
                port.set_guide(ACCEPT if verdict.accepts else REFUSE,
                               verdict_text(self.graph, port.node_id, port.name, verdict))

    def _clear_guides(self) -> None:
        for port in self.guided_ports():
            if port.guide is not None:
                port.set_guide(None)
        self.wire_hint.hide()
        if self.wire_hint.scene() is self:
            self.removeItem(self.wire_hint)

    def _finish_wire(self, pos: QPointF) -> None:
        start = self._wire_from
        self.removeItem(self._wire)
        self._wire, self._wire_from = None, None
        self._clear_guides()
        end = self.port_at(pos)
        if end is None:
            self.wireDroppedOnEmpty.emit(start.node_id, start.name, start.direction, pos)
            return
        if end.direction == start.direction:
            return  # output to output: nothing to connect
        source, target = (start, end) if start.direction == OUTPUT else (end, start)
        self.connectRequested.emit(source.node_id, source.name, target.node_id, target.name)

    def _report_moves(self) -> None:
        moves = {}
        for node_id, item in self.item_for_node.items():
            old = self._drag_start.get(node_id)
            new = (round(item.x(), 1), round(item.y(), 1))  # already on the grid when snapping
            if old is not None and old != new:
                moves[node_id] = (old, new)
        self._drag_start = {}
        if moves:
            self.nodesMoved.emit(moves)

    # ------------------------------------------------------------------ look
    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackgroundBrush(theme.color("canvas"))
        for item in self.item_for_node.values():
            item.set_theme(theme)
        self.wire_hint.theme = theme
        if self._wire is not None:
            self._wire.setPen(QPen(port_color(self._wire_from.kind, theme), 2.0, Qt.PenStyle.DashLine))
        for item in self.item_for_edge.values():
            item.theme = theme
            item.label.setBrush(theme.color("muted"))
            item.set_style()
        self.update()

    def drawBackground(self, painter: QPainter, rect):  # noqa: N802 - Qt override
        super().drawBackground(painter, rect)
        scale = painter.worldTransform().m11() or 1.0
        step = GRID
        while step * scale < 12:  # zoomed out: a coarser grid, never denser than 12 px on screen
            step *= 4
        painter.setPen(QPen(self.theme.color("grid"), 0))  # cosmetic: 1 px at any zoom
        left = rect.left() - rect.left() % step
        top = rect.top() - rect.top() % step
        lines = []
        x = left
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.drawLines(lines)
