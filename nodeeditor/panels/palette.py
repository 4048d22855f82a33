"""The palette: node types by category, a search box, drag a type onto the canvas or double-click it."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QRectF, Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLineEdit, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from layerloom import Catalog
from layerloom.model.blocks import CATEGORY as BLOCK_CATEGORY
from layerloom.model.blocks import PREFIX as BLOCK_PREFIX

from layerloom.nodeeditor.theme.style import category_color
from layerloom.nodeeditor.canvas.view import NODE_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole


class _Tree(QTreeWidget):
    def mimeData(self, items):  # noqa: N802 - Qt override: what a drag carries
        type_ids = [item.data(0, TYPE_ROLE) for item in items if item.data(0, TYPE_ROLE)]
        if not type_ids:
            return None
        data = QMimeData()
        data.setData(NODE_MIME, type_ids[0].encode("utf-8"))
        data.setText(type_ids[0])
        return data


def swatch(color, size: int = 12, scale: float = 2.0) -> QIcon:
    """A small rounded square in a category's colour, drawn at ``scale`` for high-DPI screens."""
    pixmap = QPixmap(round(size * scale), round(size * scale))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(2 * scale, 2 * scale, (size - 4) * scale, (size - 4) * scale), 2 * scale, 2 * scale)
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return QIcon(pixmap)


class Palette(QWidget):
    addRequested = Signal(str)   # a node type, by double-click or Enter
    editBlockRequested = Signal(str)     # a block's name (context menu: Edit Inside)
    deleteBlockRequested = Signal(str)   # a block's name (context menu: Delete Block)

    def __init__(self, catalog: Catalog, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.search = QLineEdit(placeholderText="Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.rebuild()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first_visible)
        self.tree.itemDoubleClicked.connect(self._double_clicked)

    def set_catalog(self, catalog: Catalog) -> None:
        """Show another model's node types (its own blocks differ from the last one's)."""
        self.catalog = catalog
        self.rebuild()

    def rebuild(self) -> None:
        """List the catalog again (a block was added, changed or taken away), keeping the search."""
        collapsed = {self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())
                     if not self.tree.topLevelItem(i).isExpanded()}
        self.tree.clear()
        categories = self.catalog.categories()
        if BLOCK_CATEGORY in categories:  # the model's own blocks come first
            categories = {BLOCK_CATEGORY: categories.pop(BLOCK_CATEGORY), **categories}
        for category, specs in categories.items():
            group = QTreeWidgetItem([category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setForeground(0, category_color(category))
            icon = swatch(category_color(category))
            for spec in specs:
                item = QTreeWidgetItem([spec.type_id])
                item.setIcon(0, icon)
                item.setData(0, TYPE_ROLE, spec.type_id)
                tip = spec.doc
                if spec.type_id.startswith(BLOCK_PREFIX):
                    tip += "\nDrag onto the canvas to place an instance; right-click to edit its inside."
                item.setToolTip(0, tip)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group.addChild(item)
            self.tree.addTopLevelItem(group)
            group.setExpanded(category not in collapsed)
        self.filter(self.search.text())

    def _context_menu(self, point) -> None:
        item = self.tree.itemAt(point)
        type_id = item.data(0, TYPE_ROLE) if item is not None else None
        if not type_id:
            return
        menu = QMenu(self)
        menu.addAction("Add to Canvas", lambda: self.addRequested.emit(type_id))
        menu.addAction("Documentation", lambda: self.show_help(type_id))
        if type_id.startswith(BLOCK_PREFIX):
            name = type_id[len(BLOCK_PREFIX):]
            menu.addSeparator()
            menu.addAction("Edit Inside", lambda: self.editBlockRequested.emit(name))
            menu.addAction("Delete Block", lambda: self.deleteBlockRequested.emit(name))
        menu.exec(self.tree.viewport().mapToGlobal(point))

    def show_help(self, type_id: str):
        """A node type's documentation (its ports and every parameter), from the palette."""
        from layerloom.nodeeditor.panels.help import NodeHelpDialog

        spec = self.catalog.get(type_id)
        if spec is None:
            return None
        dialog = self.findChild(NodeHelpDialog)
        if dialog is None:
            dialog = NodeHelpDialog(spec, self)
        else:
            dialog.set_spec(spec)
        dialog.show()
        dialog.raise_()
        return dialog

    def filter(self, text: str) -> None:
        """Show the types whose name, alias, description or category contains ``text``."""
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                item = group.child(j)
                spec = self.catalog.get(item.data(0, TYPE_ROLE))
                words = " ".join([spec.type_id, spec.doc, spec.category, *spec.aliases]).lower()
                hidden = bool(needle) and needle not in words
                item.setHidden(hidden)
                visible += not hidden
            group.setHidden(visible == 0)

    def visible_types(self) -> list[str]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            out += [group.child(j).data(0, TYPE_ROLE) for j in range(group.childCount())
                    if not group.isHidden() and not group.child(j).isHidden()]
        return out

    def item_for(self, type_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(0, TYPE_ROLE) == type_id:
                    return group.child(j)
        return None

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.addRequested.emit(type_id)

    def _add_first_visible(self) -> None:
        visible = self.visible_types()
        if visible:
            self.addRequested.emit(visible[0])
