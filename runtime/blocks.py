"""Blocks: reusable subgraphs with named inputs, outputs and params, placed as ``Block:<name>`` nodes.

A block is defined per graph (``graph.blocks``, saved under the file's top-level ``"blocks"``). Its
inside is an ordinary graph whose Input nodes are the block's inputs and whose Output nodes are its
outputs (matched by node name); inner params may be a whole-value reference ``"$channels"`` to a
block param. An instance analyses a concrete copy of the inside (references substituted, Inputs
shaped like what arrives) and compiles it to a nested ``GraphModule``, so the outer model reads
``res1.conv1``; ``repeat`` > 1 chains copies in an ``nn.Sequential`` (``stack.0.conv1``).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .analysis import Analysis, analyze
from .errors import GraphError, GraphFileError, ShapeError, UnsupportedVersionError
from .graph import Edge, Graph, Node
from .graphfile import (_READABLE, _edge_records, _finite_float, _node_dict, _node_records, _pretty,
                        _refuse_constant, _unique_keys, atomic_write_text)
from .params import BoolParam, FloatParam, IntParam, Param, StrParam, check_params
from .spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE, NodeSpec, Port

PREFIX = "Block:"
CATEGORY = "Blocks"
LIBRARY_FORMAT = "layerloom-blocks"
LIBRARY_VERSION = 1
MAX_REPEAT = 64
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
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
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: list[dict] = field(default_factory=list)  # {"name", "kind", "default", "doc"?, "minimum"?, "maximum"?}
    doc: str = ""
    extra: dict = field(default_factory=dict)  # unknown keys of the file record, written back as-is

    # ------------------------------------------------------------- file records
    @classmethod
    def from_dict(cls, name: str, data: Any, owner: Graph | None = None, path: str | None = None) -> "BlockDef":
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
                _param_from_record(record)
            except (GraphError, TypeError, ValueError) as exc:
                raise GraphFileError(str(exc), path, f"{where}.params[{i}]") from None
        doc = data.get("doc", "")
        if not isinstance(doc, str):
            raise GraphFileError("must be text", path, f"{where}.doc")
        try:
            nodes = _node_records(data.get("nodes"), path)
            edges = _edge_records(data.get("edges", []), {n.id for n in nodes}, path)
        except GraphFileError as exc:
            raise GraphFileError(exc.detail, path, f"{where}.{exc.location}") from None
        inside = _inner_graph(owner, name)
        inside.restore((Node(r.id, r.type, r.name, r.params, r.ui, r.extra) for r in nodes),
                       ((Edge(r.src, r.src_port, r.dst, r.dst_port), r.extra) for r in edges))
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
        data["nodes"] = [_node_dict(node) for node in self.graph]
        data["edges"] = [_edge_record(self.graph, e) for e in self.graph.edges]
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

    def param_specs(self) -> tuple[Param, ...]:
        return tuple(_param_from_record(r) for r in self.params)

    def uses(self) -> set[str]:
        """Names of the blocks placed inside this one."""
        return {block_name(n.type_id) for n in self.graph if n.type_id.startswith(PREFIX)}

    def port_nodes(self, names: tuple[str, ...]) -> list[Node]:
        by_name = {n.name: n for n in self.graph}
        return [by_name[n] for n in names]

    def problems(self) -> list[str]:
        """What makes the definition unusable (empty when it is fine)."""
        found = []
        if not _NAME_RE.fullmatch(self.name):
            found.append(f"block name {self.name!r}: use letters, digits and '_' (at most 64, not starting "
                         "with a digit)")
        names = [p.get("name") for p in self.params]
        if len(set(names)) != len(names):
            found.append("two block params have the same name")
        roles = {n.id: _role(self.graph, n) for n in self.graph}
        for ports, role, what in ((self.inputs, INPUT, "input"), (self.outputs, OUTPUT, "output")):
            if len(set(ports)) != len(ports):
                found.append(f"two {what}s have the same name")
            nodes = {n.name: n for n in self.graph if roles[n.id] == role}
            for port in ports:
                if port not in nodes:
                    found.append(f"{what} {port!r} names no inner {role.title()} node")
            for extra in sorted(set(nodes) - set(ports)):
                found.append(f"inner {role.title()} node {extra!r} is not listed among the block's {what}s")
        if not self.outputs:
            found.append("a block needs at least one output")
        for node in self.graph:
            if roles[node.id] in (TARGET_ROLE, LOSS_ROLE):
                found.append(f"{node.label()}: targets and losses cannot go inside a block")
        return found


def _role(graph: Graph, node: Node) -> str | None:
    spec = graph.catalog.get(node.type_id)
    return spec.role if spec is not None else None


def _edge_record(graph: Graph, edge: Edge) -> dict:
    item = {"from": [edge.src, edge.src_port], "to": [edge.dst, edge.dst_port]}
    for key, value in graph.edge_extra(edge).items():
        item.setdefault(key, value)
    return item


def _inner_graph(owner: Graph | None, name: str) -> Graph:
    """An empty inside for a block of ``owner``: nested ``Block:`` types resolve from the owner's blocks."""
    inside = Graph(owner.catalog if owner is not None else None, name=name)
    if owner is not None:
        inside.blocks = owner.blocks  # shared on purpose: nested blocks are the owner's
    return inside


def _param_from_record(record: Any) -> Param:
    if not isinstance(record, dict):
        raise BlockError("a block param is an object such as {\"name\": \"channels\", \"kind\": \"int\", "
                         "\"default\": 16}")
    name, kind = record.get("name"), record.get("kind")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name == REPEAT.name:
        raise BlockError(f"invalid block param name {name!r} (letters, digits, '_'; not 'repeat')")
    if kind not in _PARAM_KINDS:
        raise BlockError(f"block param {name!r}: kind must be one of {', '.join(_PARAM_KINDS)}")
    options = {k: record[k] for k in ("minimum", "maximum") if k in record and kind in ("int", "float")}
    param = _PARAM_KINDS[kind](name, record.get("default"), str(record.get("doc", "")), **options)
    param.coerce(param.default)  # a ParamError (a LayerLoomError) for a default out of range
    return param


# ------------------------------------------------------------------- graph API
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


def define_block(graph: Graph, name: str, definition: BlockDef | dict) -> BlockDef:
    if isinstance(definition, BlockDef):
        block = definition.copy(graph, name)
    else:
        try:
            block = BlockDef.from_dict(name, definition, graph)
        except GraphFileError as exc:
            raise BlockError(str(exc)) from None
    problems = block.problems()
    if problems:
        raise BlockError(f"block {name!r}: " + "; ".join(problems))
    cycle = find_cycle({**graph.blocks, name: block}, name)
    if cycle:
        raise BlockError(f"block {name!r} would contain itself ({' -> '.join(cycle)})")
    old = graph.blocks.get(name)
    graph.blocks[name] = block
    graph._notify((graph.events.block_changed, (name, old, block)))
    return block


def remove_block(graph: Graph, name: str) -> BlockDef:
    if name not in graph.blocks:
        raise BlockError(f"no block called {name!r}")
    users = [n.name for n in graph if n.type_id == type_id(name)]
    users += [f"block {b.name}" for b in graph.blocks.values() if b.name != name and name in b.uses()]
    if users:
        raise BlockError(f"block {name!r} is still used by {', '.join(users)}")
    old = graph.blocks.pop(name)
    graph._notify((graph.events.block_changed, (name, old, None)))
    return old


# ------------------------------------------------------------------- the spec
def block_spec(graph: Graph, name: str) -> NodeSpec:
    """The node type ``Block:<name>`` of ``graph``: ports from the block's inputs and outputs, its
    params plus ``repeat``; inference, parameter count and build go through the inside."""
    block = graph.blocks[name]

    def infer(ctx):
        runs = _instance_analyses(graph, name, ctx)
        inner, analysis = runs[-1]
        return {port: _output_spec(graph.blocks[name], analysis, port) for port in graph.blocks[name].outputs}

    def count(ctx):
        return sum(analysis.total_params for _, analysis in _instance_analyses(graph, name, ctx))

    def build(ctx):
        modules = [_compiled_module(graph.blocks[name], inner, analysis)
                   for inner, analysis in _instance_analyses(graph, name, ctx)]
        if len(modules) == 1:
            return modules[0]
        from torch import nn

        return nn.Sequential(*modules)

    return NodeSpec(
        type_id(name), CATEGORY, block.doc or f"The block {name}",
        inputs=tuple(Port(p) for p in block.inputs), outputs=tuple(Port(p) for p in block.outputs),
        params=block.param_specs() + (REPEAT,), infer=infer, build=build, count_params=count,
        source="block",
    )


def _instance_analyses(graph: Graph, name: str, ctx) -> list[tuple[Graph, Analysis]]:
    """One analysed concrete inside per repetition (shape-preserving repeats share one analysis)."""
    block = graph.blocks[name]
    cycle = find_cycle(graph.blocks, name)
    if cycle:
        raise ShapeError(f"block {name!r} contains itself ({' -> '.join(cycle)})")
    problems = block.problems()
    if problems:
        raise ShapeError(f"block {name!r}: {problems[0]}")
    values = {p.name: p.to_json(ctx.params[p.name]) for p in block.param_specs()}
    repeat = ctx.params.get(REPEAT.name, 1)
    if repeat > 1 and (len(block.inputs) != 1 or len(block.outputs) != 1):
        raise ShapeError("repeat above 1 needs a block with one input and one output", param=REPEAT.name)
    specs = [ctx.input(port) for port in block.inputs]
    runs: list[tuple[Graph, Analysis]] = []
    while len(runs) < repeat:
        if runs and specs == previous:
            runs.append(runs[-1])
            continue
        inner = concrete_graph(graph, name, values, specs)
        analysis = analyze(inner)
        step = f" (repetition {len(runs) + 1})" if repeat > 1 else ""
        if not analysis.ok:
            raise ShapeError(f"inside block {name!r}{step}: {analysis.errors[0].describe()}")
        for node in block.port_nodes(block.inputs):
            if node.id not in analysis.used:
                raise ShapeError(f"block input {node.name!r} does not lead to any output of block {name!r}")
        runs.append((inner, analysis))
        previous = specs
        specs = [_output_spec(block, analysis, port) for port in block.outputs]
    return runs


def _output_spec(block: BlockDef, analysis: Analysis, port: str):
    node = block.port_nodes((port,))[0]
    return analysis.nodes[node.id].inputs.get("in")


def concrete_graph(graph: Graph, name: str, values: dict[str, Any], specs) -> Graph:
    """The inside of block ``name`` for one instance: ``$param`` references replaced by ``values``,
    each Input shaped like the tensor arriving (Inputs first, in port order, so the compiled
    module's arguments follow the ports)."""
    block = graph.blocks[name]
    inner = Graph(graph.catalog, name=name)
    inner.blocks = graph.blocks
    inputs = block.port_nodes(block.inputs)
    first = {node.id: spec for node, spec in zip(inputs, specs)}
    nodes = []
    for node in inputs + [n for n in block.graph if n.id not in first]:
        params = substitute(node.params, values)
        if node.id in first:
            params = {"shape": list(first[node.id].features), "dtype": first[node.id].dtype}
        nodes.append(Node(node.id, node.type_id, node.name, params))
    inner.restore(nodes, ((edge, {}) for edge in block.graph.edges))
    return inner


def substitute(params: dict, values: dict[str, Any]) -> dict:
    """``params`` with every whole-value ``"$name"`` of a known block param replaced by its value."""
    return {key: copy.deepcopy(values[value[1:]]) if isinstance(value, str) and value.startswith("$")
            and value[1:] in values else copy.deepcopy(value) for key, value in params.items()}


def _compiled_module(block: BlockDef, inner: Graph, analysis: Analysis):
    from .compiler import compile_graph

    compiled = compile_graph(inner, analysis=analysis)
    model = compiled.model
    wanted = [n.id for n in block.port_nodes(block.outputs)]
    have = [e.node_id for e in compiled.outputs]
    if len(wanted) > 1 and have != wanted:  # return the outputs in port order
        output = next(n for n in model.graph.nodes if n.op == "output")
        by_id = dict(zip(have, output.args[0]))
        output.args = (tuple(by_id[i] for i in wanted),)
        model.recompile()
    return model


# ------------------------------------------------------------------- group / ungroup
def group_nodes(graph: Graph, node_ids, name: str) -> tuple[BlockDef, str]:
    """Turn the selected nodes into block ``name`` and put one instance in their place, wired the
    same way: one block input per outside output feeding the selection, one block output per
    selected output feeding the outside. Uses only the public graph API (every change is announced)."""
    chosen = set(node_ids)
    selected = [n for n in graph if n.id in chosen]
    if not selected or len(selected) != len(chosen):
        raise BlockError("select one or more nodes of this graph to group")
    if name in graph.blocks:
        raise BlockError(f"a block called {name!r} already exists")
    for node in selected:
        spec = graph.spec(node)
        if spec is not None and spec.role in (INPUT, OUTPUT, TARGET_ROLE, LOSS_ROLE):
            raise BlockError(f"{node.label()} cannot go inside a block (only layers can)")
    touching = [e for e in graph.edges if e.src in chosen or e.dst in chosen]
    leaving = [e for e in touching if e.src in chosen and e.dst not in chosen]
    if any(graph.reaches(e.dst, target) for e in leaving for target in chosen):
        raise BlockError("the selection has a path leaving it and coming back; select the nodes between too")
    sources = list(dict.fromkeys((e.src, e.src_port) for e in touching if e.dst in chosen and e.src not in chosen))
    results = list(dict.fromkeys((e.src, e.src_port) for e in leaving))
    taken_names = {n.name for n in selected}
    taken_ids = set(chosen)
    in_ports = _fresh_names("in", len(sources), taken_names)
    out_ports = _fresh_names("out", len(results), taken_names)
    in_ids = _fresh_names("block_in", len(sources), taken_ids)
    out_ids = _fresh_names("block_out", len(results), taken_ids)
    analysis = analyze(graph)

    inside = _inner_graph(graph, name)
    left = min(n.position[0] for n in selected) - 200
    right = max(n.position[0] for n in selected) + 200
    nodes = []
    for k, (src, port) in enumerate(sources):
        spec = analysis.output_spec(src, port)
        shape = list(spec.features) if spec is not None and spec.rank > 1 else [1]
        dtype = spec.dtype if spec is not None else "float32"
        nodes.append(Node(in_ids[k], "Input", in_ports[k], {"shape": shape, "dtype": dtype},
                          {"x": left, "y": 100.0 * k}))
    nodes += [Node(n.id, n.type_id, n.name, copy.deepcopy(n.params), copy.deepcopy(n.ui), copy.deepcopy(n.extra))
              for n in selected]
    nodes += [Node(out_ids[k], "Output", out_ports[k], {}, {"x": right, "y": 100.0 * k}) for k in range(len(results))]
    in_of = {key: in_ids[k] for k, key in enumerate(sources)}
    out_of = {key: out_ids[k] for k, key in enumerate(results)}
    edges = []
    for e in touching:  # in the graph's order, so ungroup can put them back in it
        if e.src in chosen and e.dst in chosen:
            edges.append((e, copy.deepcopy(graph.edge_extra(e))))
        elif e.dst in chosen:
            edges.append((Edge(in_of[(e.src, e.src_port)], "out", e.dst, e.dst_port), {}))
        else:
            edges.append((Edge(e.src, e.src_port, out_of[(e.src, e.src_port)], "in"), {}))
    inside.restore(nodes, edges)
    block = define_block(graph, name, BlockDef(name, inside, tuple(in_ports), tuple(out_ports)))

    # Replace the selection by one instance, where the selection was.
    node_index = graph.node_index(selected[0].id)
    edge_index = min(graph.edge_index(e) for e in touching) if touching else len(graph.edges)
    wires = []
    for e in touching:
        if e.dst in chosen and e.src not in chosen:
            wire = (e.src, e.src_port, None, in_ports[sources.index((e.src, e.src_port))])
        elif e.src in chosen and e.dst not in chosen:
            wire = (None, out_ports[results.index((e.src, e.src_port))], e.dst, e.dst_port)
        else:
            continue
        if wire not in [w for w, _ in wires]:
            wires.append((wire, copy.deepcopy(graph.edge_extra(e))))
    xs = [n.position[0] for n in selected]
    ys = [n.position[1] for n in selected]
    for node in selected:
        graph.remove_node(node.id)
    instance = graph.add_node(type_id(name), graph.unique_name(name), index=node_index,
                              position=(sum(xs) / len(xs), sum(ys) / len(ys)))
    for k, ((src, src_port, dst, dst_port), extra) in enumerate(wires):
        graph.connect(src or instance.id, src_port, dst or instance.id, dst_port, index=edge_index + k,
                      extra=extra)
    return block, instance.id


def ungroup(graph: Graph, instance_id: str) -> list[str]:
    """Put the inside of a block instance back in its place (``$param`` references replaced by the
    instance's values), wired as the instance was. The block is removed when nothing uses it any
    more. Returns the ids of the nodes added."""
    node = graph.node(instance_id)
    name = block_name(node.type_id)
    if name is None or name not in graph.blocks:
        raise BlockError(f"{node.label()} is not an instance of a block of this graph")
    block = graph.blocks[name]
    spec = graph.spec(node)
    checked = check_params(spec.params, node.params)
    if checked.errors:
        raise BlockError(f"{node.label()}: fix its params before ungrouping ({next(iter(checked.errors.values()))})")
    if checked.values[REPEAT.name] != 1:
        raise BlockError(f"{node.label()} repeats its block; set repeat to 1 before ungrouping")
    values = {p.name: p.to_json(checked.values[p.name]) for p in block.param_specs()}
    port_of = {n.id: n.name for n in block.port_nodes(block.inputs) + block.port_nodes(block.outputs)}
    arriving: dict[str, list] = {}
    leaving: dict[str, list] = {}
    instance_edges = [e for e in graph.edges if instance_id in (e.src, e.dst)]
    for e in instance_edges:
        if e.dst == instance_id:
            arriving.setdefault(e.dst_port, []).append((e.src, e.src_port))
        else:
            leaving.setdefault(e.src_port, []).append((e.dst, e.dst_port))
    node_index = graph.node_index(instance_id)
    edge_index = min(graph.edge_index(e) for e in instance_edges) if instance_edges else len(graph.edges)
    graph.remove_node(instance_id)

    ids: dict[str, str] = {}
    for k, inner in enumerate(n for n in block.graph if n.id not in port_of):
        new_id = inner.id if inner.id not in graph else graph.new_id(inner.type_id)
        new_name = inner.name if graph.find(inner.name) is None else graph.unique_name(inner.name)
        added = graph.add_node(inner.type_id, new_name, substitute(inner.params, values), node_id=new_id,
                               ui=copy.deepcopy(inner.ui), check=False, index=node_index + k)
        added.extra = copy.deepcopy(inner.extra)  # unknown file keys ride along, as loading would keep them
        ids[inner.id] = new_id
    k = 0
    for e in block.graph.edges:
        starts = arriving.get(port_of[e.src], []) if e.src in port_of else [(ids[e.src], e.src_port)]
        ends = leaving.get(port_of[e.dst], []) if e.dst in port_of else [(ids[e.dst], e.dst_port)]
        for src, src_port in starts:
            for dst, dst_port in ends:
                graph.connect(src, src_port, dst, dst_port, check=False, index=edge_index + k,
                              extra=block.graph.edge_extra(e))
                k += 1
    if not any(n.type_id == block.type_id for n in graph) and not any(name in b.uses() for b in graph.blocks.values()):
        remove_block(graph, name)
    return list(ids.values())


def _fresh_names(base: str, count: int, taken: set[str]) -> list[str]:
    names = []
    for k in range(count):
        candidate = base if count == 1 else f"{base}{k + 1}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names.append(candidate)
    return names


# ------------------------------------------------------------------- library files
def dumps_block_library(blocks: dict[str, BlockDef]) -> str:
    data = {"format": LIBRARY_FORMAT, "version": LIBRARY_VERSION,
            "blocks": {name: block.document() for name, block in blocks.items()}}
    return _pretty(data, 0, _READABLE) + "\n"


def save_block_library(path, blocks: dict[str, BlockDef]) -> None:
    """Write ``blocks`` as a block library (JSON, atomically)."""
    atomic_write_text(path, dumps_block_library(blocks))


def load_block_library(path, catalog=None) -> dict[str, BlockDef]:
    """The blocks of a library file; add them to a graph with ``graph.define_block(name, block)``."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphFileError(f"cannot read the block library: {exc}", str(path)) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise GraphFileError(f"invalid JSON: {exc}", str(path)) from None
    if not isinstance(data, dict) or data.get("format") != LIBRARY_FORMAT:
        raise GraphFileError(f'not a LayerLoom block library (no "format": "{LIBRARY_FORMAT}")', str(path), "format")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= LIBRARY_VERSION:
        raise UnsupportedVersionError(version, LIBRARY_VERSION, str(path))
    holder = Graph(catalog, name="library")
    holder.blocks.update(blocks_from_dict(data.get("blocks", {}), holder, str(path)))
    return holder.blocks
