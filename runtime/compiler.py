"""Compile a graph into real PyTorch modules built with ``torch.fx``.

``compile_graph`` returns two ``GraphModule``s that share the same layer instances:

- ``model``: Inputs -> Outputs, no losses. Its ``.code`` is readable Python with submodules named
  after the nodes; it is what gets trained, saved and exported.
- ``criterion`` (when the graph has losses): takes the model inputs and the targets and returns a
  dict with the total ``"loss"``, each loss (``"loss/<name>"``), the prediction each loss saw
  (``"pred/<name>"``) and the model outputs (``"out/<name>"``). Training steps the optimizer on the
  shared parameters, so training the criterion trains the model.
"""

from __future__ import annotations

import keyword
import operator
import re
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from .analysis import Analysis, analyze
from .errors import CompileError
from .graph import Graph
from .initializers import apply_init
from .shapes import TensorSpec
from .spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE

_RESERVED = set(dir(nn.Module())) | set(keyword.kwlist) | {"self", "forward", "graph", "code", "torch", "fx"}


@dataclass(frozen=True)
class Endpoint:
    """A named input, target, output or loss of a compiled graph."""

    node_id: str
    name: str          # the Python/ONNX-friendly name used in the compiled code
    spec: TensorSpec | None


@dataclass
class LossTerm:
    node_id: str
    name: str
    pred_node: str      # node id whose output is the prediction
    target_node: str    # node id feeding the target (a Target node or a tensor)


@dataclass
class CompiledGraph:
    model: fx.GraphModule
    criterion: fx.GraphModule | None
    inputs: list[Endpoint]
    outputs: list[Endpoint]
    targets: list[Endpoint] = field(default_factory=list)
    losses: list[LossTerm] = field(default_factory=list)
    module_names: dict[str, str] = field(default_factory=dict)  # node id -> attribute name
    analysis: Analysis | None = None

    @property
    def input_names(self) -> list[str]:
        return [e.name for e in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [e.name for e in self.outputs]

    @property
    def target_names(self) -> list[str]:
        return [e.name for e in self.targets]

    def example_inputs(self, batch: int = 2, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Random tensors with the model's input shapes (token ids in [0, 2) for int64 inputs)."""
        return tuple(random_tensor(e.spec, batch, generator) for e in self.inputs)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def random_tensor(spec: TensorSpec, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    shape = spec.concrete(batch)
    if spec.is_float:
        return torch.randn(shape, generator=generator)
    return torch.randint(0, 2, shape, generator=generator)


def python_name(text: str) -> str:
    """A valid, non-reserved Python identifier made from a node name (``"fc 1"`` -> ``"fc_1"``)."""
    name = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "node"
    if name[0].isdigit():
        name = "n" + name
    if name in _RESERVED or name.startswith("_"):
        name = name + "_"
    return name


def _unique_names(graph: Graph, node_ids) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node_id in node_ids:
        base = python_name(graph.node(node_id).name)
        name, i = base, 2
        while name in taken:
            name = f"{base}_{i}"
            i += 1
        taken.add(name)
        names[node_id] = name
    return names


def compile_graph(graph: Graph, *, seed: int | None = None, analysis: Analysis | None = None) -> CompiledGraph:
    """Build the model (and the criterion, when there are losses). Raises ``CompileError`` listing
    every blocking problem when the graph is not valid."""
    if analysis is None:
        analysis = analyze(graph)
    if not analysis.ok:
        raise CompileError(analysis.errors)
    infos = analysis.nodes
    roles = {nid: info.spec.role for nid, info in infos.items() if info.spec is not None}
    order = [nid for nid in analysis.order if nid in roles]
    outputs = [nid for nid in order if roles[nid] == OUTPUT]
    losses = [nid for nid in order if roles[nid] == LOSS_ROLE]
    model_nodes = graph.ancestors(outputs)
    train_nodes = graph.ancestors(outputs + losses)
    names = _unique_names(graph, [nid for nid in order if nid in train_nodes])

    modules: dict[str, nn.Module] = {}
    rng = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        for nid in order:
            info = infos[nid]
            if nid not in train_nodes or roles[nid] in (INPUT, TARGET_ROLE, OUTPUT) or info.spec.emit is not None:
                continue
            modules[names[nid]] = info.spec.build_module(info.context())
        # Custom initialisation after every module is built, so choosing it for one layer does not
        # shift the random stream (and so the weights) of the others.
        for nid, name in names.items():
            if name in modules and "init" in infos[nid].params:
                apply_init(modules[name], infos[nid].params["init"])

    def build(include: set[str], with_losses: bool):
        fx_graph = fx.Graph()
        values: dict[tuple[str, str], fx.Node] = {}
        inputs, targets, outs, loss_nodes = [], [], [], []
        for nid in order:
            if nid not in include:
                continue
            info, role, name = infos[nid], roles[nid], names[nid]
            if role == INPUT or role == TARGET_ROLE:
                if role == TARGET_ROLE and not with_losses:
                    continue
                ph = fx_graph.placeholder(name)
                values[(nid, info.spec.outputs[0].name)] = ph
                endpoint = Endpoint(nid, ph.name, info.output)
                (inputs if role == INPUT else targets).append(endpoint)
                continue
            args = []
            for port in info.input_ports:
                edge = next((e for e in graph.incoming(nid) if e.dst_port == port.name), None)
                args.append(values[(edge.src, edge.src_port)] if edge is not None else None)
            if role == OUTPUT:
                outs.append((Endpoint(nid, name, info.inputs.get(info.input_ports[0].name)), args[0]))
                continue
            if info.spec.emit is not None:
                result = info.spec.emit(fx_graph, args, info.context(), name)
            else:
                result = fx_graph.call_module(name, tuple(args))
            if role == LOSS_ROLE:
                loss_nodes.append((nid, name, result, args[0]))
                continue
            if len(info.spec.outputs) == 1:
                values[(nid, info.spec.outputs[0].name)] = result
            else:
                for i, port in enumerate(info.spec.outputs):
                    values[(nid, port.name)] = fx_graph.call_function(operator.getitem, (result, i))
        if with_losses:
            total = None
            for _, _, value, _ in loss_nodes:
                total = value if total is None else fx_graph.call_function(operator.add, (total, value))
            result = {"loss": total}
            for nid, name, value, pred in loss_nodes:
                result[f"loss/{name}"] = value
                result[f"pred/{name}"] = pred
            for endpoint, value in outs:
                result[f"out/{endpoint.name}"] = value
            fx_graph.output(result)
        elif len(outs) == 1:
            fx_graph.output(outs[0][1])
        else:
            fx_graph.output(tuple(v for _, v in outs))
        fx_graph.lint()
        return fx_graph, inputs, targets, [e for e, _ in outs]

    model_graph, inputs, _, out_endpoints = build(model_nodes, with_losses=False)
    model = fx.GraphModule(modules, model_graph, class_name=python_name(graph.name).title().replace("_", "") or "Model")
    criterion = None
    targets: list[Endpoint] = []
    loss_terms: list[LossTerm] = []
    if losses:
        train_graph, _, targets, _ = build(train_nodes, with_losses=True)
        criterion = fx.GraphModule(modules, train_graph, class_name="Criterion")
        for nid in losses:
            pred_port, target_port = (p.name for p in infos[nid].input_ports[:2])
            pred = next(e for e in graph.incoming(nid) if e.dst_port == pred_port)
            target = next(e for e in graph.incoming(nid) if e.dst_port == target_port)
            loss_terms.append(LossTerm(nid, names[nid], pred.src, target.src))
    return CompiledGraph(model, criterion, inputs, out_endpoints, targets, loss_terms,
                         {nid: n for nid, n in names.items() if n in modules}, analysis)
