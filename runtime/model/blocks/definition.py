"""A block's definition: ``BlockDef`` (its inside, ports, param records and doc line), read from and
written to the plain-dict record a graph file or a block library holds; the ``Block:<name>`` type
names, the block param records and the questions asked of a set of blocks (which blocks one uses,
whether one contains itself).

Reading a record checks only its structure (``GraphFileError`` with its location); ``problems()`` says
what makes a definition unusable.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import GraphError, GraphFileError, ParamError
from layerloom.core.params import BoolParam, FloatParam, IntParam, Param, StrParam
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE
from layerloom.model.graph import Graph, Node
from layerloom.model.records import edge_dict, node_dict, nodes_and_edges

PREFIX = "Block:"
CATEGORY = "Blocks"
MAX_REPEAT = 64
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # a block's name, and its params' names
_KEYS = {"doc", "inputs", "outputs", "params", "nodes", "edges"}
_PARAM_KINDS = {"int": IntParam, "float": FloatParam, "bool": BoolParam, "str": StrParam}
REPEAT = IntParam("repeat", 1, "Apply the block this many times in sequence (one input and one output only)",
                  minimum=1, maximum=MAX_REPEAT)


class BlockError(GraphError):
    """A block definition or a block edit that cannot be accepted."""


def type_id(name: str) -> str:
    return PREFIX + name


def block_name(type_id_: str) -> str | None:
    return type_id_[len(PREFIX):] if type_id_.startswith(PREFIX) else None


@dataclass
class BlockDef:
    """One block: its inside (``graph``, whose params may hold ``"$param"`` references), the inner
    Input/Output node names that are its ports, its param records as in the file, and a doc line."""

    name: str
    graph: Graph
    input_order: tuple[str, ...]    # the ports' order as listed in the file (see ``inputs``)
    output_order: tuple[str, ...]
    params: list[dict] = field(default_factory=list)  # {"name", "kind", "default", "doc"?, "minimum"?, "maximum"?}
    doc: str = ""
    extra: dict = field(default_factory=dict)  # unknown keys of the file record, written back as-is

    # ------------------------------------------------------------- file records
    @classmethod
    def from_dict(cls, name: str, data: Any, owner: Graph | None = None, path: str | None = None) -> "BlockDef":
        """The block a file record describes, made for ``owner`` (its inside resolves nested blocks from
        the owner's); ``GraphFileError`` locating what is malformed (``blocks.Res.nodes[2].id``)."""
        where = f"blocks.{name}"
        if not isinstance(data, dict):
            raise GraphFileError("must be an object", path, where)
        ports = {}
        for key in ("inputs", "outputs"):
            value = data.get(key, [])
            if type(value) is not list or not all(isinstance(v, str) and v for v in value):
                raise GraphFileError("must be a list of port names", path, f"{where}.{key}")
            ports[key] = tuple(value)
        params = data.get("params", [])
        if type(params) is not list:
            raise GraphFileError("must be a list", path, f"{where}.params")
        for i, record in enumerate(params):
            try:
                param_from_record(record)
            except (GraphError, TypeError, ValueError) as exc:  # BlockError; the others: a safety net
                raise GraphFileError(str(exc), path, f"{where}.params[{i}]") from None
        doc = data.get("doc", "")
        if not isinstance(doc, str):
            raise GraphFileError("must be text", path, f"{where}.doc")
        try:
            nodes, edges = nodes_and_edges(data, path)
        except GraphFileError as exc:
            raise GraphFileError(exc.detail, path, f"{where}.{exc.location}") from None
        inside = inner_graph(owner, name)
        inside.restore(nodes, edges)
        extra = {k: v for k, v in data.items() if k not in _KEYS}
        return cls(name, inside, ports["inputs"], ports["outputs"], params, doc, extra)

    def document(self) -> dict:
        """The file record; it shares values with the block (deep-copy before handing it out)."""
        data: dict[str, Any] = {}
        if self.doc:
            data["doc"] = self.doc
        data["inputs"] = list(self.inputs)
        data["outputs"] = list(self.outputs)
        data["params"] = self.params
        data["nodes"] = [node_dict(node) for node in self.graph]
        data["edges"] = [edge_dict(e, self.graph.edge_extra(e)) for e in self.graph.edges]
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def to_dict(self) -> dict:
        return copy.deepcopy(self.document())

    def copy(self, owner: Graph | None = None, name: str | None = None) -> "BlockDef":
        return BlockDef.from_dict(name or self.name, self.to_dict(), owner)

    # ------------------------------------------------------------- meaning
    @property
    def type_id(self) -> str:
        return type_id(self.name)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input ports: the inside's Input nodes, by name, listed ones first in their listed order
        (editing the inside adds or removes ports; undoing the edit gives the same order back)."""
        return self._ports(INPUT, self.input_order)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self._ports(OUTPUT, self.output_order)

    def _ports(self, role: str, order: tuple[str, ...]) -> tuple[str, ...]:
        present = [n.name for n in self.graph if _role(self.graph, n) == role]
        listed = [name for name in order if name in present]
        return tuple(listed + [name for name in present if name not in listed])

    def param_specs(self) -> tuple[Param, ...]:
        return tuple(param_from_record(r) for r in self.params)

    def uses(self) -> set[str]:
        """Names of the blocks placed inside this one."""
        return {block_name(n.type_id) for n in self.graph if n.type_id.startswith(PREFIX)}

    def port_nodes(self, names: tuple[str, ...]) -> list[Node]:
        by_name = {n.name: n for n in self.graph}
        return [by_name[n] for n in names]

    def problems(self) -> list[str]:
        """What makes the definition unusable (empty when it is fine)."""
        found = []
        if not NAME_RE.fullmatch(self.name):
            found.append(f"block name {self.name!r}: use letters, digits and '_' (at most 64, not starting "
                         "with a digit)")
        names = [p.get("name") for p in self.params]
        if len(set(names)) != len(names):
            found.append("two block params have the same name")
        roles = {n.id: _role(self.graph, n) for n in self.graph}
        if not self.outputs:
            found.append("a block needs at least one Output node inside")
        for node in self.graph:
            if roles[node.id] in (TARGET_ROLE, LOSS_ROLE):
                found.append(f"{node.label()}: targets and losses cannot go inside a block")
        return found


def _role(graph: Graph, node: Node) -> str | None:
    if node.type_id.startswith(PREFIX):  # a block is a layer (and looking its spec up could recurse)
        return None
    spec = graph.catalog.get(node.type_id)
    return spec.role if spec is not None else None


def inner_graph(owner: Graph | None, name: str) -> Graph:
    """An empty inside for a block of ``owner``: nested ``Block:`` types resolve from the owner's blocks."""
    inside = Graph(owner.catalog if owner is not None else None, name=name)
    if owner is not None:
        inside.blocks = owner.blocks  # shared on purpose: nested blocks are the owner's
    return inside


# ------------------------------------------------------------------- sets of blocks
def blocks_from_dict(data: Any, owner: Graph, path: str | None = None) -> dict[str, BlockDef]:
    """The ``"blocks"`` section of a file, read for ``owner`` (no checks beyond the structure: a file
    with a broken block still opens, and analysis reports the instances' problems)."""
    if not isinstance(data, dict):
        raise GraphFileError("must be an object mapping block names to definitions", path, "blocks")
    return {name: BlockDef.from_dict(name, value, owner, path) for name, value in data.items()}


def find_cycle(blocks: dict[str, BlockDef], start: str) -> list[str] | None:
    """A chain of block names by which ``start`` contains itself, e.g. ``["A", "B", "A"]``, or None."""
    def visit(name: str, path: list[str]) -> list[str] | None:
        block = blocks.get(name)
        if block is None:
            return None
        for used in sorted(block.uses()):
            if used == start:
                return path + [used]
            if used not in path:
                found = visit(used, path + [used])
                if found:
                    return found
        return None

    return visit(start, [start])


def nested_blocks(blocks: dict[str, BlockDef], name: str) -> set[str]:
    """The blocks placed inside block ``name``, directly or deeper."""
    found: set[str] = set()
    todo = [name]
    while todo:
        block = blocks.get(todo.pop())
        for used in block.uses() if block is not None else ():
            if used not in found:
                found.add(used)
                todo.append(used)
    return found


# ------------------------------------------------------------------- block params
def param_from_record(record: Any) -> Param:
    """The param spec a block param record describes (``BlockError`` when it is invalid)."""
    if not isinstance(record, dict):
        raise BlockError("a block param is an object such as {\"name\": \"channels\", \"kind\": \"int\", "
                         "\"default\": 16}")
    name, kind = record.get("name"), record.get("kind")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name == REPEAT.name:
        raise BlockError(f"invalid block param name {name!r} (letters, digits, '_'; not 'repeat')")
    if not isinstance(kind, str) or kind not in _PARAM_KINDS:
        raise BlockError(f"block param {name!r}: kind must be one of {', '.join(_PARAM_KINDS)}")
    options = {k: record[k] for k in ("minimum", "maximum") if k in record and kind in ("int", "float")}
    for key, bound in options.items():
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise BlockError(f"block param {name!r}: {key} must be a number, got {bound!r:.40}")
    param = _PARAM_KINDS[kind](name, record.get("default"), str(record.get("doc", "")), **options)
    try:
        param.coerce(param.default)
    except ParamError as exc:  # a default of the wrong type or out of range
        raise BlockError(f"block param {name!r}: default: {exc.detail}") from None
    return param


def check_param_records(params: list[dict]) -> None:
    """Refuse (``BlockError``) a list of block param records that cannot be used."""
    for record in params:
        param_from_record(record)
    names = [r["name"] for r in params]
    if len(set(names)) != len(names):
        raise BlockError("two block params have the same name")


def param_kind(param: Param) -> str | None:
    """The block param kind that can stand for ``param`` ("int", "float", "bool", "str"), or None."""
    return next((k for k, cls in _PARAM_KINDS.items() if type(param) is cls), None)


def references(block: BlockDef, param: str) -> list[str]:
    """``node.param`` of every inner param set to ``"$param"``."""
    return [f"{node.name}.{key}" for node in block.graph for key, value in node.params.items()
            if value == f"${param}"]


def param_record(param: Param) -> dict:
    """A block param record made from a node type's param (its kind, default, range and doc)."""
    kind = param_kind(param)
    if kind is None:
        raise BlockError(f"{param.name!r} cannot become a block param (only int, float, bool and text can)")
    record = {"name": param.name, "kind": kind, "default": param.to_json(param.default)}
    for key in ("minimum", "maximum"):
        value = getattr(param, key, None)
        if value is not None:
            record[key] = value
    if param.doc:
        record["doc"] = param.doc
    return record


def owning_block(graph: Graph) -> BlockDef | None:
    """The block whose inside ``graph`` is (None for a model's own graph)."""
    block = graph.blocks.get(graph.name)
    return block if block is not None and block.graph is graph else None
