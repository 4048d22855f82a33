"""Which wire a node dropped here would go into, and the glow that shows it before the drop (Blender's
link highlight): a node type dragged from the palette, or a lone unconnected card dragged on the canvas.

Only a wire the user can see counts: one that runs under a card (the drop point is on another card) is
not offered. The rule whether the node fits the wire is the runtime's (``layerloom.edits.wiring``); the glow
takes the accent colour when the drop will insert the node, and the note beside the cursor says why not
when it will not.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from layerloom.catalog.spec import NodeSpec
from layerloom.edits.wiring import node_insert_refusal, type_insert_refusal
from layerloom.nodeeditor.canvas.items import EdgeItem, NodeItem


class InsertTarget:
    """The wire under a drop point and the glow over it; owned by the scene."""

    def __init__(self, scene):
        self.scene = scene
        self.glow: QGraphicsPathItem | None = None
        self.edge_item: EdgeItem | None = None

    def wire_under(self, pos: QPointF, moving: str | None = None) -> EdgeItem | None:
        """The visible wire at ``pos``: not one of ``moving``'s own, and not hidden under a card there."""
        wire = None
        for item in self.scene.items(pos):
            if isinstance(item, NodeItem) and item.node_id != moving:
                return None        # a card is on top: the wires under it cannot be seen
            if isinstance(item, EdgeItem) and wire is None and moving not in (item.edge.src, item.edge.dst):
                wire = item
        return wire

    def refusal(self, edge_item: EdgeItem, moving: str | None = None, spec: NodeSpec | None = None) -> str | None:
        graph = self.scene.graph
        if moving is not None:
            return node_insert_refusal(graph, moving, edge_item.edge)
        return type_insert_refusal(graph, spec, edge_item.edge) if spec is not None else "unknown node type"

    def show(self, pos: QPointF, moving: str | None = None, spec: NodeSpec | None = None) -> EdgeItem | None:
        """Glow the wire a drop at ``pos`` would go into; the wire it would, or None."""
        wire = self.wire_under(pos, moving)
        reason = self.refusal(wire, moving, spec) if wire is not None else None
        if wire is None:
            self.clear()
            return None
        if self.glow is None:
            self.glow = QGraphicsPathItem()
            self.glow.setZValue(0.5)      # above the wires, below the cards
            self.glow.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.scene.addItem(self.glow)
        self.edge_item = wire
        theme = self.scene.theme
        color = QColor(theme.color("error") if reason else theme.color("selection"))
        color.setAlpha(150)
        self.glow.setPen(QPen(color, 7.0, Qt.PenStyle.DashLine if reason else Qt.PenStyle.SolidLine,
                              Qt.PenCapStyle.RoundCap))
        self.glow.setPath(wire.path())
        self.glow.setToolTip(reason or "")
        hint, text = self.scene.wire_hint, reason or "drop to insert into this wire"
        if hint.scene() is not self.scene:
            self.scene.addItem(hint)
        hint.show_text(text, reason is None, pos, self.scene.hint_goes_left(pos, text))
        return None if reason else wire

    def clear(self) -> None:
        if self.glow is not None:
            if self.glow.scene() is self.scene:
                self.scene.removeItem(self.glow)
            self.glow = None
        self.edge_item = None
        hint = self.scene.wire_hint
        if hint.scene() is self.scene:
            hint.hide()
            self.scene.removeItem(hint)

    @property
    def shown(self) -> bool:
        return self.glow is not None
