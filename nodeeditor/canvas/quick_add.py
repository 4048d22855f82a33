"""The quick-add popup (Tab, double-click on empty canvas, or a wire dropped on empty canvas): type to
filter the node types, Enter or a click adds the chosen one where the popup was opened."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

TYPE_ROLE = Qt.ItemDataRole.UserRole


class QuickAdd(QFrame):
    chosen = Signal(str)

    def __init__(self, catalog, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.catalog = catalog
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.search = QLineEdit(placeholderText="Add a node…")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(280, 320)
        self.allowed: list[str] | None = None
        self.search.textChanged.connect(self._fill)
        self.search.returnPressed.connect(self._accept_current)
        self.list.itemActivated.connect(self._accept)
        self.list.itemClicked.connect(self._accept)

    def open_at(self, global_pos: QPoint, allowed: list[str] | None = None) -> None:
        """Show below ``global_pos``; ``allowed`` limits the choice (the types a dropped wire can feed)."""
        self.allowed = allowed
        self.search.clear()
        self._fill("")
        self.move(global_pos)
        self.show()
        self.search.setFocus()

    def _fill(self, text: str) -> None:
        needle = text.strip().lower()
        self.list.clear()
        for spec in self.catalog:
            if self.allowed is not None and spec.type_id not in self.allowed:
                continue
            words = " ".join([spec.type_id, spec.category, spec.doc, *spec.aliases]).lower()
            if needle and needle not in words:
                continue
            item = QListWidgetItem(f"{spec.type_id}  ·  {spec.category}")
            item.setData(TYPE_ROLE, spec.type_id)
            item.setToolTip(spec.doc)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event):  # noqa: N802 - Qt override: arrows move in the list while typing
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, self.list.currentRow() + step)))
            return
        super().keyPressEvent(event)

    def _accept_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._accept(item)

    def _accept(self, item: QListWidgetItem) -> None:
        self.hide()
        self.chosen.emit(item.data(TYPE_ROLE))
