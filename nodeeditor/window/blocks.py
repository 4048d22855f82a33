"""The window's block actions: group the selection into a block, ungroup, open a block's inside, delete
an unused block, and import or export block libraries.

``BlocksMixin`` is part of ``EditorWindow``: it reads ``self.document`` (the model), ``self.editing``
(the level on the canvas), ``self.scopes`` and ``self.palette_widget``. The rules (what a block may
hold, which names are free, what may be deleted or imported) are ``layerloom.edits``'s planners; this only
asks, shows, says and hands their plans to the document as undo steps.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from layerloom import LayerLoomError
from layerloom.files.block_library import LIBRARY_SUFFIX as BLOCKS_SUFFIX
from layerloom.files.block_library import load_block_library, save_block_library
from layerloom.edits.blocks import plan_delete_block, plan_import_blocks
from layerloom.edits.names import block_name_refusal, free_block_name
from layerloom.nodeeditor.panels.name_dialog import ask_name


class BlocksMixin:
    """Blocks > Group, Ungroup, Edit Inside, Up One Level, Import and Export, for an ``EditorWindow``."""

    def group_selection(self, name: str | None = None) -> str | None:
        """Ctrl+G: the selected nodes become a block (its name asked for in a dialog that refuses a bad
        or taken name under the field and stays open), with one instance in their place: one undo step.
        The instance's id, or None."""
        ids = self.selected_node_ids()
        document = self.editing
        if not ids:
            self.statusBar().showMessage("Select the nodes to group into a block", 4000)
            return None
        if name is None:
            graph = document.graph
            name = ask_name(self, "Group into block",
                            "Block name (letters, digits and _; it becomes the node type Block:<name>):",
                            free_block_name(graph), lambda typed: block_name_refusal(graph, typed),
                            placeholder="e.g. ResidualBlock")
            if name is None:
                return None
        instance = document.group(ids, name.strip())
        if instance is not None:
            document.scene.clearSelection()
            document.scene.item_for_node[instance].setSelected(True)
            self.statusBar().showMessage(f"Grouped {len(ids)} node(s) into block {name.strip()}; double-click it "
                                         "to edit its inside", 6000)
        return instance

    def ungroup_selection(self) -> list[str]:
        """Ctrl+Shift+G: the selected block instances are replaced by their insides (one undo step each)."""
        document = self.editing
        instances = [i for i in self.selected_node_ids() if document.graph.node(i).type_id.startswith("Block:")]
        if not instances:
            self.statusBar().showMessage("Select a block instance to ungroup it", 4000)
            return []
        added: list[str] = []
        for node_id in instances:
            added += document.ungroup(node_id)
        document.scene.clearSelection()
        for node_id in added:
            document.scene.item_for_node[node_id].setSelected(True)
        return added

    def open_selected_block(self) -> None:
        ids = self.selected_node_ids()
        if len(ids) != 1 or not self.open_instance(ids[0]):
            self.statusBar().showMessage("Select one block instance to edit its inside", 4000)

    def open_instance(self, node_id: str) -> bool:
        """Show the inside of a block instance on the canvas (double-click, Alt+Down, the inspector)."""
        return self.scopes.open_instance(node_id) is not None

    def open_block(self, name: str) -> bool:
        """Show a block's inside from the palette (with its first instance's shapes when there is one)."""
        return self.scopes.open_block(name) is not None

    def delete_block(self, name: str) -> bool:
        """Take an unused block out of the model (one undo step); a used one is refused with its users."""
        plan = plan_delete_block(self.document.graph, name)
        if plan.refused:
            self.statusBar().showMessage(plan.refusals[0].message, 8000)
            return False
        return self.document.carry_out(plan)

    def _blocks_changed(self, name: str) -> None:
        self.palette_widget.rebuild()

    def ask_export_blocks(self) -> bool:
        graph = self.document.graph
        if not graph.blocks:
            self.statusBar().showMessage("This model has no blocks to export (select nodes, then Ctrl+G)", 5000)
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Export blocks", f"{graph.name}-blocks{BLOCKS_SUFFIX}",
                                              f"LayerLoom block libraries (*{BLOCKS_SUFFIX})")
        return bool(path) and self.export_blocks(path)

    def export_blocks(self, path: str | Path) -> bool:
        """Write every block of the model to a block library file."""
        try:
            save_block_library(path, self.document.graph.blocks)
        except (LayerLoomError, OSError) as exc:
            QMessageBox.warning(self, "Cannot export blocks", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {len(self.document.graph.blocks)} block(s) to {path}", 5000)
        return True

    def ask_import_blocks(self) -> list[str]:
        path, _ = QFileDialog.getOpenFileName(self, "Import blocks", "",
                                              f"LayerLoom block libraries (*{BLOCKS_SUFFIX});;JSON (*.json)")
        return self.import_blocks(path) if path else []

    def import_blocks(self, path: str | Path) -> list[str]:
        """Add a library's blocks to the model (one undo step). A name already taken by a different
        block is imported under a fresh name; the same block again is skipped. The names added."""
        graph = self.document.graph
        try:
            library = load_block_library(path, graph.catalog)
        except LayerLoomError as exc:
            QMessageBox.warning(self, "Cannot import blocks", str(exc))
            return []
        plan = plan_import_blocks(graph, library)
        if plan.refused:
            QMessageBox.warning(self, "Cannot import blocks", plan.refusals[0].why)
            return []
        if not plan.edits:
            self.statusBar().showMessage("The library's blocks are all in this model already", 5000)
            return []
        names = [edit.name for edit in plan.edits]
        if not self.document.carry_out(plan):
            return []
        self.statusBar().showMessage(f"Imported blocks: {', '.join(names)} (see Nodes > Blocks)", 6000)
        return names
