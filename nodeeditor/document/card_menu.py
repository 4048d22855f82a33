"""The cards' right-click menu: Freeze and Unfreeze for the selected nodes (one undo step), then the window's
own actions on a selection (Rename, Duplicate, Copy, Delete, Group into Block...), as a node editor's card
menu has them.

``CardMenu`` watches a canvas view. A right-click on a card that is not selected selects it alone (a
right-click on a selected card keeps the selection), then the menu opens; the keyboard's Menu key opens
it at the first selected card. Which nodes an entry changes is
the runtime's rule (``layerloom.model.trainable.to_switch``: nodes with weights whose switch is the other
way); an entry that would change nothing is greyed. The menu follows whichever level is on the canvas
(the model, or a block's inside): ``current()`` gives its ``Document``.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QPoint
from PySide6.QtGui import QAction, QContextMenuEvent
from PySide6.QtWidgets import QGraphicsView, QMenu

from layerloom.model.trainable import to_switch

from layerloom.nodeeditor.canvas.items import NodeItem
from layerloom.nodeeditor.document.commands import SetTrainableCommand


class CardMenu(QObject):
    """The context menu of the cards of ``view``; ``current()`` is the document on the canvas (or None)."""

    def __init__(self, view: QGraphicsView, current: Callable[[], object],
                 actions: Callable[[], list[QAction]] = lambda: []):
        super().__init__(view)
        self.view, self._current = view, current
        self._actions = actions   # the window's actions on the selection, listed under the freeze entries
        self.menu: QMenu | None = None   # the menu last opened (tests reach it here)
        view.viewport().installEventFilter(self)
        view.installEventFilter(self)   # the keyboard's context-menu key reaches the view, not its viewport

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() != QEvent.Type.ContextMenu:
            return False
        if watched is self.view.viewport():
            return self.open_at(event.pos(), event.globalPos())
        if watched is self.view and event.reason() == QContextMenuEvent.Reason.Keyboard:
            return self.open_for_selection()   # the Menu key: the menu at the selected card
        return False

    def open_for_selection(self) -> bool:
        document = self._current()
        cards = [item for item in document.scene.selectedItems() if isinstance(item, NodeItem)] if document else []
        if not cards:
            return False
        pos = self.view.mapFromScene(cards[0].sceneBoundingRect().center())
        return self.open_at(pos, self.view.viewport().mapToGlobal(pos))

    def card_at(self, pos: QPoint) -> NodeItem | None:
        item = self.view.itemAt(pos)
        while item is not None and not isinstance(item, NodeItem):
            item = item.parentItem()
        return item

    def open_at(self, pos: QPoint, global_pos: QPoint) -> bool:
        """Open the menu for the card under ``pos`` (viewport coordinates); False when there is none."""
        document, card = self._current(), self.card_at(pos)
        if document is None or card is None or card.scene() is not document.scene:
            return False
        if not card.isSelected():   # right-click on an unselected card acts on that card alone
            document.scene.clearSelection()
            card.setSelected(True)
        selection = [item.node_id for item in document.scene.selectedItems() if isinstance(item, NodeItem)]
        menu = QMenu(self.view)
        for text, trainable, tip in (("Freeze", False, "Keep the selected layers' weights as they are while training"),
                                     ("Unfreeze", True, "Train the selected layers' weights again")):
            changed = to_switch(document.bridge.current(), selection, trainable)
            action = menu.addAction(text, lambda ids=changed, on=trainable: self.switch(document, ids, on))
            action.setEnabled(bool(changed))
            action.setToolTip(tip if changed else "No selected node with weights to change")
        extra = [action for action in self._actions() if action.isVisible()]
        if extra:
            menu.addSeparator()
            menu.addActions(extra)
        menu.setToolTipsVisible(True)
        menu.popup(global_pos)
        self.menu = menu
        return True

    @staticmethod
    def switch(document, node_ids: list[str], trainable: bool) -> None:
        """Freeze or unfreeze ``node_ids`` as one undo step ("Freeze 3 nodes")."""
        if node_ids:
            document.undo_stack.push(SetTrainableCommand(document.graph, node_ids, trainable))
