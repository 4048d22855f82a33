"""One small undo command per model mutation (orange-canvas-core's pattern).

Every command calls only the public ``layerloom.Graph`` API, in ``redo`` and in ``undo``; the scene
follows through the graph's events. Undo puts things back exactly (a deleted node returns at its
place in the file's order with its wires, their order and unknown keys), so undoing every edit gives
back the original file byte for byte. Multi-node edits are macros (``QUndoStack.beginMacro``) of
these commands, or one command holding many nodes (moves). ``command_for`` makes the command for one
edit record of a plan (``layerloom.edits``): the rules decide there, the commands only carry them out.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from layerloom import Edge, Graph
from layerloom.edits.plan import (AddEdge, AddNode, Connect, Disconnect, Edit, InstallBlock, MoveNode, RemoveNode,
                                  Rename, SetParam, UpdateBlock, graph_at)
from layerloom.edits.params import stored_value
from layerloom.model.blocks import BlockDef, check_param_records, install_block, update_block
from layerloom.model.trainable import switch_text

MERGE_PARAM = 1  # QUndoCommand ids: consecutive edits of one parameter merge into one step
MERGE_META = 2   # consecutive steps (arrow keys, wheel) of one training setting merge into one step


class AddNodeCommand(QUndoCommand):
    def __init__(self, graph: Graph, type_id: str, *, name: str | None = None, params: dict | None = None,
                 position: tuple[float, float] | None = (0.0, 0.0), node_id: str | None = None,
                 ui: dict | None = None, index: int | None = None, extra: dict | None = None, check: bool = True):
        super().__init__(f"Add {type_id}")
        self.graph = graph
        self.type_id, self.name, self.params = type_id, name, copy.deepcopy(params)
        self.position, self.ui = position, copy.deepcopy(ui)
        self.index, self.extra, self.check = index, copy.deepcopy(extra or {}), check
        self.node_id = node_id or graph.new_id(type_id)  # fixed now, so redo after undo gives the same id

    def redo(self) -> None:
        node = self.graph.add_node(self.type_id, self.name, copy.deepcopy(self.params), node_id=self.node_id,
                                   position=self.position, ui=copy.deepcopy(self.ui), index=self.index,
                                   check=self.check)
        node.extra.update(copy.deepcopy(self.extra))
        self.name = node.name  # redo keeps the name the first run chose

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class RemoveNodeCommand(QUndoCommand):
    """Remove a node and its wires; undo restores both where they were in the graph's order."""

    def __init__(self, graph: Graph, node_id: str):
        node = graph.node(node_id)
        super().__init__(f"Delete {node.name}")
        self.graph = graph
        self.node = copy.deepcopy(node)
        self.index = graph.node_index(node_id)
        edges = graph.incoming(node_id) + graph.outgoing(node_id)
        self.edges = sorted(((graph.edge_index(e), e, copy.deepcopy(graph.edge_extra(e))) for e in edges),
                            key=lambda item: item[0])

    def redo(self) -> None:
        self.graph.remove_node(self.node.id)

    def undo(self) -> None:
        node = self.node
        restored = self.graph.add_node(node.type_id, node.name, copy.deepcopy(node.params), node_id=node.id,
                                       ui=copy.deepcopy(node.ui), check=False, index=self.index)
        restored.extra.update(copy.deepcopy(node.extra))
        for index, edge, extra in self.edges:
            self.graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port, check=False, index=index,
                               extra=extra)


class ConnectCommand(QUndoCommand):
    """Wire two ports, replacing what occupied the input; undo restores the replaced wire."""

    def __init__(self, graph: Graph, src: str, src_port: str, dst: str, dst_port: str):
        super().__init__("Connect")
        self.graph = graph
        self.edge = Edge(src, src_port, dst, dst_port)
        self.replaced = [(graph.edge_index(e), e, copy.deepcopy(graph.edge_extra(e)))
                         for e in graph.edges_into(dst, dst_port)]

    def redo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.src_port, e.dst, e.dst_port, replace=True)

    def undo(self) -> None:
        self.graph.disconnect(self.edge)
        for index, edge, extra in self.replaced:
            self.graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port, check=False, index=index,
                               extra=extra)


class AddEdgeCommand(QUndoCommand):
    """Put a wire at a place in the graph's order, unchecked (a group or ungroup moving wires)."""

    def __init__(self, graph: Graph, edge: Edge, index: int | None = None, extra: dict | None = None):
        super().__init__("Connect")
        self.graph, self.edge, self.index, self.extra = graph, edge, index, copy.deepcopy(extra or {})

    def redo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.src_port, e.dst, e.dst_port, check=False, index=self.index, extra=self.extra)

    def undo(self) -> None:
        self.graph.disconnect(self.edge)


class DisconnectCommand(QUndoCommand):
    def __init__(self, graph: Graph, edge: Edge):
        super().__init__("Disconnect")
        self.graph, self.edge = graph, edge
        self.index = graph.edge_index(edge)
        self.extra = copy.deepcopy(graph.edge_extra(edge))

    def redo(self) -> None:
        self.graph.disconnect(self.edge)

    def undo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.src_port, e.dst, e.dst_port, check=False, index=self.index, extra=self.extra)


class SetParamCommand(QUndoCommand):
    """Change one parameter (checked: an invalid value raises before anything is pushed)."""

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any):
        node = graph.node(node_id)
        super().__init__(f"Set {node.name}.{name}")
        self.graph, self.node_id, self.name = graph, node_id, name
        self.old = copy.deepcopy(node.params.get(name))
        self.had = name in node.params   # undoing a first set takes the key out again: the file as it was
        self.new = stored_value(graph, node, name, value)

    def id(self) -> int:  # noqa: A003 - Qt's name
        return MERGE_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, SetParamCommand) or (other.node_id, other.name) != (self.node_id, self.name):
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new, check=False)  # checked when made

    def undo(self) -> None:
        if self.had:
            self.graph.set_param(self.node_id, self.name, self.old, check=False)
        else:
            self.graph.unset_param(self.node_id, self.name)


class RenameCommand(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, name: str):
        old = graph.node(node_id).name
        name = graph.check_name(node_id, name)  # refused here, before the stack (GraphError)
        super().__init__(f"Rename {old}")
        self.graph, self.node_id, self.old, self.new = graph, node_id, old, name

    def redo(self) -> None:
        self.graph.rename_node(self.node_id, self.new)

    def undo(self) -> None:
        self.graph.rename_node(self.node_id, self.old)


class MoveNodesCommand(QUndoCommand):
    """Move several nodes as one step: ``moves`` maps node id -> ((old x, old y), (new x, new y))."""

    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str = "Move"):
        super().__init__(text)
        self.graph = graph
        self.moves = dict(moves)

    def redo(self) -> None:
        for node_id, (_, new) in self.moves.items():
            self.graph.move_node(node_id, *new)

    def undo(self) -> None:
        for node_id, (old, _) in self.moves.items():
            self.graph.move_node(node_id, *old)


class SetTrainableCommand(QUndoCommand):
    """Freeze (``trainable`` False) or unfreeze several nodes as one step: "Freeze fc1", "Unfreeze 3 nodes".
    Undo gives each node back the switch it had."""

    def __init__(self, graph: Graph, node_ids: list[str], trainable: bool):
        super().__init__(switch_text(graph, node_ids, trainable))
        self.graph, self.trainable = graph, trainable
        self.old = {node_id: graph.node(node_id).trainable for node_id in node_ids}

    def redo(self) -> None:
        for node_id in self.old:
            self.graph.set_trainable(node_id, self.trainable)

    def undo(self) -> None:
        for node_id, trainable in self.old.items():
            self.graph.set_trainable(node_id, trainable)


class SetMetaCommand(QUndoCommand):
    """Change the graph's name, description or training settings. Commands given the same ``merge``
    key (one field's arrow-key or wheel steps) merge while they follow each other on the stack; steps
    that come back to where they started leave no undo step."""

    def __init__(self, graph: Graph, key: str, value: Any, text: str | None = None, merge: str | None = None):
        super().__init__(text or f"Change {key}")
        self.graph, self.key, self.merge = graph, key, merge
        self.old = copy.deepcopy(getattr(graph, key))
        self.new = copy.deepcopy(value)

    def id(self) -> int:  # noqa: A003 - Qt's name
        return MERGE_META if self.merge is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, SetMetaCommand) or other.merge is None or \
                (other.key, other.merge) != (self.key, self.merge):
            return False
        self.new = other.new
        self.setObsolete(self.new == self.old)
        return True

    def redo(self) -> None:
        self.graph.set_meta(self.key, self.new)

    def undo(self) -> None:
        self.graph.set_meta(self.key, self.old)


class InstallBlockCommand(QUndoCommand):
    """Add, replace or take away a block (``block`` None); undo puts back exactly what was there."""

    def __init__(self, graph: Graph, name: str, block: BlockDef | None, text: str | None = None):
        super().__init__(text or (f"Define block {name}" if block is not None else f"Delete block {name}"))
        self.graph, self.name, self.block = graph, name, block
        self.old = graph.blocks.get(name)

    def redo(self) -> None:
        install_block(self.graph, self.name, self.block)

    def undo(self) -> None:
        install_block(self.graph, self.name, self.old)


class UpdateBlockCommand(QUndoCommand):
    """Change a block's doc, params or ports' order in place (``update_block``; checked when made)."""

    FIELDS = ("doc", "params", "input_order", "output_order")

    def __init__(self, graph: Graph, name: str, text: str = "Change block", **changes):
        super().__init__(text)
        block = graph.blocks[name]
        self.graph, self.name = graph, name
        self.new = {k: copy.deepcopy(v) for k, v in changes.items() if k in self.FIELDS}
        self.old = {k: copy.deepcopy(getattr(block, k)) for k in self.new}
        if "params" in self.new:
            check_param_records(self.new["params"])  # BlockError now, before the stack

    def redo(self) -> None:
        update_block(self.graph, self.name, **copy.deepcopy(self.new))

    def undo(self) -> None:
        update_block(self.graph, self.name, **copy.deepcopy(self.old))


def command_for(edit: Edit, root: Graph) -> QUndoCommand:
    """The undo command that makes ``edit`` on ``root`` (the model) or one of its blocks' insides. Make
    each just before pushing it: a command notes what it replaces when it is made."""
    if isinstance(edit, InstallBlock):
        return InstallBlockCommand(root, edit.name, edit.block)
    if isinstance(edit, UpdateBlock):
        return UpdateBlockCommand(root, edit.name, edit.text or "Change block", **edit.changes)
    graph = graph_at(root, edit.scope)
    if isinstance(edit, AddNode):
        return AddNodeCommand(graph, edit.type_id, name=edit.name, params=edit.params, position=edit.position,
                              node_id=edit.node_id, ui=edit.ui, index=edit.index, extra=edit.extra, check=edit.check)
    if isinstance(edit, RemoveNode):
        return RemoveNodeCommand(graph, edit.node_id)
    if isinstance(edit, Connect):
        e = edit.edge
        return ConnectCommand(graph, e.src, e.src_port, e.dst, e.dst_port)
    if isinstance(edit, AddEdge):
        return AddEdgeCommand(graph, edit.edge, edit.index, edit.extra)
    if isinstance(edit, Disconnect):
        return DisconnectCommand(graph, edit.edge)
    if isinstance(edit, SetParam):
        return SetParamCommand(graph, edit.node_id, edit.name, edit.value)
    if isinstance(edit, Rename):
        return RenameCommand(graph, edit.node_id, edit.name)
    if isinstance(edit, MoveNode):
        return MoveNodesCommand(graph, {edit.node_id: (graph.node(edit.node_id).position, edit.position)})
    raise TypeError(f"not an edit: {edit!r}")
