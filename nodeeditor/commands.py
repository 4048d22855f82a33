"""One small undo command per model mutation (orange-canvas-core's pattern).

Every command calls only the public ``runtime.Graph`` API, in ``redo`` and in ``undo``; the scene
follows through the graph's events. Undo puts things back exactly (a deleted node returns at its
place in the file's order with its wires, their order and unknown keys), so undoing every edit gives
back the original file byte for byte. Multi-node edits are macros (``QUndoStack.beginMacro``) of
these commands, or one command holding many nodes (moves).
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from runtime import Edge, Graph, ParamError

MERGE_PARAM = 1  # QUndoCommand ids: consecutive edits of one parameter merge into one step


class AddNodeCommand(QUndoCommand):
    def __init__(self, graph: Graph, type_id: str, *, name: str | None = None, params: dict | None = None,
                 position: tuple[float, float] = (0.0, 0.0), node_id: str | None = None, ui: dict | None = None):
        super().__init__(f"Add {type_id}")
        self.graph = graph
        self.type_id, self.name, self.params = type_id, name, copy.deepcopy(params)
        self.position, self.ui = position, copy.deepcopy(ui)
        self.node_id = node_id or graph.new_id(type_id)  # fixed now, so redo after undo gives the same id

    def redo(self) -> None:
        node = self.graph.add_node(self.type_id, self.name, self.params, node_id=self.node_id,
                                   position=self.position, ui=self.ui)
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
        self.new = _checked(graph, node, name, value)

    def id(self) -> int:  # noqa: A003 - Qt's name
        return MERGE_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, SetParamCommand) or (other.node_id, other.name) != (self.node_id, self.name):
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)

    def undo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old, check=False)


def _checked(graph: Graph, node, name: str, value: Any) -> Any:
    """The value as the graph would store it, or ``ParamError`` now, before anything is pushed."""
    spec = graph.spec(node)
    if spec is None:
        return value
    try:
        param = spec.param(name)
    except KeyError:
        raise ParamError(name, f"{spec.type_id} has no parameter {name!r}") from None
    return param.to_json(param.coerce(value))


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


class SetMetaCommand(QUndoCommand):
    """Change the graph's name, description or training settings."""

    def __init__(self, graph: Graph, key: str, value: Any):
        super().__init__(f"Change {key}")
        self.graph, self.key = graph, key
        self.old = copy.deepcopy(getattr(graph, key))
        self.new = copy.deepcopy(value)

    def redo(self) -> None:
        self.graph.set_meta(self.key, self.new)

    def undo(self) -> None:
        self.graph.set_meta(self.key, self.old)
