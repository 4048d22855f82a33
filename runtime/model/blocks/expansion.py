"""How a block instance expands: the block's inside made concrete for the instance (``$param``
references replaced by its values, Inputs shaped like the tensors arriving) and analysed, once per
repetition.

``BlockSpec.expand(ctx)`` is the one hook: the instance's shape inference, its parameter count and
the compiler (``layerloom.compiler`` builds the instance from the same ``Expansion``) all read the
analysed inside from it. An expansion is kept in the graph's ``BlockTable`` (``derived``) keyed by
the block, the instance's param values and the specs arriving at its inputs, until the next edit of
the graph, of a block's inside or of a block definition (each one ``touch``es the table). So one
edit costs one inner analysis per instance configuration, whatever the nesting depth (before, each
level analysed its inside again for the parameter count and again to compile: 2, 6, 14, 30 inner
analyses at depth 1, 2, 3, 4). ``expansion_stats`` counts them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import ShapeError
from layerloom.core.shapes import TensorSpec
from layerloom.catalog.spec import InferContext, NodeSpec, Port
from layerloom.model.analysis import Analysis, analyze
from layerloom.model.blocks.definition import CATEGORY, REPEAT, find_cycle, owning_block, type_id
from layerloom.model.graph import Graph, Node

_CACHE = "expansions"  # the key of the expansions in BlockTable.derived


@dataclass
class ExpansionStats:
    """What block expansion did in this process: inner analyses run (``analyses``) and expansions
    answered from the cache (``reused``). Read it in tests and benchmarks; ``reset()`` starts over."""

    analyses: int = 0
    reused: int = 0

    def reset(self) -> None:
        self.analyses = self.reused = 0


expansion_stats = ExpansionStats()


@dataclass(frozen=True)
class Expansion:
    """One block instance's inside, analysed. ``runs`` holds a (concrete inside, its analysis) per
    repetition (repetitions that keep the shape share one); ``outputs`` is the spec of each output
    port; ``output_ids`` are the inside's Output nodes in port order."""

    block: str
    runs: tuple[tuple[Graph, Analysis], ...]
    outputs: dict[str, TensorSpec]
    output_ids: tuple[str, ...]

    @property
    def param_count(self) -> int:
        """What the instance trains: its inside's compiled parameters (a stray node inside a block is
        shown there but never built), once per repeat."""
        return sum(analysis.compiled_params for _, analysis in self.runs)


@dataclass(frozen=True)
class BlockSpec(NodeSpec):
    """The node type ``Block:<name>`` of a graph (``owner``): its inference and parameter count go
    through ``expand``. It has no ``build``: the compiler builds an instance from its expansion."""

    owner: Graph | None = field(default=None, compare=False, repr=False)
    block: str = ""

    def expand(self, ctx: InferContext) -> Expansion:
        """The instance's analysed inside (computed once per edit, see the module)."""
        return expand(self.owner, self.block, ctx)


def block_spec(graph: Graph, name: str) -> BlockSpec:
    """The node type ``Block:<name>`` of ``graph``: ports from the block's inputs and outputs, its
    params plus ``repeat``; inference and parameter count go through the instance's expansion."""
    block = graph.blocks[name]
    return BlockSpec(
        type_id(name), CATEGORY, block.doc or f"The block {name}",
        inputs=tuple(Port(p) for p in block.inputs), outputs=tuple(Port(p) for p in block.outputs),
        params=block.param_specs() + (REPEAT,), infer=lambda ctx: expand(graph, name, ctx).outputs,
        count_params=lambda ctx: expand(graph, name, ctx).param_count, source="block", owner=graph, block=name,
    )


@dataclass(frozen=True)
class _Refused:
    """A ``ShapeError`` kept in the cache: asking again raises it again, without analysing again."""

    message: str
    port: str | None
    param: str | None


def expand(graph: Graph, name: str, ctx: InferContext) -> Expansion:
    """The inside of block ``name`` analysed for the instance ``ctx`` describes (its checked params and
    the specs arriving at its inputs); ``ShapeError`` when the instance cannot work. Answered from the
    graph's ``BlockTable`` when nothing changed since it was last asked."""
    block = graph.blocks[name]
    key = (name, repr(sorted(ctx.params.items())), tuple(ctx.inputs.get(port) for port in block.inputs))
    cache = graph.blocks.derived.setdefault(_CACHE, {})
    found = cache.get(key)
    if found is None:
        try:
            found = _expand(graph, name, ctx)
        except ShapeError as exc:
            found = _Refused(str(exc), exc.port, exc.param)
        cache[key] = found
    else:
        expansion_stats.reused += 1
    if isinstance(found, _Refused):
        raise ShapeError(found.message, found.port, found.param)
    return found


def _expand(graph: Graph, name: str, ctx: InferContext) -> Expansion:
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
    outputs = [node.id for node in block.port_nodes(block.outputs)]
    runs: list[tuple[Graph, Analysis]] = []
    while len(runs) < repeat:
        if runs and specs == previous:
            runs.append(runs[-1])
            continue
        inner = concrete_graph(graph, name, values, specs)
        expansion_stats.analyses += 1
        analysis = analyze(inner)
        step = f" (repetition {len(runs) + 1})" if repeat > 1 else ""
        if not analysis.ok:
            raise ShapeError(f"inside block {name!r}{step}: {analysis.errors[0].describe()}")
        for node in block.port_nodes(block.inputs):
            if node.id not in analysis.used:
                raise ShapeError(f"block input {node.name!r} does not lead to any output of block {name!r}")
        runs.append((inner, analysis))
        previous = specs
        specs = [analysis.nodes[node_id].inputs.get("in") for node_id in outputs]
    return Expansion(name, tuple(runs), dict(zip(block.outputs, specs)), tuple(outputs))


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
