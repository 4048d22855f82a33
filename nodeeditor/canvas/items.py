"""Graphics items of the canvas: node cards, their ports, and the wires between them.

Items only draw what the model says (``NodeItem.refresh`` takes the node and its analysis); they
hold no fact of their own besides where the user is dragging them right now.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsObject, QGraphicsPathItem, \
    QGraphicsProxyWidget, QGraphicsSimpleTextItem, QLineEdit

from layerloom.model.blocks import PREFIX as BLOCK_PREFIX
from layerloom.core.shapes import format_shape

from layerloom.nodeeditor.theme.style import FOOTER, GRID, HEADER, NODE_WIDTH, PORT_RADIUS, ROW, Theme, category_color, port_color

INPUT, OUTPUT = "in", "out"
# Card text in pixels of the card's own design (a 96 dpi card at 100%): the view's transform already scales
# by zoom x logicalDpi/96, so a size in points would be scaled for the screen a second time.
TITLE_PX, SMALL_PX, WIRE_LABEL_PX = 13, 11, 10
HIT_WIDTH = 8.0   # how far from a wire's centre line a click or a drop still hits it
# A frozen card (fine-tuning: its weights stay as loaded): an ice-blue snowflake and hatching over its header
FROZEN_INK = {"dark": "#8fd3ff", "light": "#1f6fb2"}
FROZEN_MARK = "\u2744"   # snowflake
FROZEN_TIP = ("Frozen: training leaves its weights (and batch-norm statistics) as loaded. "
              "Unfreeze it with the inspector's Trainable box or the card's right-click menu.")


def shape_text(spec) -> str:
    if spec is None:
        return "?"
    return "scalar" if not spec.shape else format_shape(spec.shape)


ACCEPT, REFUSE = "accept", "refuse"   # a port's guide while a wire is dragged: it takes the wire, or not


class PortItem(QGraphicsEllipseItem):
    """A port circle; ``direction`` is ``"in"`` (left edge) or ``"out"`` (right edge).

    While a wire is dragged the scene sets its ``guide`` (``set_guide``): a port that can take the wire
    is ringed and enlarged, one that cannot is dimmed, and its tooltip says why; ``set_guide(None)``
    puts it back as it was."""

    def __init__(self, node_item: "NodeItem", name: str, kind: str, direction: str, index: int):
        r = PORT_RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r, node_item)
        self.node_item, self.name, self.kind, self.direction, self.index = node_item, name, kind, direction, index
        self.guide: str | None = None
        self.guide_text = ""
        self.apply_theme(node_item.theme)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        x = 0.0 if direction == INPUT else NODE_WIDTH
        self.setPos(x, HEADER + ROW * index + ROW / 2)
        self.setZValue(2)

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def scene_anchor(self) -> QPointF:
        return self.mapToScene(QPointF(0, 0))

    def apply_theme(self, theme: Theme) -> None:
        self.setBrush(QBrush(port_color(self.kind, theme)))
        self._restyle()

    def set_guide(self, guide: str | None, text: str = "") -> None:
        """Show whether this port takes the wire being dragged (``ACCEPT``, ``REFUSE``), with ``text``
        as its hover text; None restores the port."""
        self.guide, self.guide_text = guide, text if guide else ""
        self.setToolTip(self.guide_text)
        self.setOpacity(self.node_item.theme.dim if guide == REFUSE else 1.0)
        self.setScale(1.3 if guide == ACCEPT else 1.0)
        self._restyle()
        self.node_item.update()   # the port's name is drawn by its card

    def _restyle(self) -> None:
        theme = self.node_item.theme
        if self.guide == ACCEPT:
            self.setPen(QPen(theme.color("accept"), 2.5))
        else:
            self.setPen(QPen(QColor("#202020"), 1.0))

    def hoverEnterEvent(self, event):  # noqa: N802 - Qt override
        self.setScale(1.35)

    def hoverLeaveEvent(self, event):  # noqa: N802 - Qt override
        self.setScale(1.3 if self.guide == ACCEPT else 1.0)


class NodeItem(QGraphicsObject):
    """A node card: category strip, name, type, ports, output shape and parameter count, and a red
    badge when the node has a problem."""

    def __init__(self, node_id: str, theme: Theme):
        super().__init__()
        self.node_id = node_id
        self.theme = theme
        self.name = ""
        self.type_id = ""
        self.color = QColor("#7d8794")
        self.footer = ""
        self.problem = ""
        self.is_block = False
        self.frozen = False   # the node's "trainable" is off (fine-tuning)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self._height = HEADER + FOOTER
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsScenePositionChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)

    # ------------------------------------------------------------------ model -> item
    def refresh(self, graph, info=None, problems=()) -> None:
        """Redraw from the model: the node, its analysis record and its problems."""
        node = graph.node(self.node_id)
        spec = graph.spec(node)
        self.name = node.name
        self.type_id = spec.card_subtitle(node.params) if spec is not None else node.type_id   # "ONNX Transpose"
        self.is_block = node.type_id.startswith(BLOCK_PREFIX) and spec is not None
        self.frozen = not node.trainable
        repeat = node.params.get("repeat", 1) if self.is_block else 1
        if isinstance(repeat, int) and repeat > 1:
            self.type_id = f"{node.type_id}  × {repeat}"
        self.color = category_color(spec.category if spec else None)
        self._rebuild_ports(graph.input_ports(self.node_id), graph.output_ports(self.node_id))
        parts = []
        if info is not None:
            if info.outputs:
                parts.append(", ".join(shape_text(s) for s in info.outputs.values()))
            if info.param_count:
                parts.append(f"{info.param_count:,} " + ("frozen" if self.frozen else "params"))
        self.footer = fitted_footer(parts)
        errors = [p for p in problems if p.severity == "error"]
        self.problem = "\n".join(p.message for p in errors)
        hint = "\nDouble-click to edit the block's inside (Alt+Down)" if self.is_block else ""
        frozen = f"\n{FROZEN_MARK} {FROZEN_TIP}" if self.frozen else ""
        self.setToolTip(self.problem or f"{node.type_id}: {spec.doc if spec else 'unknown node type'}{hint}{frozen}")
        self.prepareGeometryChange()
        self.update()

    def _rebuild_ports(self, inputs, outputs) -> None:
        self.inputs = self._ports(self.inputs, inputs, INPUT)
        self.outputs = self._ports(self.outputs, outputs, OUTPUT)
        rows = max(len(self.inputs), len(self.outputs), 1)
        self._height = HEADER + ROW * rows + FOOTER

    def _ports(self, current: dict[str, PortItem], wanted, direction: str) -> dict[str, PortItem]:
        """The port items for ``wanted`` ports, rebuilt only when the ports changed (a merge's
        input count, a plugin's ports)."""
        spec = [(p.name, p.kind) for p in wanted]
        if [(n, p.kind) for n, p in current.items()] == spec:
            return current
        for port in current.values():
            port.setParentItem(None)
            if port.scene():
                port.scene().removeItem(port)
        return {name: PortItem(self, name, kind, direction, i) for i, (name, kind) in enumerate(spec)}

    def port(self, name: str, direction: str) -> PortItem | None:
        return (self.inputs if direction == INPUT else self.outputs).get(name)

    # ------------------------------------------------------------------ drawing
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-2, -2, NODE_WIDTH + 8, self._height + 8)

    def scene_bounds(self) -> tuple[float, float, float, float]:
        """``sceneBoundingRect()`` as left, top, right, bottom, from the card's place and height (cheap:
        no calls back from Qt)."""
        x, y = self.x(), self.y()
        return x - 2, y - 2, x + NODE_WIDTH + 6, y + self._height + 6

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = self.theme
        rect = QRectF(0, 0, NODE_WIDTH, self._height)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = theme.color("selection") if self.isSelected() else theme.color("card_border")
        if self.problem:
            border = theme.color("error") if not self.isSelected() else border
        painter.setPen(QPen(border, 2.0 if self.isSelected() or self.problem else 1.0))
        painter.setBrush(theme.color("card"))
        if self.is_block:  # a block instance is a stack of cards: there is a graph inside
            painter.drawRoundedRect(rect.translated(4, 4), 7, 7)
        painter.drawRoundedRect(rect, 7, 7)
        strip = QPainterPath()
        strip.addRoundedRect(QRectF(0, 0, NODE_WIDTH, HEADER), 7, 7)
        strip.addRect(QRectF(0, HEADER / 2, NODE_WIDTH, HEADER / 2))
        tint = QColor(self.color)
        tint.setAlpha(70)  # light theme: the category colour washed over the card, same for every hue
        painter.fillPath(strip.simplified(), self.color.darker(170) if theme.name == "dark" else tint)
        if self.frozen:
            self._paint_frost(painter, strip.simplified())
        painter.fillRect(QRectF(0, 8, 4, HEADER - 8), self.color)
        title = QFont(painter.font())
        title.setBold(True)
        title.setPixelSize(TITLE_PX)
        painter.setFont(title)
        painter.setPen(theme.color("text"))
        painter.drawText(QRectF(12, 4, NODE_WIDTH - 40, 18), Qt.AlignmentFlag.AlignVCenter, self.name)
        small = QFont(painter.font())
        small.setBold(False)
        small.setPixelSize(SMALL_PX)
        painter.setFont(small)
        painter.setPen(theme.color("muted"))
        painter.drawText(QRectF(12, 21, NODE_WIDTH - 24, 16), Qt.AlignmentFlag.AlignVCenter, self.type_id)
        for port in self.inputs.values():
            painter.setPen(self._port_text_color(port))
            painter.drawText(QRectF(10, port.y() - ROW / 2, NODE_WIDTH / 2, ROW), Qt.AlignmentFlag.AlignVCenter,
                             port.name)
        for port in self.outputs.values():
            painter.setPen(self._port_text_color(port))
            painter.drawText(QRectF(NODE_WIDTH / 2 - 10, port.y() - ROW / 2, NODE_WIDTH / 2, ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, port.name)
        painter.setPen(theme.color("muted"))
        painter.drawText(QRectF(10, self._height - FOOTER, NODE_WIDTH - 20, FOOTER - 2),
                         Qt.AlignmentFlag.AlignVCenter, self.footer)
        if self.problem:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.color("error"))
            painter.drawEllipse(QPointF(NODE_WIDTH - 14, 13), 8, 8)
            painter.setPen(QColor("white"))
            painter.drawText(QRectF(NODE_WIDTH - 22, 5, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_frost(self, painter: QPainter, strip: QPainterPath) -> None:
        """A frozen card's header: ice-blue hatching over the category colour and a snowflake at the
        right (left of the problem badge when there is one)."""
        ink = QColor(FROZEN_INK.get(self.theme.name, FROZEN_INK["dark"]))
        hatch = QColor(ink)
        hatch.setAlpha(90 if self.theme.name == "dark" else 110)
        painter.fillPath(strip, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
        mark = QFont(painter.font())
        mark.setPixelSize(TITLE_PX + 5)
        painter.save()
        painter.setFont(mark)
        painter.setPen(ink)
        right = NODE_WIDTH - (30 if self.problem else 8)
        painter.drawText(QRectF(right - 22, 3, 22, 22), Qt.AlignmentFlag.AlignCenter, FROZEN_MARK)
        painter.restore()

    def _port_text_color(self, port: PortItem) -> QColor:
        """A port's name follows its dot while a wire is dragged: the accent colour when it takes the
        wire, faded when it does not."""
        if port.guide == ACCEPT:
            return self.theme.color("accept")
        color = self.theme.color("text")
        if port.guide == REFUSE:
            color.setAlphaF(self.theme.dim + 0.2)
        return color

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        for port in (*self.inputs.values(), *self.outputs.values()):
            port.apply_theme(theme)
        self.update()

    TITLE_RECT = QRectF(8, 3, NODE_WIDTH - 40, 20)

    def mouseDoubleClickEvent(self, event):  # noqa: N802 - Qt override: double-click the title to rename
        if event.pos().y() < HEADER and self.scene() is not None:
            self.scene().start_rename(self.node_id)
            event.accept()
            return
        if self.is_block and self.scene() is not None:  # double-click a block's body: open it
            self.scene().openBlockRequested.emit(self.node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def itemChange(self, change, value):  # noqa: N802 - Qt override
        scene = self.scene()
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and scene is not None \
                and scene.snap and not scene.syncing:
            return QPointF(round(value.x() / GRID) * GRID, round(value.y() / GRID) * GRID)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and scene is not None:
            scene.node_item_moved(self)
        return super().itemChange(change, value)


class TitleEditor(QGraphicsProxyWidget):
    """The in-place name editor laid over a node's title. Enter or clicking elsewhere commits,
    Escape cancels; ``finished`` gets the text, or None when cancelled. The scene removes it."""

    def __init__(self, node_item: NodeItem, finished):
        super().__init__()
        self.node_id = node_item.node_id
        self._finished = finished
        self._done = False
        self.edit = _NameEdit(node_item.name, self.cancel)
        font = QFont(self.edit.font())
        font.setBold(True)
        font.setPixelSize(TITLE_PX)
        self.edit.setFont(font)
        theme = node_item.theme
        self.edit.setStyleSheet(f"QLineEdit {{ background: {theme.card}; color: {theme.text}; "
                                f"border: 1px solid {theme.selection}; border-radius: 3px; padding: 0 3px; }}")
        self.edit.setMaxLength(64)
        self.setWidget(self.edit)
        rect = NodeItem.TITLE_RECT
        self.setPos(node_item.pos() + rect.topLeft())
        self.resize(rect.width(), rect.height())
        self.setZValue(10)
        self.edit.selectAll()
        self.edit.editingFinished.connect(self.commit)  # Enter, or the focus went elsewhere

    def start(self) -> None:
        self.setFocus()
        self.edit.setFocus()

    def commit(self) -> None:
        self._finish(self.edit.text())

    def cancel(self) -> None:
        self._finish(None)

    def _finish(self, text: str | None) -> None:
        if not self._done:
            self._done = True
            self._finished(self, text)


class _NameEdit(QLineEdit):
    def __init__(self, text: str, on_escape):
        super().__init__(text)
        self._on_escape = on_escape

    def keyPressEvent(self, event):  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self._on_escape()
            event.accept()
            return
        super().keyPressEvent(event)


def wire_path(start: QPointF, end: QPointF, over: float | None = None) -> QPainterPath:
    """A horizontal S-curve from an output (left) to an input (right). With ``over`` (a scene y), the
    wire instead runs level at that height between two bends: how a skip connection passes over the
    cards of its row, and how a wire back to the start of the next row of a wrapped layout runs through
    the gap between the rows instead of across their cards."""
    path = QPainterPath(start)
    if over is None:
        bend = max(40.0, abs(end.x() - start.x()) * 0.5)
        path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
        return path
    if end.x() < start.x() + 140:   # back to the left: out to the right, along the gap, in from the left
        path.cubicTo(start + QPointF(60, 0), QPointF(start.x() + 60, over), QPointF(start.x(), over))
        path.lineTo(end.x(), over)
        path.cubicTo(QPointF(end.x() - 60, over), end - QPointF(60, 0), end)
        return path
    path.cubicTo(start + QPointF(40, 0), QPointF(start.x() + 20, over), QPointF(start.x() + 70, over))
    path.lineTo(end.x() - 70, over)
    path.cubicTo(QPointF(end.x() - 20, over), end - QPointF(40, 0), end)
    return path


def fitted_footer(parts: list[str], width: float = NODE_WIDTH - 20) -> str:
    """A card's footer (its output shape, its parameter count) in the width it has: as written when it fits;
    else without the spaces in the shape ("[N,64,111,111]  1,792 params"); else cut with an ellipsis (the
    inspector and the wire's tooltip still say all of it)."""
    font = QFont()
    font.setPixelSize(SMALL_PX)
    metrics = QFontMetricsF(font)
    text = "   ".join(parts)
    if metrics.horizontalAdvance(text) <= width:
        return text
    text = "  ".join(part.replace(", ", ",") for part in parts)
    if metrics.horizontalAdvance(text) <= width:
        return text
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


SKIP_SPAN = 1.6 * NODE_WIDTH   # a wire this much longer than a card, within one row, goes over the row


def skip_height(source: "PortItem", target: "PortItem") -> float | None:
    """The height a wire runs level at, or None for a wire drawn as a plain curve: above both cards for
    a long wire within about one row; in the gap above the target's card for a wire going back left to
    a lower row (a wrapped layout's next row)."""
    start, end = source.scene_anchor(), target.scene_anchor()
    top, bottom = source.node_item.sceneBoundingRect().bottom(), target.node_item.sceneBoundingRect().top()
    if end.x() < start.x() - NODE_WIDTH / 2 and bottom > top:
        return _free_level(source.node_item, end.x() - 60, start.x() + 60, top, bottom)
    if end.x() - start.x() < SKIP_SPAN + NODE_WIDTH or abs(end.y() - start.y()) > ROW * 3:
        return None
    return min(source.node_item.y(), target.node_item.y()) - 16


def _free_level(item: QGraphicsItem, left: float, right: float, top: float, bottom: float) -> float:
    """A scene y between ``top`` and ``bottom`` (the middle when free) where a level line from ``left``
    to ``right`` crosses no node card: the gap between two rows of a wrapped layout."""
    scene = item.scene()
    middle = (top + bottom) / 2
    if scene is None:
        return middle
    cards = scene.cards_in(left, top, right, bottom)   # (top, bottom) of each card in the strip
    levels = sorted((top + k * 4.0 for k in range(1, int((bottom - top) / 4.0))), key=lambda y: abs(y - middle))
    return next((y for y in levels if not any(t - 6 <= y <= b + 6 for t, b in cards)), middle)


class EdgeItem(QGraphicsPathItem):
    """A wire from an output port to an input port, labelled with the shape it carries."""

    def __init__(self, edge, source: PortItem, target: PortItem, theme: Theme):
        super().__init__()
        self.edge, self.source, self.target, self.theme = edge, source, target, theme
        self._shape = QPainterPath()
        self.runs_level_back = False   # through the gap between two rows (its level depends on other cards)
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.label = QGraphicsSimpleTextItem(self)
        self.label.setBrush(theme.color("muted"))
        font = QFont()
        font.setPixelSize(WIRE_LABEL_PX)
        self.label.setFont(font)
        self.set_style()
        self.update_path()

    def set_style(self) -> None:
        """The wire takes its source port's colour (the kind it carries, as the port dots show it)."""
        pen = QPen(port_color(self.source.kind, self.theme), 2.0)
        if self.isSelected():
            pen = QPen(self.theme.color("selection"), 3.0)
        self.setPen(pen)

    def set_shape(self, text: str) -> None:
        self.label.setText(text)
        edge = self.edge
        self.setToolTip(f"{edge.src}.{edge.src_port} → {edge.dst}.{edge.dst_port}" + (f": {text}" if text else ""))
        self._place_label(self.path())   # the curve is as it was: only the label's size changed

    def update_path(self) -> None:
        start, end = self.source.scene_anchor(), self.target.scene_anchor()
        over = skip_height(self.source, self.target)
        self.runs_level_back = over is not None and end.x() < start.x()
        path = wire_path(start, end, over)
        stroker = QPainterPathStroker()
        stroker.setWidth(HIT_WIDTH)
        self._shape = stroker.createStroke(path)
        self.setPath(path)
        self._place_label(path)

    def _place_label(self, path: QPainterPath) -> None:
        """The shape label above the middle of the curve, hidden where it would sit on a card."""
        middle = path.pointAtPercent(0.5)
        rect = self.label.boundingRect()
        self.label.setPos(middle.x() - rect.width() / 2, middle.y() - rect.height() - 2)
        # between two close cards the label would sit on them: then the tooltip and the footer of the
        # source card (its output shape) say it instead
        label = self.label.sceneBoundingRect()
        self.label.setVisible(not label.intersects(self.source.node_item.sceneBoundingRect())
                              and not label.intersects(self.target.node_item.sceneBoundingRect()))

    def level_strip(self) -> QRectF:
        """Where the cards are that decide the level of a wire back to a lower row: between the bottom of
        its source card and the top of its target card, across its span."""
        start, end = self.source.scene_anchor(), self.target.scene_anchor()
        top = self.source.node_item.sceneBoundingRect().bottom()
        bottom = self.target.node_item.sceneBoundingRect().top()
        return QRectF(end.x() - 60, top, start.x() - end.x() + 120, max(bottom - top, 0.0))

    def shape(self) -> QPainterPath:  # noqa: N802 - Qt override
        """What clicks and drops hit: a band along the curve. (QGraphicsPathItem's own shape adds the
        path's fill, so the area under a curve would count as the wire.)"""
        return self._shape

    def itemChange(self, change, value):  # noqa: N802 - Qt override
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.set_style()
        return super().itemChange(change, value)


class WireHint(QGraphicsItem):
    """The note beside the cursor while a wire is dragged over a port: whether a drop there connects,
    what it replaces, or why it cannot (tooltips do not show while a mouse button is held). Drawn at
    screen size whatever the zoom."""

    PAD = 6.0

    def __init__(self, theme: Theme):
        super().__init__()
        self.theme = theme
        self.text = ""
        self.accepts = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(20)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._font = QFont()
        self._font.setPointSizeF(9.0)
        self.left = False   # drawn to the left of the cursor (near the view's right edge)
        self.hide()

    def size(self, text: str) -> tuple[float, float]:
        """The note's width and height in screen pixels for ``text``."""
        metrics = QFontMetricsF(self._font)
        return metrics.horizontalAdvance(text) + 2 * self.PAD, metrics.height() + 2 * self.PAD

    def show_text(self, text: str, accepts: bool, at: QPointF, left: bool = False) -> None:
        self.prepareGeometryChange()
        self.text, self.accepts, self.left = text, accepts, left
        self.setPos(at)
        self.show()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        width, height = self.size(self.text)
        return QRectF(-14 - width if self.left else 14, 14, width, height)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        rect = self.boundingRect()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self.theme.color("accept" if self.accepts else "error"), 1.5))
        painter.setBrush(self.theme.color("card"))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(self.theme.color("text"))
        painter.drawText(rect.adjusted(self.PAD, 0, -self.PAD, 0), Qt.AlignmentFlag.AlignVCenter, self.text)
