"""Node and edge records: the plain-dict form of a graph's nodes and wires, read and written.

A graph file (``layerloom.files.graphfile``) and a block definition (``layerloom.model.blocks``, saved
inside a graph file or a block library) hold their nodes and edges the same way. Reading checks each
record's structure and raises ``GraphFileError`` with its location (``nodes[3].id``); unknown keys are
kept in ``extra`` and written back unchanged, so a newer file loses nothing. What a network *means*
(known types, valid params, sensible wiring) is not checked here: analysis reports that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerloom.core.errors import GraphFileError
from layerloom.model.elements import TRAINABLE, Edge, Node, valid_id

NODE_KEYS = {"id", "type", "name", "params", "ui"}
EDGE_KEYS = {"from", "to"}


@dataclass(frozen=True)
class NodeRecord:
    id: str
    type: str
    name: str
    params: dict
    ui: dict
    extra: dict  # keys this version does not know, written back unchanged

    def node(self) -> Node:
        """The node this record describes (sharing the record's dicts)."""
        return Node(self.id, self.type, self.name, self.params, self.ui, self.extra)


@dataclass(frozen=True)
class EdgeRecord:
    src: str
    src_port: str
    dst: str
    dst_port: str
    extra: dict

    def edge(self) -> tuple[Edge, dict]:
        """The wire and its unknown keys, as ``Graph.restore`` takes them."""
        return Edge(self.src, self.src_port, self.dst, self.dst_port), self.extra


# ---------------------------------------------------------------------------- reading
def value_or(item: dict, key: str, default: Any) -> Any:
    """``item[key]``, or ``default`` when it is missing or null."""
    value = item.get(key)
    return default if value is None else value


def json_type(value: Any) -> str:
    """The kind of a JSON value in words ("an object", "a list"...), for error messages."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def node_records(raw: Any, path: str | None) -> list[NodeRecord]:
    """The ``"nodes"`` list read into records: each an object with a valid, unique id, a type name,
    a name of at most 64 characters, objects for params and ui, and ``trainable`` (when present) true
    or false; it stays among the record's other keys (``extra``), where ``Node.trainable`` reads it."""
    if raw is None:
        raise GraphFileError('missing "nodes" list', path, "nodes")
    if not isinstance(raw, list):
        raise GraphFileError(f"must be a list, found {json_type(raw)}", path, "nodes")
    records, seen = [], set()
    for i, item in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(item, dict):
            raise GraphFileError(f"must be an object, found {json_type(item)}", path, where)
        node_id = item.get("id")
        if not valid_id(node_id):
            raise GraphFileError(f"invalid id {node_id!r}: a letter or '_', then letters, digits, '_' or '-' "
                                 "(at most 64 characters)", path, f"{where}.id")
        if node_id in seen:
            raise GraphFileError(f"duplicate node id {node_id!r}", path, f"{where}.id")
        seen.add(node_id)
        type_id = item.get("type")
        if not isinstance(type_id, str) or not type_id or len(type_id) > 200:
            raise GraphFileError("must be a node type name such as \"Linear\"", path, f"{where}.type")
        name = value_or(item, "name", node_id)
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise GraphFileError("must be non-empty text of at most 64 characters", path, f"{where}.name")
        params = value_or(item, "params", {})
        if not isinstance(params, dict):
            raise GraphFileError(f"must be an object, found {json_type(params)}", path, f"{where}.params")
        ui = value_or(item, "ui", {})
        if not isinstance(ui, dict):
            raise GraphFileError(f"must be an object, found {json_type(ui)}", path, f"{where}.ui")
        trainable = item.get(TRAINABLE, True)
        if not isinstance(trainable, bool):
            raise GraphFileError(f"node {node_id!r}: must be true or false, found {json_type(trainable)}", path,
                                 f"{where}.{TRAINABLE}")
        extra = {k: v for k, v in item.items() if k not in NODE_KEYS} if len(item) > 2 else {}
        records.append(NodeRecord(node_id, type_id, name.strip(), params, ui, extra))
    return records


def edge_records(raw: Any, node_ids: set[str], path: str | None) -> list[EdgeRecord]:
    """The ``"edges"`` list read into records: each ``{"from": [id, port], "to": [id, port]}`` between
    nodes of ``node_ids``."""
    if not isinstance(raw, list):
        raise GraphFileError(f"must be a list, found {json_type(raw)}", path, "edges")
    records = []
    for i, item in enumerate(raw):
        where = f"edges[{i}]"
        if not isinstance(item, dict):
            raise GraphFileError(f"must be an object, found {json_type(item)}", path, where)
        ends = []
        for key in ("from", "to"):
            end = item.get(key)
            if (type(end) is not list or len(end) != 2 or type(end[0]) is not str or type(end[1]) is not str
                    or not end[0] or not end[1]):
                raise GraphFileError('must be ["node id", "port name"]', path, f"{where}.{key}")
            if end[0] not in node_ids:
                raise GraphFileError(f"no node with id {end[0]!r}", path, f"{where}.{key}")
            ends.append(end)
        extra = {k: v for k, v in item.items() if k not in EDGE_KEYS} if len(item) > 2 else {}
        records.append(EdgeRecord(ends[0][0], ends[0][1], ends[1][0], ends[1][1], extra))
    return records


def nodes_and_edges(data: dict, path: str | None) -> tuple[list[Node], list[tuple[Edge, dict]]]:
    """The ``"nodes"`` and ``"edges"`` of a graph or block record, ready for ``Graph.restore``."""
    nodes = node_records(data.get("nodes"), path)
    edges = edge_records(data.get("edges", []), {n.id for n in nodes}, path)
    return [r.node() for r in nodes], [r.edge() for r in edges]


# ---------------------------------------------------------------------------- writing
def node_dict(node: Node) -> dict:
    """The node's record; it shares the node's params and ui (deep-copy before handing it out)."""
    item = {"id": node.id, "type": node.type_id, "name": node.name, "params": node.params}
    if node.ui:
        item["ui"] = node.ui
    for key, value in node.extra.items():
        item.setdefault(key, value)
    return item


def edge_dict(edge: Edge, extra: dict) -> dict:
    """The wire's record, with ``extra`` (its unknown keys, ``graph.edge_extra(edge)``)."""
    item = {"from": [edge.src, edge.src_port], "to": [edge.dst, edge.dst_port]}
    for key, value in extra.items():
        item.setdefault(key, value)
    return item

