"""Editing a block's inside: the stack of open levels (the model, a block, a block inside it...) and
the breadcrumb bar above the canvas that shows it and goes back up.

Each level is a ``Document`` over the block's inside graph that shares the model's undo stack, so
one Ctrl+Z walks back through edits made at any level. An edit at one level re-analyses the others
(every instance of the block follows its inside). When undo takes away or replaces a block that is
open, the levels from it down close. An inside whose nodes overlap or have no position is laid out when
it opens (``layerloom.edits.spacing.plan_tidy``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from layerloom.edits.spacing import plan_tidy
from layerloom.model.blocks import block_name, owning_block
from layerloom.core.params import check_params

from layerloom.nodeeditor.document.document import Document


class BlockScopes(QObject):
    """The open levels, the model's document first. ``current`` is the one the canvas shows."""

    scopeChanged = Signal(object)   # the Document now on the canvas

    def __init__(self, parent=None):
        super().__init__(parent)
        self.levels: list[Document] = []
        self.breadcrumb = Breadcrumb()
        self.breadcrumb.levelClicked.connect(self.leave_to)

    @property
    def current(self) -> Document | None:
        return self.levels[-1] if self.levels else None

    @property
    def root(self) -> Document | None:
        return self.levels[0] if self.levels else None

    def reset(self, root: Document) -> None:
        """A model document became current: close every open block."""
        self._close_from(0)
        self.levels = [root]
        root.bridge.changed.connect(self._level_changed)
        root.bridge.blockChanged.connect(self._block_changed)
        self._announce()

    def open_instance(self, node_id: str) -> Document | None:
        """Open the inside of the block instance ``node_id`` of the current level, shown with the
        instance's params and the shapes arriving at it."""
        level = self.current
        node = level.graph.node(node_id) if level is not None and node_id in level.graph else None
        name = block_name(node.type_id) if node is not None else None
        if name is None or name not in level.graph.blocks:
            return None
        spec = level.graph.spec(node)
        values = {}
        if spec is not None:
            checked = check_params(spec.params, node.params)
            values = {p.name: p.to_json(checked.values[p.name]) for p in level.graph.blocks[name].param_specs()
                      if p.name in checked.values}
        info = level.bridge.analysis.nodes.get(node_id)
        block = level.graph.blocks[name]
        specs = [info.inputs.get(port) for port in block.inputs] if info is not None else None
        return self._open(name, (values, specs), node.name)

    def open_block(self, name: str) -> Document | None:
        """Open block ``name`` from the model's level (the palette's Edit Inside): shown with its first
        instance's params and shapes when the model has one, else with its defaults."""
        self.leave_to(0)
        first = next((n for n in self.root.graph if n.type_id == f"Block:{name}"), None)
        if first is not None:
            return self.open_instance(first.id)
        if name not in self.root.graph.blocks:
            return None
        return self._open(name, ({}, None), None)

    def _open(self, name: str, preview, instance: str | None) -> Document:
        level = self.current
        block = level.graph.blocks[name]
        document = Document(block.graph, theme=level.scene.theme, parent=self, root=self.root, preview=preview)
        document.opened_from = instance
        document.bridge.changed.connect(self._level_changed)
        document.statusMessage.connect(self.root.statusMessage)
        self.levels.append(document)
        self._announce()
        # An inside whose nodes have no place or overlap (a hand-written block) is laid out on arrival, as
        # one undo step of its own ("Tidy the inside of ...").
        document.carry_out(plan_tidy(block.graph, name))
        return document

    def clear(self) -> None:
        """The model document is going: close every level, announcing nothing."""
        self._close_from(0)

    def leave_to(self, depth: int) -> None:
        """Go back up to level ``depth`` (0: the model)."""
        if 0 <= depth < len(self.levels) - 1:
            self._close_from(depth + 1)
            self._announce()

    def up(self) -> bool:
        if len(self.levels) > 1:
            self.leave_to(len(self.levels) - 2)
            return True
        return False

    def _close_from(self, depth: int) -> None:
        for document in self.levels[depth:]:
            if document.root is not None:
                document.close()
                document.scene.clearSelection()
                document.deleteLater()
        del self.levels[depth:]

    def _level_changed(self) -> None:
        """An edit at one level: the others analyse again (a block's inside changes its instances)."""
        changed = self.sender()
        for document in self.levels:
            if document.bridge is not changed:
                document.bridge.schedule()

    def _block_changed(self, name: str) -> None:
        for depth, document in enumerate(self.levels[1:], start=1):
            if owning_block(document.graph) is None:  # taken away or replaced (an undo): close from here
                self._close_from(depth)
                self._announce()
                return
        self._level_changed()

    def _announce(self) -> None:
        self.breadcrumb.show_levels(self.levels)
        self.scopeChanged.emit(self.current)


class Breadcrumb(QWidget):
    """``model › Residual › Inner``: click a level to go back to it (Alt+Up goes one up). Hidden at the
    model's level."""

    levelClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("breadcrumb")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 3, 8, 3)
        self._layout.setSpacing(2)
        self.buttons: list[QToolButton] = []
        self.note = QLabel()
        self.note.setObjectName("breadcrumbNote")
        self.note.setStyleSheet("color: #8a93a0;")
        self.hide()

    def show_levels(self, levels: list[Document]) -> None:
        while self._layout.count():
            widget = self._layout.takeAt(0).widget()
            if widget is not None and widget is not self.note:
                widget.deleteLater()
        self.buttons = []
        for depth, document in enumerate(levels):
            if depth:
                self._layout.addWidget(QLabel("›"))
            block = owning_block(document.graph) if depth else None
            button = QToolButton()
            button.setText(block.name if block is not None else (document.graph.name or "model"))
            button.setAutoRaise(True)
            last = depth == len(levels) - 1
            button.setToolTip("The level on the canvas" if last else "Go back to this level (Alt+Up: one level up)")
            if last:  # the level shown: bold, like a path bar's current folder
                font = button.font()
                font.setBold(True)
                button.setFont(font)
            button.clicked.connect(lambda checked=False, d=depth: self.levelClicked.emit(d))
            self.buttons.append(button)
            self._layout.addWidget(button)
        current = levels[-1] if levels else None
        if current is not None and current.root is not None:
            block = owning_block(current.graph)
            users = sum(n.type_id == block.type_id for n in current.root.graph) if block else 0
            shown = f"shown with {current.opened_from}'s params and inputs" if current.opened_from \
                else "shown with its default params"
            self.note.setText(f"   editing block {block.name if block else '?'}: changes reach every "
                              f"instance ({users} in the model) · {shown}")
        self._layout.addWidget(self.note)
        self._layout.addStretch(1)
        self.setVisible(len(levels) > 1)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
