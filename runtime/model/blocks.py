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

from layerloom.model.analysis import Analysis, analyze
from layerloom.core.errors import GraphError, GraphFileError, ParamError, ShapeError, UnsupportedVersionError
from layerloom.model.graph import Edge, Graph, Node, unique_name
from layerloom.files.graphfile import (_check_depth, _edge_records, _node_dict, _node_records, atomic_write_text, dumps_document,
                        parse_json, read_file_text)
from layerloom.core.params import BoolParam, FloatParam, IntParam, Param, StrParam, check_params
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE, NodeSpec, Port

PREFIX = "Block:"
CATEGORY = "Blocks"
LIBRARY_FORMAT = "layerloom-blocks"
LIBRARY_VERSION = 1
LIBRARY_SUFFIX = ".llblocks.json"
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
    input_order: tuple[str, ...]    # the ports' order as listed in the file (see ``inputs``)
    output_order: tuple[str, ...]
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
            except (GraphError, TypeError, ValueError) as exc:  # BlockError; the others: a safety net
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
    install_block(graph, name, block)
    return block


def install_block(graph: Graph, name: str, block: BlockDef | None) -> None:
    """Put exactly ``block`` under ``name`` (None: take the block away), announced; undo and redo use
    it so a block's inside stays the same object. A block that would contain itself is refused."""
    if block is not None:
        if block.graph.blocks is not graph.blocks or block.name != name:
            raise BlockError(f"block {name!r} was made for another graph; define it with define_block")
        cycle = find_cycle({**graph.blocks, name: block}, name)
        if cycle:
            raise BlockError(f"block {name!r} would contain itself ({' -> '.join(cycle)})")
    old = graph.blocks.get(name)
    if block is None:
        graph.blocks.pop(name, None)
    else:
        graph.blocks[name] = block
    graph._notify((graph.events.block_changed, (name, old, block)))


def check_removable(graph: Graph, name: str) -> None:
    """Refuse (``BlockError``, naming the users) to take away a block that a node or a block uses."""
    if name not in graph.blocks:
        raise BlockError(f"no block called {name!r}")
    users = [n.name for n in graph if n.type_id == type_id(name)]
    users += [f"block {b.name}" for b in graph.blocks.values() if b.name != name and name in b.uses()]
    if users:
        raise BlockError(f"block {name!r} is still used by {', '.join(users)}")


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


def remove_block(graph: Graph, name: str) -> BlockDef:
    check_removable(graph, name)
    old = graph.blocks[name]
    install_block(graph, name, None)
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


def concrete_graph(graph: Graph, name: str, values: dict[str, Any], specs=None) -> Graph:
    """The inside of block ``name`` for one instance: ``$param`` references replaced by ``values``,
    each Input shaped like the tensor arriving (``specs``, in port order; None keeps the Input's own
    shape) and put first, in port order, so the compiled module's arguments follow the ports."""
    block = graph.blocks[name]
    inner = Graph(graph.catalog, name=name)
    inner.blocks = graph.blocks
    inputs = block.port_nodes(block.inputs)
    first = {node.id: spec for node, spec in zip(inputs, specs or [None] * len(inputs))}
    nodes = []
    for node in inputs + [n for n in block.graph if n.id not in first]:
        params = substitute(node.params, values)
        if first.get(node.id) is not None:
            params = {"shape": list(first[node.id].features), "dtype": first[node.id].dtype}
        nodes.append(Node(node.id, node.type_id, node.name, params))
    inner.restore(nodes, ((edge, {}) for edge in block.graph.edges))
    return inner


def substitute(params: dict, values: dict[str, Any]) -> dict:
    """``params`` with every whole-value ``"$name"`` of a known block param replaced by its value."""
    return {key: copy.deepcopy(values[value[1:]]) if isinstance(value, str) and value.startswith("$")
            and value[1:] in values else copy.deepcopy(value) for key, value in params.items()}


def _compiled_module(block: BlockDef, inner: Graph, analysis: Analysis):
    from layerloom.compiler import compile_graph

    compiled = compile_graph(inner, analysis=analysis)
    model = compiled.model
    wanted = [n.id for n in block.port_nodes(block.outputs)]
    have = [e.node_id for e in compiled.outputs]
    if len(wanted) > 1 and have != wanted:  # return the outputs in port order
        output = next(n for n in model.graph.nodes if n.op == "output")
        by_id = dict(zip(have, output.args[0]))
        output.args = (tuple(by_id[i] for i in wanted),)
        model.recompile()
    model.layerloom_block = block.name  # exported Python source writes a class of this name
    return model


# ------------------------------------------------------------------- group / ungroup
@dataclass
class BlockEdit:
    """A group or an ungroup as primitive graph edits, applied in this order: define the blocks,
    remove the nodes, add the nodes (each at its place in the graph's order), add the wires (at
    theirs), remove the blocks no longer used. ``apply`` makes them through the public graph API;
    the editor makes each one an undo command instead, so the whole edit is one undo step."""

    text: str
    define: list[BlockDef] = field(default_factory=list)
    remove_nodes: list[str] = field(default_factory=list)
    add_nodes: list[tuple[Node, int]] = field(default_factory=list)
    add_edges: list[tuple[Edge, int, dict]] = field(default_factory=list)
    remove_blocks: list[str] = field(default_factory=list)

    def apply(self, graph: Graph) -> None:
        for block in self.define:
            install_block(graph, block.name, block)
        for node_id in self.remove_nodes:
            graph.remove_node(node_id)
        for node, index in self.add_nodes:
            added = graph.add_node(node.type_id, node.name, copy.deepcopy(node.params), node_id=node.id,
                                   ui=copy.deepcopy(node.ui), check=False, index=index)
            added.extra = copy.deepcopy(node.extra)  # unknown file keys ride along, as loading keeps them
        for edge, index, extra in self.add_edges:
            graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port, check=False, index=index, extra=extra)
        for name in self.remove_blocks:
            remove_block(graph, name)

    @property
    def added_ids(self) -> list[str]:
        return [node.id for node, _ in self.add_nodes]


def plan_group(graph: Graph, node_ids, name: str) -> BlockEdit:
    """How to turn the selected nodes into block ``name`` with one instance in their place, wired
    the same way: one block input per outside output feeding the selection, one block output per
    selected output feeding the outside. Raises ``BlockError`` for a selection that cannot be a block."""
    chosen = set(node_ids)
    selected = [n for n in graph if n.id in chosen]
    if not selected or len(selected) != len(chosen):
        raise BlockError("select one or more nodes of this graph to group")
    if not _NAME_RE.fullmatch(name or ""):
        raise BlockError(f"block name {name!r}: use letters, digits and '_' (at most 64, not starting with a digit)")
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
    block = BlockDef(name, inside, tuple(in_ports), tuple(out_ports))
    problems = block.problems()
    if problems:
        raise BlockError(f"block {name!r}: " + "; ".join(problems))

    # The instance goes where the selection was, its wires where the selection's were.
    instance_id = graph.new_id(type_id(name))
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()  # ResBlock -> res_block, as layers are named
    instance_name = unique_name(snake, {n.name for n in graph if n.id not in chosen})
    xs = [n.position[0] for n in selected]
    ys = [n.position[1] for n in selected]
    instance = Node(instance_id, type_id(name), instance_name, {},
                    {"x": sum(xs) / len(xs), "y": sum(ys) / len(ys)})
    edge_index = min(graph.edge_index(e) for e in touching) if touching else len(graph.edges) - len(touching)
    wires: list[tuple[Edge, dict]] = []
    for e in touching:
        if e.dst in chosen and e.src not in chosen:
            wire = Edge(e.src, e.src_port, instance_id, in_ports[sources.index((e.src, e.src_port))])
        elif e.src in chosen and e.dst not in chosen:
            wire = Edge(instance_id, out_ports[results.index((e.src, e.src_port))], e.dst, e.dst_port)
        else:
            continue
        if wire not in [w for w, _ in wires]:
            wires.append((wire, copy.deepcopy(graph.edge_extra(e))))
    return BlockEdit(
        f"Group {len(selected)} node(s) into {name}", define=[block], remove_nodes=[n.id for n in selected],
        add_nodes=[(instance, graph.node_index(selected[0].id))],
        add_edges=[(wire, edge_index + k, extra) for k, (wire, extra) in enumerate(wires)])


def group_nodes(graph: Graph, node_ids, name: str) -> tuple[BlockDef, str]:
    """Group the nodes into block ``name`` (see ``plan_group``); returns the block and the instance's id."""
    edit = plan_group(graph, node_ids, name)
    edit.apply(graph)
    return graph.blocks[name], edit.added_ids[0]


def plan_ungroup(graph: Graph, instance_id: str) -> BlockEdit:
    """How to put the inside of a block instance back in its place (``$param`` references replaced by
    the instance's values), wired as the instance was; the block goes when nothing uses it any more."""
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
    edge_index = min(graph.edge_index(e) for e in instance_edges) if instance_edges \
        else len(graph.edges)

    taken_ids = {n.id for n in graph if n.id != instance_id}
    taken_names = {n.name for n in graph if n.id != instance_id}
    ids: dict[str, str] = {}
    nodes = []
    for k, inner in enumerate(n for n in block.graph if n.id not in port_of):
        new_id = inner.id
        while new_id in taken_ids:
            new_id = graph.new_id(inner.type_id)
        new_name = unique_name(inner.name, taken_names)
        taken_ids.add(new_id)
        taken_names.add(new_name)
        nodes.append((Node(new_id, inner.type_id, new_name, substitute(inner.params, values),
                           copy.deepcopy(inner.ui), copy.deepcopy(inner.extra)), node_index + k))
        ids[inner.id] = new_id
    edges = []
    for e in block.graph.edges:
        starts = arriving.get(port_of[e.src], []) if e.src in port_of else [(ids[e.src], e.src_port)]
        ends = leaving.get(port_of[e.dst], []) if e.dst in port_of else [(ids[e.dst], e.dst_port)]
        for src, src_port in starts:
            for dst, dst_port in ends:
                edges.append((Edge(src, src_port, dst, dst_port), edge_index + len(edges),
                              copy.deepcopy(block.graph.edge_extra(e))))
    others = [n for n in graph if n.type_id == block.type_id and n.id != instance_id]
    unused = not others and not any(name in b.uses() for b in graph.blocks.values())
    return BlockEdit(f"Ungroup {node.name}", remove_nodes=[instance_id], add_nodes=nodes, add_edges=edges,
                     remove_blocks=[name] if unused else [])


def ungroup(graph: Graph, instance_id: str) -> list[str]:
    """Ungroup a block instance (see ``plan_ungroup``); returns the ids of the nodes added."""
    edit = plan_ungroup(graph, instance_id)
    edit.apply(graph)
    return edit.added_ids


# ------------------------------------------------------------------- editing a block
def owning_block(graph: Graph) -> BlockDef | None:
    """The block whose inside ``graph`` is (None for a model's own graph)."""
    block = graph.blocks.get(graph.name)
    return block if block is not None and block.graph is graph else None


def preview_analysis(inside: Graph, values: dict[str, Any] | None = None, specs=None) -> Analysis:
    """Shapes and problems of a block's inside as the editor shows it: block params at ``values``
    (their defaults where missing), Inputs shaped by ``specs`` (an instance's arriving tensors) or
    their own shape. Node ids are the inside's, so the result maps onto its nodes."""
    block = owning_block(inside)
    if block is None:
        return analyze(inside)
    merged = {p.name: p.to_json(p.default) for p in block.param_specs()}
    merged.update(values or {})
    return analyze(concrete_graph(inside, block.name, merged, specs))


def check_param_records(params: list[dict]) -> None:
    """Refuse (``BlockError``) a list of block param records that cannot be used."""
    for record in params:
        _param_from_record(record)
    names = [r["name"] for r in params]
    if len(set(names)) != len(names):
        raise BlockError("two block params have the same name")


def update_block(graph: Graph, name: str, *, doc: str | None = None, params: list[dict] | None = None,
                 input_order: tuple[str, ...] | None = None, output_order: tuple[str, ...] | None = None) -> None:
    """Change a block's doc line, its param records or its ports' order in place (the inside and every
    instance keep their identity); refused with ``BlockError`` when a param record is invalid."""
    block = graph.blocks.get(name)
    if block is None:
        raise BlockError(f"no block called {name!r}")
    if params is not None:
        check_param_records(params)
        block.params = copy.deepcopy(params)
    if doc is not None:
        block.doc = str(doc)
    if input_order is not None:
        block.input_order = tuple(input_order)
    if output_order is not None:
        block.output_order = tuple(output_order)
    graph._notify((graph.events.block_changed, (name, block, block)))


def param_kind(param: Param) -> str | None:
    """The block param kind that can stand for ``param`` ("int", "float", "bool", "str"), or None."""
    return next((k for k, cls in _PARAM_KINDS.items() if type(param) is cls), None)


def param_from_record(record: dict) -> Param:
    """The param spec a block param record describes (``BlockError`` when it is invalid)."""
    return _param_from_record(record)


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


def instance_wires(root: Graph, name: str, port: str, inbound: bool) -> list[tuple[Graph, Edge]]:
    """The wires into (``inbound``) or out of port ``port`` of every instance of block ``name``, in
    ``root`` and in the insides of its blocks."""
    found = []
    for graph in [root] + [b.graph for b in root.blocks.values()]:
        for node in graph:
            if node.type_id != type_id(name):
                continue
            for edge in graph.incoming(node.id) if inbound else graph.outgoing(node.id):
                if (edge.dst_port if inbound else edge.src_port) == port:
                    found.append((graph, edge))
    return found


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
    return dumps_document(data)


def save_block_library(path, blocks: dict[str, BlockDef]) -> None:
    """Write ``blocks`` as a block library (JSON, atomically)."""
    atomic_write_text(path, dumps_block_library(blocks))


def import_plan(graph: Graph, library: dict[str, BlockDef]) -> tuple[list[BlockDef], dict[str, str]]:
    """The library's blocks made for ``graph``, ready to install, and the name each gets here: a
    block the graph already has (the same definition, under any name) is not added again; one whose
    name is taken by a different block comes under a fresh name (``Residual_2``), and the blocks
    that use it follow the new name."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:  # the blocks a block uses come before it
        if name in seen or name not in library:
            return
        seen.add(name)
        for used in sorted(library[name].uses()):
            visit(used)
        order.append(name)

    for name in library:
        visit(name)
    existing = {name: json.dumps(block.to_dict(), sort_keys=True) for name, block in graph.blocks.items()}
    names: dict[str, str] = {}
    plan: list[BlockDef] = []
    for name in order:
        record = library[name].to_dict()
        for node in record["nodes"]:
            used = block_name(node["type"])
            if used in names:
                node["type"] = type_id(names[used])
        text = json.dumps(record, sort_keys=True)
        same = [n for n, t in existing.items() if t == text]
        if same:
            names[name] = name if name in same else same[0]
            continue
        new, k = name, 2
        while new in graph.blocks or new in names.values() or (new != name and new in library):
            new, k = f"{name}_{k}", k + 1
        names[name] = new
        plan.append(BlockDef.from_dict(new, record, graph))
    return plan, names


def load_block_library(path, catalog=None) -> dict[str, BlockDef]:
    """The blocks of a library file; add them to a graph with ``graph.define_block(name, block)``."""
    data = parse_json(read_file_text(path, "the block library"), str(path))
    if not isinstance(data, dict) or data.get("format") != LIBRARY_FORMAT:
        raise GraphFileError(f'not a LayerLoom block library (no "format": "{LIBRARY_FORMAT}")', str(path), "format")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= LIBRARY_VERSION:
        raise UnsupportedVersionError(version, LIBRARY_VERSION, str(path))
    _check_depth(data, str(path))
    holder = Graph(catalog, name="library")
    holder.blocks.update(blocks_from_dict(data.get("blocks", {}), holder, str(path)))
    return holder.blocks
