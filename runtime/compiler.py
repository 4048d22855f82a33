"""Compile a graph into real PyTorch modules built with ``torch.fx``.

``compile_graph`` returns two ``GraphModule``s that share the same layer instances:

- ``model``: Inputs -> Outputs, no losses. Its ``.code`` is readable Python with submodules named
  after the nodes; it is what gets trained, saved and exported.
- ``criterion`` (when the graph has losses): takes the inputs, then the targets (in the order of
  ``criterion_inputs``) and returns a dict with the total ``"loss"``, each loss (``"loss/<name>"``),
  the prediction each loss saw (``"pred/<name>"``) and the model outputs (``"out/<name>"``).
  Training steps the optimizer on the shared parameters, so training the criterion trains the model.
"""

from __future__ import annotations

import keyword
import operator
import re
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from layerloom.model.analysis import Analysis, Problem, analyze
from layerloom.core.errors import CompileError
from layerloom.catalog.plugin_guard import PluginError
from layerloom.model.blocks import BlockSpec, Expansion
from layerloom.model.graph import Graph
from layerloom.catalog.initializers import apply_init
from layerloom.core.shapes import TensorSpec, format_shape
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE

def _reserved_names() -> set[str]:
    graph = fx.Graph()
    graph.output(graph.placeholder("x"))
    module = fx.GraphModule({}, graph)
    return set(dir(module)) | set(keyword.kwlist) | {"self", "forward", "torch", "fx"}


_RESERVED = _reserved_names()  # attributes of a GraphModule: a layer called "recompile" must not shadow one


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
    inputs: list[Endpoint]      # the model's forward() arguments, in order
    outputs: list[Endpoint]     # what the model returns (one tensor, or a tuple in this order)
    targets: list[Endpoint] = field(default_factory=list)
    criterion_inputs: list[Endpoint] = field(default_factory=list)  # the criterion's arguments, in order
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

    def parameter_count(self, module: nn.Module | None = None) -> int:
        return sum(p.numel() for p in (module or self.model).parameters())


def random_tensor(spec: TensorSpec, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random floats, or token id 0 for int64 inputs (the one id every vocabulary has)."""
    shape = spec.concrete(batch)
    if spec.is_float:
        return torch.randn(shape, generator=generator)
    return torch.zeros(shape, dtype=torch.int64)


_ARGUMENT_RESERVED = set(keyword.kwlist) | {"self"}


def python_name(text: str, attribute: bool = True) -> str:
    """A valid Python identifier made from a node name (``"fc 1"`` -> ``"fc_1"``). Layer names
    (``attribute``) also avoid the attributes of the generated module; argument names only
    keywords and ``self``."""
    name = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "node"
    if name[0].isdigit():
        name = "n" + name
    if name in (_RESERVED if attribute else _ARGUMENT_RESERVED):
        name = name + "_"
    return name


def _unique_names(graph: Graph, node_ids, arguments: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node_id in node_ids:
        base = python_name(graph.node(node_id).name, attribute=node_id not in arguments)
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
    names = _unique_names(graph, [nid for nid in order if nid in train_nodes],
                          {nid for nid in order if roles[nid] in (INPUT, TARGET_ROLE)})

    modules = _build_modules(graph, analysis, [n for n in order if n in train_nodes], names, roles, seed)

    def build(include: set[str], with_losses: bool):
        fx_graph = fx.Graph()
        values: dict[tuple[str, str], fx.Node] = {}
        inputs, targets, outs, loss_nodes = [], [], [], []
        # Arguments first, in a fixed order: every Input, then (for the criterion) every Target.
        for role, endpoints in ((INPUT, inputs), (TARGET_ROLE, targets)):
            if role == TARGET_ROLE and not with_losses:
                continue
            for nid in order:
                if nid in include and roles[nid] == role:
                    ph = fx_graph.placeholder(names[nid])
                    values[(nid, infos[nid].spec.outputs[0].name)] = ph
                    # ph.target is the forward() argument; fx may rename the node itself (input -> input_1).
                    endpoints.append(Endpoint(nid, ph.target, infos[nid].output))
        for nid in order:
            if nid not in include:
                continue
            info, role, name = infos[nid], roles[nid], names[nid]
            if role == INPUT or role == TARGET_ROLE:
                continue
            args = []
            for port in info.input_ports:
                edge = next((e for e in graph.incoming(nid) if e.dst_port == port.name), None)
                args.append(values[(edge.src, edge.src_port)] if edge is not None else None)
            if role == OUTPUT:
                outs.append((Endpoint(nid, name, info.inputs.get(info.input_ports[0].name)), args[0]))
                continue
            if info.spec.emit is not None:
                result = info.spec.emit_node(fx_graph, args, info.context(), name)
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
    criterion_inputs: list[Endpoint] = []
    loss_terms: list[LossTerm] = []
    if losses:
        train_graph, train_inputs, targets, _ = build(train_nodes, with_losses=True)
        criterion_inputs = train_inputs + targets
        criterion = fx.GraphModule(modules, train_graph, class_name="Criterion")
        for nid in losses:
            pred_port, target_port = (p.name for p in infos[nid].input_ports[:2])
            pred = next(e for e in graph.incoming(nid) if e.dst_port == pred_port)
            target = next(e for e in graph.incoming(nid) if e.dst_port == target_port)
            loss_terms.append(LossTerm(nid, names[nid], pred.src, target.src))
    return CompiledGraph(model, criterion, inputs, out_endpoints, targets, criterion_inputs, loss_terms,
                         {nid: n for nid, n in names.items() if n in modules}, analysis)


def _build_modules(graph: Graph, analysis: Analysis, node_ids: list[str], names: dict[str, str], roles, seed):
    """One fresh module per layer node (seeded when asked), or a CompileError naming the node."""
    infos = analysis.nodes
    modules: dict[str, nn.Module] = {}
    rng = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        for nid in node_ids:
            info = infos[nid]
            if roles[nid] in (INPUT, TARGET_ROLE, OUTPUT) or info.spec.emit is not None:
                continue
            node = graph.node(nid)
            try:
                if isinstance(info.spec, BlockSpec):
                    modules[names[nid]] = block_module(info.spec.expand(info.context()))
                else:
                    modules[names[nid]] = info.spec.build_module(info.context())
            except PluginError as exc:  # did not return in time, tried to exit
                raise CompileError([Problem("build", str(exc), nid, label=node.label())]) from None
            except Exception as exc:  # noqa: BLE001 - out of memory, a plugin's bug...
                raise CompileError([Problem("build", _build_failure(exc, info.param_count), nid,
                                            label=node.label())]) from exc
        _check_plugin_modules(graph, infos, [(nid, modules[names[nid]]) for nid in node_ids
                                             if names[nid] in modules and infos[nid].spec.from_plugin])
        # Custom initialisation after every module is built, so choosing it for one layer does not
        # shift the random stream (and so the weights) of the others.
        for nid in node_ids:
            if names[nid] in modules and "init" in infos[nid].params:
                apply_init(modules[names[nid]], infos[nid].params["init"])
    for nid in node_ids:
        if names[nid] in modules and not graph.node(nid).trainable:
            freeze(modules[names[nid]])
    return modules


def freeze(module: nn.Module) -> None:
    """A frozen node's module: no gradients for its parameters (the optimizer never gets them), and its
    batch norms keep their running statistics, normalising with them while the rest trains (as Keras
    does with a frozen BatchNormalization): fine-tuning a pretrained network leaves it exactly as loaded."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    for inner in module.modules():
        if isinstance(inner, nn.modules.batchnorm._BatchNorm):
            inner.register_forward_pre_hook(_keep_statistics)


def _keep_statistics(module: nn.Module, args) -> None:
    """Before a frozen batch norm runs: evaluation mode, so it neither updates nor uses batch statistics."""
    if module.training:
        module.train(False)


def block_module(expansion: Expansion) -> nn.Module:
    """A block instance as a module, built from its expansion (the insides analysed for shapes and the
    parameter count, not analysed again): each repetition's inside compiled to a ``GraphModule``
    named after the block, chained in an ``nn.Sequential`` when the block repeats."""
    modules = [_block_inside(expansion, inner, analysis) for inner, analysis in expansion.runs]
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


def _block_inside(expansion: Expansion, inner: Graph, analysis: Analysis) -> fx.GraphModule:
    compiled = compile_graph(inner, analysis=analysis)
    model = compiled.model
    wanted = list(expansion.output_ids)
    have = [e.node_id for e in compiled.outputs]
    if len(wanted) > 1 and have != wanted:  # return the outputs in port order
        output = next(n for n in model.graph.nodes if n.op == "output")
        by_id = dict(zip(have, output.args[0]))
        output.args = (tuple(by_id[i] for i in wanted),)
        model.recompile()
    model.layerloom_block = expansion.block  # exported Python source writes a class of this name
    definition = inner.blocks.get(expansion.block)   # frozen inner nodes: the block's own records say
    for node_id, attribute in compiled.module_names.items():
        module = getattr(model, attribute, None)
        if module is not None and definition is not None and node_id in definition.graph \
                and not definition.graph.node(node_id).trainable:
            freeze(module)
    return model


def _build_failure(exc: Exception, param_count: int | None) -> str:
    """Why a layer could not be built, for a person: a layer too big for memory is said in sizes
    (torch's allocator text names bytes and C++ frames), anything else as it was raised."""
    text = str(exc)
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
            "not enough memory" in text or "out of memory" in text or "Cannot allocate memory" in text)):
        size = (f"its {param_count:,} weights need {param_count * 4 / 2**30:,.1f} GiB as float32, "
                if param_count else "")
        return f"cannot build the layer: {size}more memory than this machine could give; make it smaller"
    return f"cannot build the layer: {type(exc).__name__}: {text}"


def _check_plugin_modules(graph: Graph, infos, built: list) -> None:
    """Each plugin module, run once, returns what its ``infer()`` declared, or a ``CompileError``
    names every node whose does not. The runs change nothing training sees: eval mode (no batch-norm
    statistics), no gradients, and the random stream put back afterwards."""
    if not built:
        return
    problems = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for nid, module in built:
            problem = check_plugin_module(module, infos[nid])
            if problem:
                problems.append(Problem("plugin_shape", problem, nid, label=graph.node(nid).label()))
    if problems:
        raise CompileError(problems)


def check_plugin_module(module, info) -> str | None:
    """What is wrong with a plugin's freshly built module, or None: it must be an ``nn.Module`` that,
    run on zeros shaped like its inputs at batch 2 (in eval mode, put back afterwards), returns what
    its ``infer()`` declared."""
    spec = info.spec
    plugin = f"plugin {spec.source!r}"
    if not isinstance(module, nn.Module):
        return f"{plugin}: its build() returned a {type(module).__name__}, not an nn.Module; fix the plugin"
    args = [None if info.inputs.get(port.name) is None else _zeros(info.inputs[port.name])
            for port in info.input_ports]
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        result = spec.call("forward()", module, *args)
    except PluginError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - its forward() fails on the inputs infer() accepted
        return (f"{plugin}: the module its build() made fails on inputs shaped like this node's at batch 2 "
                f"({', '.join(format_shape(a.shape) for a in args if a is not None)}): {type(exc).__name__}: "
                f"{exc}; its infer() and build() disagree: fix the plugin")
    finally:
        for m, training in modes:
            m.training = training
    declared = [info.outputs.get(port.name) for port in spec.outputs]
    got = list(result) if isinstance(result, (tuple, list)) and len(declared) > 1 else [result]
    if len(got) != len(declared):
        return f"{plugin}: its module returns {len(got)} values, but the node has {len(declared)} outputs; fix the plugin"
    for port, want, value in zip(spec.outputs, declared, got):
        if not isinstance(value, torch.Tensor):
            return f"{plugin}: its module returns a {type(value).__name__} for output {port.name!r}, not a tensor"
        shape, dtype = tuple(value.shape), str(value.dtype).removeprefix("torch.")
        if want is not None and (shape != want.concrete(2) or dtype != want.dtype):
            where = f" for output {port.name!r}" if len(declared) > 1 else ""
            return (f"{plugin}: its module returns {format_shape(shape)} ({dtype}) at batch 2{where}, but its "
                    f"infer() declared {want} ({want.dtype}); fix the plugin's infer() or build()")
    return None


def _zeros(spec: TensorSpec) -> torch.Tensor:
    return torch.zeros(spec.concrete(2), dtype=torch.float32 if spec.is_float else torch.int64)
