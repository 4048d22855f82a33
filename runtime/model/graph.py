"""The graph model: nodes with stable ids, params and ports, and edges between ports.

This module holds the ``Graph`` (queries, mutations, bulk restore and copy); its parts (``Node``,
``Edge``, ``GraphEvents``, the ``BlockTable``, the id and name rules) live in
``layerloom.model.elements`` and are importable from here.

The graph owns every persisted fact (editor positions included, in each node's ``ui`` dict) and
announces every change through plain-Python events. It accepts any structure a file may hold, so a
graph with mistakes still loads and shows its problems; ``check_connection`` tells the editor
whether a new wire makes sense, and ``connect`` refuses ones that don't unless told otherwise.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Iterator

from layerloom.core.errors import ConnectionRefused, GraphError, ParamError
from layerloom.catalog.spec import Catalog, NodeSpec, OverlayCatalog, Port, default_catalog
from layerloom.model.elements import (MAX_NAME, TRAINABLE, BlockTable, Edge, GraphEvents, Node, check_json, clean_name,
                                      find_port, finite_position, fresh_id, id_base, kind_refusal, moved_last_to, unique_name, valid_id)

__all__ = ["Graph", "Edge", "Node", "GraphEvents", "BlockTable", "MAX_NAME", "clean_name", "fresh_id", "id_base",
           "kind_refusal",
           "unique_name", "valid_id"]  # the parts are re-exported: callers import them from here


class Graph:
    """A network as a graph of node specs. Use the methods; never mutate ``nodes``/``edges`` directly."""

    def __init__(self, catalog: Catalog | None = None, name: str = "untitled"):
        base = catalog if catalog is not None else default_catalog()
        if isinstance(base, OverlayCatalog):  # another graph's view: take its shared catalog, not its blocks
            base = base.base
        # Blocks hook: the graph's reusable subgraphs (name -> layerloom.model.blocks.BlockDef); the catalog is a
        # view that resolves "Block:<name>" types from them before the shared catalog.
        self._blocks = BlockTable()
        self.revision = 0  # counts the announced changes (see _notify)
        self.catalog: Catalog = OverlayCatalog(base, self._block_spec, self._block_specs)
        self.name = name
        self.description = ""
        self.training: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}  # unknown top-level keys of a loaded file, written back as-is
        self.events = GraphEvents()
        self._nodes: dict[str, Node] = {}
        self._edges: dict[Edge, dict] = {}  # edge -> unknown keys of its file record (usually empty)
        self._incoming: dict[str, list[Edge]] = {}
        self._outgoing: dict[str, list[Edge]] = {}
        self._issued: set[str] = set()  # ids from new_id since the nodes last changed

    # ----------------------------------------------------------------- queries
    @property
    def blocks(self) -> BlockTable:
        """The graph's blocks by name; a block's inside shares its owner's table."""
        return self._blocks

    @blocks.setter
    def blocks(self, table: dict) -> None:
        self._blocks = table if isinstance(table, BlockTable) else BlockTable(table)

    @property
    def nodes(self) -> dict[str, Node]:
        return self._nodes

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except (KeyError, TypeError):
            raise GraphError(f"no node with id {node_id!r}") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def find(self, name: str) -> Node | None:
        """The node called ``name`` (first one if several), or None."""
        for node in self._nodes.values():
            if node.name == name:
                return node
        return None

    def spec(self, node: Node | str) -> NodeSpec | None:
        if isinstance(node, str):
            node = self.node(node)
        return self.catalog.get(node.type_id)

    def _block_specs(self) -> list[NodeSpec]:
        """The node types of this graph's blocks, by name (blocks hook)."""
        from layerloom.model.blocks import block_spec

        return [block_spec(self, name) for name in sorted(self.blocks)]

    def _block_spec(self, type_id: str) -> NodeSpec | None:
        """The spec of a "Block:<name>" type defined in this graph, or None (blocks hook)."""
        if not type_id.startswith("Block:") or type_id[6:] not in self.blocks:
            return None
        from layerloom.model.blocks import block_spec

        return block_spec(self, type_id[6:])

    def incoming(self, node_id: str) -> list[Edge]:
        return list(self._incoming.get(node_id, ()))

    def outgoing(self, node_id: str) -> list[Edge]:
        return list(self._outgoing.get(node_id, ()))

    def edges_into(self, node_id: str, port: str) -> list[Edge]:
        return [e for e in self._incoming.get(node_id, ()) if e.dst_port == port]

    def has_edge(self, edge: Edge) -> bool:
        return edge in self._edges

    def input_ports(self, node_id: str) -> tuple[Port, ...]:
        """The node's input ports for its current params (empty for an unknown type)."""
        node = self.node(node_id)
        spec = self.catalog.get(node.type_id)
        if spec is None:
            return ()
        from layerloom.core.params import check_params

        return spec.input_ports(check_params(spec.params, node.params).values)

    def output_ports(self, node_id: str) -> tuple[Port, ...]:
        spec = self.spec(node_id)
        return spec.outputs if spec is not None else ()

    def reaches(self, start: str, goal: str) -> bool:
        """True when a directed path leads from ``start`` to ``goal``."""
        seen = {start}
        stack = [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            for edge in self._outgoing.get(current, ()):
                if edge.dst not in seen:
                    seen.add(edge.dst)
                    stack.append(edge.dst)
        return False

    # ------------------------------------------------------------- ids, names
    def new_id(self, type_id: str) -> str:
        """An id for a new node of ``type_id``: ``<type>_<n>``, one past the highest of that type in use
        (``elements.fresh_id``, the rule ``layerloom.edits`` plans with). Ids handed out since the nodes
        last changed count as in use, so asking twice before adding gives two different ids."""
        node_id = fresh_id(type_id, self._nodes.keys() | self._issued)
        self._issued.add(node_id)
        return node_id

    def unique_name(self, base: str, exclude: str | None = None) -> str:
        return unique_name(base, {n.name for n in self._nodes.values() if n.id != exclude})

    # -------------------------------------------------------------- mutations
    def add_node(
        self,
        type_id: str,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        *,
        node_id: str | None = None,
        position: tuple[float, float] | None = None,
        ui: dict[str, Any] | None = None,
        check: bool = True,
        index: int | None = None,
    ) -> Node:
        """Add a node. Missing params take their defaults (written out, so files are explicit).

        With ``check`` (the default) the type must be known and params valid; loaders pass
        ``check=False`` so that a file with mistakes still opens and shows its problems. ``index``
        puts the node at that place in the graph's order (undo restores a deleted node where it was,
        so the saved file comes back byte for byte).
        """
        spec = self.catalog.get(type_id)
        if spec is not None:
            type_id = spec.type_id
        elif check:
            raise GraphError(f"unknown node type {type_id!r}")
        if node_id is None:
            node_id = self.new_id(type_id)
        elif not valid_id(node_id):
            raise GraphError(f"invalid node id {node_id!r}: use letters, digits, '_' or '-' (at most 64)")
        elif node_id in self._nodes:
            raise GraphError(f"a node with id {node_id!r} already exists")
        values: dict[str, Any] = {}
        if spec is not None:
            values = spec.default_params() if check else {}
            for key, value in (params or {}).items():
                if check:
                    values[key] = self._checked_param(spec, key, value)
                else:
                    values[key] = value
        else:
            values = dict(params or {})
        if name is None:
            name = self.unique_name(node_id)
        else:
            name = clean_name(name)
            clash = self.find(name) if check else None
            if clash is not None:
                raise GraphError(f"another node is already called {name!r}")
        node = Node(node_id, type_id, name, values, ui)
        if position is not None:
            node.ui["x"], node.ui["y"] = finite_position(position[0]), finite_position(position[1])
        self._nodes[node_id] = node
        if index is not None:
            self._nodes = moved_last_to(self._nodes, index)
        self._incoming[node_id] = []
        self._outgoing[node_id] = []
        self._issued.clear()
        self._notify((self.events.node_added, (node,)))
        return node

    def node_index(self, node_id: str) -> int:
        """The node's place in the graph's order (the order of the file)."""
        return list(self._nodes).index(node_id)

    def edge_index(self, edge: Edge) -> int:
        return list(self._edges).index(edge)

    def remove_node(self, node_id: str) -> Node:
        """Remove a node and, first, every edge touching it (each announced)."""
        node = self.node(node_id)
        removed = [e for e in self._incoming[node_id] + self._outgoing[node_id] if e in self._edges]
        for edge in removed:
            self._detach(edge)
        del self._nodes[node_id]
        del self._incoming[node_id]
        del self._outgoing[node_id]
        self._issued.clear()
        self._notify(*[(self.events.edge_removed, (e,)) for e in removed], (self.events.node_removed, (node,)))
        return node

    def check_connection(self, src: str, src_port: str, dst: str, dst_port: str) -> str | None:
        """Why the wire ``src.src_port -> dst.dst_port`` should not be made, or None if it is fine.

        An input that is already taken is not a reason: ``connect(replace=True)`` swaps the wire.
        """
        if src not in self._nodes or dst not in self._nodes:
            return "both ends must be nodes of this graph"
        if src == dst:
            return "a node cannot feed itself"
        src_node, dst_node = self._nodes[src], self._nodes[dst]
        out_port = find_port(self.output_ports(src), src_port)
        in_port = find_port(self.input_ports(dst), dst_port)
        src_spec, dst_spec = self.spec(src_node), self.spec(dst_node)
        if src_spec is not None and out_port is None:
            return f"{src_node.label()} has no output {src_port!r}"
        if dst_spec is not None and in_port is None:
            return f"{dst_node.label()} has no input {dst_port!r}"
        if out_port is not None and in_port is not None and out_port.kind not in in_port.accepted_kinds():
            return kind_refusal(out_port, in_port)
        if Edge(src, src_port, dst, dst_port) in self._edges:
            return "these ports are already connected"
        if self.reaches(dst, src):
            return f"the wire would make a cycle ({dst_node.name} already feeds {src_node.name})"
        return None

    def connect(
        self, src: str, src_port: str, dst: str, dst_port: str, *, replace: bool = False, check: bool = True,
        index: int | None = None, extra: dict | None = None,
    ) -> Edge:
        """Wire an output port to an input port.

        ``check`` refuses wires that make no sense (``ConnectionRefused`` says why) and refuses an
        input that is already taken unless ``replace`` swaps the old wire out. ``index`` and ``extra``
        (the record's unknown keys) let undo put a removed wire back exactly as it was.
        """
        self.node(src), self.node(dst)
        edge = Edge(src, src_port, dst, dst_port)
        taken: list[Edge] = []
        if check:
            reason = self.check_connection(src, src_port, dst, dst_port)
            if reason is not None:
                raise ConnectionRefused(reason)
            taken = self.edges_into(dst, dst_port)
            if taken and not replace:
                raise ConnectionRefused(
                    f"input {dst_port!r} of {self._nodes[dst].label()} is already connected")
            for old in taken:
                self._detach(old)
        elif edge in self._edges:
            return edge
        self._edges[edge] = copy.deepcopy(extra) if extra else {}
        if index is not None:
            self._edges = moved_last_to(self._edges, index)
        self._incoming[dst].append(edge)
        self._outgoing[src].append(edge)
        self._notify(*[(self.events.edge_removed, (e,)) for e in taken], (self.events.edge_added, (edge,)))
        return edge

    def disconnect(self, edge: Edge) -> None:
        if edge not in self._edges:
            raise GraphError(f"no edge {edge}")
        self._detach(edge)
        self._notify((self.events.edge_removed, (edge,)))

    def _detach(self, edge: Edge) -> None:
        del self._edges[edge]
        self._incoming[edge.dst].remove(edge)
        self._outgoing[edge.src].remove(edge)

    def _notify(self, *calls) -> None:
        """Announce a mutation once the model is fully updated. It is counted first (``revision``; and
        the blocks table forgets what it derived, unless only positions or ui changed), so a listener
        that analyses sees the edit. A failing listener can never leave an edit half-done: every
        event still goes out, then the first error is raised."""
        self.revision += 1
        if any(event is not self.events.node_moved and event is not self.events.ui_changed for event, _ in calls):
            self._blocks.touch()
        error: Exception | None = None
        for event, args in calls + ((self.events.changed, ()),):
            try:
                event.emit(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                error = error or exc
        if error is not None:
            raise error

    def edge_extra(self, edge: Edge) -> dict:
        """Unknown keys of the edge's file record (kept so saving loses nothing)."""
        return self._edges[edge]

    def set_param(self, node_id: str, name: str, value: Any, *, check: bool = True) -> None:
        """Set a param. With ``check`` an invalid value raises ``ParamError`` and changes nothing."""
        node = self.node(node_id)
        spec = self.catalog.get(node.type_id)
        if check and spec is not None:
            value = self._checked_param(spec, name, value)
        old = node.params.get(name)
        if name in node.params and old == value and type(old) is type(value):
            return
        node.params[name] = value
        self._notify((self.events.param_changed, (node, name, old, value)))

    def unset_param(self, node_id: str, name: str) -> None:
        """Take ``name`` out of the node's params: its default applies again (undoing a first set)."""
        node = self.node(node_id)
        if name in node.params:
            self._notify((self.events.param_changed, (node, name, node.params.pop(name), None)))

    @staticmethod
    def _checked_param(spec: NodeSpec, name: str, value: Any) -> Any:
        try:
            param = spec.param(name)
        except KeyError:
            raise ParamError(name, f"{spec.type_id} has no parameter {name!r}") from None
        return param.to_json(param.coerce(value))

    def check_name(self, node_id: str, name: Any) -> str:
        """``name`` as ``node_id`` would store it, or GraphError (empty, too long, or taken)."""
        name = clean_name(name)
        clash = self.find(name)
        if clash is not None and clash.id != node_id:
            raise GraphError(f"another node is already called {name!r}")
        return name

    def rename_node(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        name = self.check_name(node_id, name)
        if name == node.name:
            return
        old, node.name = node.name, name
        self._notify((self.events.node_renamed, (node, old, name)))

    def move_node(self, node_id: str, x: float, y: float) -> None:
        node = self.node(node_id)
        x, y = finite_position(x), finite_position(y)
        if node.ui.get("x") == x and node.ui.get("y") == y:
            return
        node.ui["x"], node.ui["y"] = x, y
        self._notify((self.events.node_moved, (node, x, y)))

    def set_ui(self, node_id: str, key: str, value: Any) -> None:
        """Store editor-only data (JSON values) on a node, e.g. a colour or collapsed state."""
        node = self.node(node_id)
        check_json(value, f"ui value {key!r}")
        node.ui[key] = copy.deepcopy(value)
        self._notify((self.events.ui_changed, (node, key, value)))

    def set_trainable(self, node_id: str, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) a node: a frozen node's weights stay as loaded while training.
        Stored as the record's ``"trainable": false``; unfreezing takes the key away (absent = trainable)."""
        node = self.node(node_id)
        if not isinstance(trainable, bool):
            raise GraphError(f"trainable must be true or false, got {trainable!r}")
        if node.trainable == trainable:
            return
        if trainable:
            node.extra.pop(TRAINABLE, None)
        else:
            node.extra[TRAINABLE] = False
        self._notify((self.events.trainable_changed, (node, not trainable, trainable)))

    def set_meta(self, key: str, value: Any) -> None:
        """Change ``name``, ``description`` or ``training`` (a dict) of the graph."""
        if key not in ("name", "description", "training"):
            raise GraphError(f"unknown graph attribute {key!r}")
        if key == "training" and not isinstance(value, dict):
            raise GraphError("training settings must be a dict")
        if key in ("name", "description") and not isinstance(value, str):
            raise GraphError(f"{key} must be text")
        check_json(value, key)
        setattr(self, key, copy.deepcopy(value))
        self._notify((self.events.meta_changed, (key, value)))

    # ---------------------------------------------------------------- blocks
    def define_block(self, name: str, definition: Any) -> Any:
        """Add or replace the block ``name`` (a ``BlockDef`` or its file dict); every instance follows.
        A block that would contain itself, directly or through other blocks, is refused."""
        from layerloom.model.blocks import define_block

        return define_block(self, name, definition)

    def remove_block(self, name: str) -> Any:
        """Remove an unused block; refused while a node or another block still uses it."""
        from layerloom.model.blocks import remove_block

        return remove_block(self, name)

    def store_block(self, name: str, block: Any) -> None:
        """Put ``block`` under ``name`` (None: take the block away) and announce ``block_changed(name,
        old, new)``. Unchecked: ``define_block`` and ``layerloom.model.blocks.install_block`` check a block
        first; ``update_block`` stores a block again after changing it in place, so it is announced."""
        old = self._blocks.get(name)
        if block is None:
            self._blocks.pop(name, None)
        else:
            self._blocks[name] = block
        self._notify((self.events.block_changed, (name, old, block)))

    # ------------------------------------------------------------------ bulk
    def restore(self, nodes: Iterable[Node], edges: Iterable[tuple[Edge, dict]]) -> None:
        """Fill an empty graph from loaded records: the loader's fast path. Type aliases resolve,
        duplicate edges collapse, nothing else is checked (analysis reports the rest) and no events
        fire (nobody can be subscribed to a graph that is still being read)."""
        if self._nodes:
            raise GraphError("restore() fills an empty graph")
        for node in nodes:
            if node.id in self._nodes:
                raise GraphError(f"a node with id {node.id!r} already exists")
            node.type_id = self.catalog.resolve(node.type_id) or node.type_id
            self._nodes[node.id] = node
            self._incoming[node.id] = []
            self._outgoing[node.id] = []
        for edge, extra in edges:
            if edge.src not in self._nodes or edge.dst not in self._nodes:
                raise GraphError(f"edge {edge} names a node that does not exist")
            if edge in self._edges:
                continue
            self._edges[edge] = dict(extra)
            self._incoming[edge.dst].append(edge)
            self._outgoing[edge.src].append(edge)
        self._issued.clear()

    def clear(self) -> None:
        for node_id in list(self._nodes):
            self.remove_node(node_id)

    def topological_order(self) -> tuple[list[str], set[str]]:
        """Node ids in dependency order (ties kept in insertion order) and the ids left in cycles."""
        indegree = {nid: 0 for nid in self._nodes}
        for edge in self._edges:
            indegree[edge.dst] += 1
        ready = [nid for nid, d in indegree.items() if d == 0]
        ready.reverse()
        order: list[str] = []
        while ready:
            nid = ready.pop()
            order.append(nid)
            released = []
            for edge in self._outgoing[nid]:
                indegree[edge.dst] -= 1
                if indegree[edge.dst] == 0:
                    released.append(edge.dst)
            ready.extend(reversed(released))
        cyclic = {nid for nid, d in indegree.items() if d > 0}
        return order, cyclic

    def ancestors(self, node_ids: Iterable[str]) -> set[str]:
        """The given nodes and every node with a path into them."""
        seen = set()
        stack = [n for n in node_ids if n in self._nodes]
        while stack:
            nid = stack.pop()
            if nid in seen:
                continue
            seen.add(nid)
            stack.extend(e.src for e in self._incoming[nid])
        return seen

    def copy(self) -> "Graph":
        """A deep, independent copy (same catalog, no subscribers): what a training run snapshots."""
        other = Graph(self.catalog, self.name)
        other.description = self.description
        other.training = copy.deepcopy(self.training)
        other.extra = copy.deepcopy(self.extra)
        other.blocks.update({name: block.copy(other) for name, block in self.blocks.items()})
        for node in self._nodes.values():
            other._nodes[node.id] = Node(node.id, node.type_id, node.name, copy.deepcopy(node.params),
                                         copy.deepcopy(node.ui), copy.deepcopy(node.extra))
            other._incoming[node.id] = []
            other._outgoing[node.id] = []
        for edge, extra in self._edges.items():
            other._edges[edge] = copy.deepcopy(extra)
            other._incoming[edge.dst].append(edge)
            other._outgoing[edge.src].append(edge)
        return other
