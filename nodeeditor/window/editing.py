"""The window's edit actions on the level shown on the canvas: undo and redo, the clipboard (cut, copy,
paste, duplicate), delete, select all, rename, quick add (from the menu, the canvas, or a wire released
on empty canvas), palette drops, auto layout (tidied: no card on another) and snapping.

``EditingMixin`` is part of ``EditorWindow``: it acts on ``self.editing`` (the model's document, or a
block's inside) and ``self.view``. Which port a dropped wire joins is ``layerloom.edits.wiring``'s
rule; this turns its plan into undo commands.
"""

from __future__ import annotations

from layerloom.edits import Connect
from layerloom.edits.wiring import plan_wire_drop, types_for_wire
from layerloom.edits.spacing import tidied
from layerloom.model.layout import layered_layout

from layerloom.nodeeditor.canvas.items import NodeItem
from layerloom.nodeeditor.document.clipboard import clipboard_text, copy_to_clipboard, paste, selection_text
from layerloom.nodeeditor.document.commands import MoveNodesCommand


class EditingMixin:
    """Edit and canvas actions of an ``EditorWindow``."""

    # ------------------------------------------------------------------ undo, delete, select
    def undo(self) -> None:
        self.document.undo_stack.undo()

    def redo(self) -> None:
        self.document.undo_stack.redo()

    def delete_selection(self) -> None:
        self.editing.delete_selection()

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.editing.scene.selectedItems() if isinstance(i, NodeItem)]

    def select_all(self) -> None:
        for item in self.editing.scene.item_for_node.values():
            item.setSelected(True)

    def select_node(self, node_id: str | None) -> None:
        """Select a node alone and centre the canvas on it (a clicked problem)."""
        node_item = self.editing.scene.item_for_node.get(node_id) if node_id else None
        if node_item is None:
            return
        self.editing.scene.clearSelection()
        node_item.setSelected(True)
        self.view.centerOn(node_item)

    def select_added(self, node_id: str | None) -> None:
        """A node just added from the palette or the quick-add popup is the one selected: the inspector
        shows its parameters at once (as in Blender and ComfyUI)."""
        node_item = self.editing.scene.item_for_node.get(node_id) if node_id else None
        if node_item is not None:
            self.editing.scene.clearSelection()
            node_item.setSelected(True)

    def rename_selected(self) -> None:
        """F2: edit the selected node's name in place on the canvas."""
        ids = self.selected_node_ids()
        if len(ids) != 1:
            self.statusBar().showMessage("Select one node to rename it", 4000)
            return
        self.view.ensureVisible(self.editing.scene.item_for_node[ids[0]])
        self.view.setFocus()
        self.editing.scene.start_rename(ids[0])

    # ------------------------------------------------------------------ clipboard
    def copy(self) -> bool:
        return copy_to_clipboard(self.editing.graph, self.selected_node_ids())

    def cut(self) -> None:
        if self.copy():
            self.editing.delete_selection()

    def paste(self, text: str | None = None) -> list[str]:
        text = clipboard_text() if text is None else text
        left_out: list[str] = []
        new = paste(self.editing, text, left_out=left_out) if text else []
        if new:
            self.editing.scene.clearSelection()
            for node_id in new:
                self.editing.scene.item_for_node[node_id].setSelected(True)
        if left_out:   # said, never dropped silently: which node, and why
            more = f" (and {len(left_out) - 1} more)" if len(left_out) > 1 else ""
            self.statusBar().showMessage(f"Pasted {len(new)} node(s); left out {left_out[0]}{more}", 15000)
        elif not new:
            self.statusBar().showMessage("Nothing to paste: the clipboard holds no LayerLoom nodes", 4000)
        return new

    def duplicate(self) -> list[str]:
        ids = self.selected_node_ids()
        return self.paste(selection_text(self.editing.graph, ids)) if ids else []

    # ------------------------------------------------------------------ adding nodes
    def _centre(self):
        return self.view.mapToScene(self.view.viewport().rect().center())

    def add_at_centre(self, type_id: str) -> None:
        self.select_added(self.editing.add_node(type_id, self._centre()))

    def quick_add_at_centre(self) -> None:
        """Shift+A: the quick-add popup over the middle of the canvas."""
        self.open_quick_add(self._centre())

    def open_quick_add(self, scene_pos, wire=None, allowed=None) -> None:
        self._quick_at, self._quick_wire = scene_pos, wire
        self.quick_add.open_at(self.view.mapToGlobal(self.view.mapFromScene(scene_pos)), allowed)

    def _wire_dropped(self, node_id: str, port: str, direction: str, scene_pos) -> None:
        """A wire released on empty canvas: offer the node types it can connect to, and wire the new
        node to it."""
        allowed = types_for_wire(self.editing.graph, self.palette_widget.catalog, node_id, port, direction)
        self.open_quick_add(scene_pos, (node_id, port, direction), allowed)

    def _quick_add_chosen(self, type_id: str) -> None:
        document, wire = self.editing, self._quick_wire
        self._quick_wire = None
        document.undo_stack.beginMacro(f"Add {type_id}")
        node_id = None
        try:
            node_id = document.add_node(type_id, self._quick_at)
            if node_id is None or wire is None:
                return
            for edit in plan_wire_drop(document.graph, node_id, *wire).edits:
                if isinstance(edit, Connect):
                    e = edit.edge
                    document.connect_ports(e.src, e.src_port, e.dst, e.dst_port)
        finally:
            document.undo_stack.endMacro()
            self.select_added(node_id)

    def drop_node_type(self, type_id: str, scene_pos) -> str | None:
        """A palette drop: add the node there; dropped onto a wire, it goes into the wire (one step)."""
        document = self.editing
        wire = document.wire_at(scene_pos)
        document.undo_stack.beginMacro(f"Add {type_id}")
        try:
            node_id = document.add_node(type_id, scene_pos)
            if node_id is not None and wire is not None:
                document.insert_on_wire(node_id, wire)
        finally:
            document.undo_stack.endMacro()
        self.select_added(node_id)
        return node_id

    # ------------------------------------------------------------------ layout
    def auto_layout(self) -> None:
        graph = self.editing.graph
        positions = tidied(graph, layered_layout(graph))
        moves = {nid: (graph.node(nid).position, pos) for nid, pos in positions.items()
                 if graph.node(nid).position != pos}
        if moves:
            self.editing.undo_stack.push(MoveNodesCommand(graph, moves, "Auto layout"))
            self.view.zoom_to_fit()

    def snap_setting(self) -> bool:
        """Snap to Grid as the settings remember it."""
        return self.settings.value("snap", False, type=bool)

    def set_snap(self, checked: bool) -> None:
        self.settings.setValue("snap", checked)
        if self.document is not None:
            self.editing.scene.snap = checked
