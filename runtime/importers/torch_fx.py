"""Open a PyTorch ``nn.Module`` as a LayerLoom graph: ``from_module(model, example_input)``.

The model is traced with ``torch.fx`` (every ``torch.nn`` layer stays whole, everything else is traced through
to the functions it calls; ``torch_trace``), the example input gives every value its shape, and the walk here
turns each traced call into a catalog node through the tables of ``torch_table`` (layers) and ``torch_calls``
(functions and tensor methods): an Input per argument (its shape without the batch), an Output per returned
tensor. It also reads patterns across calls: an LSTM/GRU's tuple and the indexing after it, reshapes whose
target comes from sizes, a global average pool written as a mean, arithmetic with the model's own tensors.
A ``torch.nn`` layer with no catalog node becomes a ``TorchModule`` node when its constructor arguments can be
read back as JSON; anything else (a user's class that cannot be traced, a call with no node) is refused, naming
the module, its class and the call, and the report lists it. The imported graph is compiled and checked against
the original on the example input.

Reading a ``.py`` file the user chose runs in a child process: ``import_python_file`` (from ``torch_file``, given
here too).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import TensorMetadata

from layerloom.core.shapes import FLOAT, INT
from layerloom.importers.builder import GraphBuilder
from layerloom.importers.report import ImportResult, ModelImportError
from layerloom.importers import torch_calls as calls
from layerloom.importers import torch_table as table
from layerloom.importers.torch_file import import_python_file, model_classes
from layerloom.importers.torch_table import Mapped, NoMapping
from layerloom.importers.torch_trace import check_outputs, propagate_shapes, trace


# ------------------------------------------------------------------------------------ values
@dataclass(frozen=True)
class _Tensor:
    node_id: str
    port: str = "out"


@dataclass(frozen=True)
class _Recurrent:
    """An LSTM/GRU call's result, or a part of it, waiting for how it is used ("call", "seq", "state", "h")."""

    call: fx.Node
    stage: str


class _Size:
    """A size (``x.size(0)``, ``x.shape``): used only to compute a reshape's target."""


class _Failed:
    """A value whose producer was not mapped (already reported)."""


class _Constant:
    """An argument of ``forward`` traced with its default value (``mask=None``)."""


@dataclass(frozen=True)
class _Held:
    """A tensor the model holds itself (``self.scale``, a buffer), waiting for the arithmetic that uses it."""

    target: str


SIZE, FAILED, CONSTANT = _Size(), _Failed(), _Constant()
LAST_STEP = ((slice(None), -1), (slice(None), -1, slice(None)))


def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def _module_label(module: nn.Module) -> str:
    cls = type(module)
    return f"nn.{cls.__name__}" if table.torch_class(cls.__name__) is cls else f"{cls.__module__}.{cls.__qualname__}"


def _inside(node: fx.Node) -> str:
    """Which module a traced call sits in: `` in 'block1' (ResBlock)``, or empty at the top."""
    stack = node.meta.get("nn_module_stack") or {}
    owners = [(path, cls) for path, cls in stack.values() if node.op != "call_module" or path != node.target]
    if not owners:
        return ""
    path, cls = owners[-1]
    return f" in {path!r} ({getattr(cls, '__name__', cls)})"


class _Walker:
    """Turns a shape-propagated ``GraphModule`` into builder calls."""

    def __init__(self, gm: fx.GraphModule, builder: GraphBuilder, examples: tuple[torch.Tensor, ...]):
        self.gm = gm
        self.builder = builder
        self.report = builder.report
        self.examples = examples
        self.values: dict[fx.Node, Any] = {}
        self.recurrent: dict[tuple[fx.Node, str], _Tensor] = {}
        self.call_counts: dict[str, int] = {}  # module path -> calls so far

    def run(self) -> None:
        placeholders = iter(self.examples)
        live = self._live()
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                example = next(placeholders, None)
                self.values[node] = self._input(node, example) if example is not None or not node.args else CONSTANT
            elif node not in live:
                continue  # computes nothing the outputs use (a traced default's check, an unused value)
            elif node.op == "output":
                self._outputs(node)
            else:
                try:
                    self.values[node] = self._visit(node)
                except NoMapping as exc:
                    self.values[node] = FAILED
                    self.report.unsupported(self._label(node), f"{exc}{_inside(node)}")

    def _live(self) -> set[fx.Node]:
        """The nodes the outputs depend on."""
        outputs = [node for node in self.gm.graph.nodes if node.op == "output"]
        live, todo = set(outputs), list(outputs)
        while todo:
            for source in todo.pop().all_input_nodes:
                if source not in live:
                    live.add(source)
                    todo.append(source)
        return live

    # ---------------------------------------------------------------- ends
    def _input(self, node: fx.Node, example: torch.Tensor | None) -> _Tensor:
        if example is None:
            raise ModelImportError(f"{self.builder.source}: no example input for the argument {node.name!r}",
                                   self.report)
        if example.dim() < 2:
            raise ModelImportError(f"{self.builder.source}: the example for {node.name!r} has shape "
                                   f"{list(example.shape)}; give a batch, e.g. [1, 784]", self.report)
        dtype = FLOAT if example.is_floating_point() else INT
        node_id = self.builder.add("Input", {"shape": list(example.shape[1:]), "dtype": dtype}, node.name)
        self.report.record("input", "Input")
        return _Tensor(node_id)

    def _outputs(self, node: fx.Node) -> None:
        result = node.args[0]
        if isinstance(result, dict):
            items = list(result.items())
        elif isinstance(result, (tuple, list)):
            items = [(f"out{i}", value) for i, value in enumerate(result, start=1)] if len(result) > 1 \
                else [("out", result[0])]
        else:
            items = [("out", result)]
        for name, value in items:
            try:
                tensor = self.tensor(value)
            except NoMapping as exc:
                self.report.unsupported("output", f"{name}: {exc}")
                continue
            if tensor is None:
                continue
            out_id = self.builder.add("Output", {}, str(name))
            self.builder.connect(tensor.node_id, tensor.port, out_id, "in")
            self.report.record("output", "Output")

    # ---------------------------------------------------------------- values
    def tensor(self, value: Any) -> _Tensor | None:
        """The node output for an fx argument, or a node output placed already (None when its producer failed)."""
        if isinstance(value, _Tensor):
            return value
        if not isinstance(value, fx.Node):
            raise NoMapping(f"a constant {value!r} where a tensor is expected")
        got = self.values.get(value)
        if isinstance(got, _Tensor):
            return got
        if got is FAILED:
            return None
        if isinstance(got, _Recurrent) and got.stage == "seq":
            return self._recurrent(got.call, "sequence")
        if isinstance(got, _Recurrent):
            raise NoMapping(f"uses the {got.call.target!r} layer's {got.stage} directly (the catalog's LSTM and "
                            "GRU return the whole sequence or the last step's state)")
        if isinstance(got, _Held):
            raise NoMapping(f"uses the tensor {got.target!r} directly (only layers' own weights, and parameters "
                            "or buffers added to, subtracted from, multiplied with or dividing a value, are imported)")
        raise NoMapping(f"uses the size {value.name!r} as a tensor")

    def _place(self, mapped: Mapped, hint: str, source_op: str) -> _Tensor | _Failed:
        sources = []
        for value, port in mapped.inputs:
            tensor = self.tensor(value)
            if tensor is None:
                return FAILED
            sources.append((tensor, port))
        node_id = self.builder.add(mapped.type_id, mapped.params, hint, mapped.weights)
        for tensor, port in sources:
            self.builder.connect(tensor.node_id, tensor.port, node_id, port)
        self.report.record(source_op, mapped.type_id, mapped.note)
        return _Tensor(node_id)

    def _label(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return _module_label(self.gm.get_submodule(node.target))
        if node.op == "get_attr":
            return "parameter"
        return calls.call_name(node)

    # ---------------------------------------------------------------- calls
    def _visit(self, node: fx.Node) -> Any:
        if node.op == "call_module":
            return self._module(node)
        if node.op == "get_attr":
            return _Held(node.target)
        if node.op == "call_function" and node.target is getattr:
            if self.values.get(node.args[0]) is FAILED:
                return FAILED
            if node.args[1] in ("shape", "dtype", "device"):
                return SIZE
            raise NoMapping(f"reads the attribute {node.args[1]!r} of a tensor")
        if node.op == "call_function" and node.target is operator.getitem:
            return self._getitem(node)
        inputs = [self.values.get(a) for a in node.all_input_nodes]
        if any(value is FAILED for value in inputs):
            return FAILED
        if node.op == "call_method" and node.target in calls.SIZE_METHODS:
            return SIZE
        if inputs and all(value is SIZE for value in inputs):
            return SIZE  # arithmetic on sizes (x.size(1) * x.size(2)) for a reshape's target
        if node.op == "call_method" and node.target in calls.PASS_THROUGH_METHODS:
            return self.tensor(node.args[0]) or FAILED
        if (node.op == "call_method" and node.target in calls.RESHAPE_METHODS) or \
                (node.op == "call_function" and node.target in calls.RESHAPE_FUNCTIONS):
            return self._reshape(node)
        if (node.op == "call_method" and node.target in calls.MEAN_METHODS) or \
                (node.op == "call_function" and node.target in calls.MEAN_FUNCTIONS):
            return self._spatial_mean(node)
        held = [a for a in node.all_input_nodes if isinstance(self.values.get(a), _Held)]
        if held and node.target in calls.BINARY and len(node.all_input_nodes) == 2:
            return self._with_held(node, held[0])
        both = self._both_directions(node)
        if both is not None:
            return both
        rules = calls.METHOD_RULES if node.op == "call_method" else calls.FUNCTION_RULES
        rule = rules.get(node.target)
        if rule is None:
            raise NoMapping(f"no catalog node for {calls.call_name(node)}")
        mapped = rule(node)
        if mapped is None:  # computes nothing a graph would show (an identity permutation)
            return self.tensor(node.args[0]) or FAILED
        return self._place(mapped, node.name, calls.call_name(node))

    def _module(self, node: fx.Node) -> Any:
        module = self.gm.get_submodule(node.target)
        label = _module_label(module)
        self.call_counts[node.target] = self.call_counts.get(node.target, 0) + 1
        if self.call_counts[node.target] == 2 and any(True for _ in module.parameters()):
            self.report.note(f"{node.target!r} is called more than once: each call is a node of its own that "
                             "starts from its weights, and they train separately")
        if isinstance(module, table.PASS_THROUGH_MODULES):
            return self.tensor(node.args[0]) or FAILED
        own = table.own_rules().get(type(module))
        if own is not None:  # LayerLoom's own module: a compiled graph imported back
            mapped = own(module)
            ports = mapped.inputs or [(0, "in")]
            if len(node.args) != len(ports) or any(v is not None for v in node.kwargs.values()):
                raise NoMapping(f"called with {len(node.args)} arguments where it takes {len(ports)}")
            mapped.inputs = [(node.args[i], port) for i, port in ports]
            return self._place(mapped, node.target, label)
        if len(node.args) != 1 or any(v is not None for v in node.kwargs.values()):  # mask=None is no argument
            if isinstance(module, table.RECURRENT):
                raise NoMapping("a starting state is passed in (the catalog's LSTM and GRU start from zeros)")
            raise NoMapping("called with more than one argument (a catalog node of this kind takes one input)")
        if isinstance(module, table.RECURRENT):
            table.recurrent_params(module, "last")  # refuse an unmappable configuration now
            return _Recurrent(node, "call")
        if isinstance(module, nn.TransformerEncoder):
            return self._stack(node, module, label)
        try:
            mapped = table.map_module(module)
        except NoMapping as reason:
            if _shape(node) is None:
                raise NoMapping(f"{reason}; it returns more than one tensor, so it cannot be kept as a "
                                "TorchModule node") from None
            try:
                mapped = table.opaque(module)
            except NoMapping as why:
                raise NoMapping(f"{reason}, and it cannot be kept as a TorchModule node: {why}") from None
            mapped.note = "kept as a TorchModule node"
        mapped.inputs = [(node.args[0], "in")]
        return self._place(mapped, node.target, label)

    def _stack(self, node: fx.Node, module: nn.TransformerEncoder, label: str) -> Any:
        """``nn.TransformerEncoder``: one TransformerEncoderLayer node per layer, then its norm, in a chain."""
        parts = [(f"{node.target}.layers.{i}", layer) for i, layer in enumerate(module.layers)]
        if module.norm is not None:
            parts.append((f"{node.target}.norm", module.norm))
        mapped_parts = [(hint, table.map_module(part)) for hint, part in parts]  # NoMapping before any node
        value: Any = node.args[0]
        for hint, mapped in mapped_parts:
            mapped.inputs = [(value, "in")]
            mapped.note = f"one of the {len(mapped_parts)} parts of an nn.TransformerEncoder"
            placed = self._place(mapped, hint, label)
            if not isinstance(placed, _Tensor):
                return placed
            value = placed
        return value

    def _getitem(self, node: fx.Node) -> Any:
        base, index = node.args
        got = self.values.get(base)
        if got is FAILED:
            return FAILED
        if got is SIZE:
            return SIZE
        if isinstance(got, _Recurrent):
            module = self.gm.get_submodule(got.call.target)
            is_lstm = isinstance(module, nn.LSTM)
            if got.stage == "call" and index in (0, 1):
                return _Recurrent(got.call, "seq" if index == 0 else ("state" if is_lstm else "h"))
            if got.stage == "state" and index == 0:
                return _Recurrent(got.call, "h")
            last = (got.stage == "seq" and index in LAST_STEP) or (got.stage == "h" and index == -1)
            if last and not module.bidirectional:
                return self._recurrent(got.call, "last")
            if got.stage == "h" and index in (-2, -1) and module.bidirectional:
                return _Recurrent(got.call, f"h{index}")  # torch.cat((h[-2], h[-1]), 1): both directions
            if got.stage == "state" and index == 1:
                raise NoMapping("uses the LSTM's cell state (the catalog's LSTM returns the hidden state)")
            if got.stage == "seq":
                return self._slice(node)
            raise NoMapping(f"indexes the {got.call.target!r} layer's {got.stage} with {index!r}")
        return self._slice(node)

    def _slice(self, node: fx.Node) -> Any:
        """``x[...]``: an ONNX Slice or Gather node (nothing when it selects everything)."""
        try:
            mapped = calls.indexing(node)
        except NoMapping as exc:
            raise NoMapping(f"x[{_index_text(node.args[1])}]: {exc}") from None
        if mapped is None:
            return self.tensor(node.args[0]) or FAILED
        return self._place(mapped, node.name, calls.call_name(node))

    def _with_held(self, node: fx.Node, held: fx.Node) -> Any:
        """Arithmetic between a value and a tensor the model holds (``x * self.gamma``, ``(x - self.mean)``)."""
        first = node.args[0] is held
        value = node.all_input_nodes[1] if node.all_input_nodes[0] is held else node.all_input_nodes[0]
        if isinstance(self.values.get(value), _Held):
            raise NoMapping("arithmetic between two of the model's own tensors")
        target = self.values[held].target
        tensor = operator.attrgetter(target)(self.gm)
        mapped = calls.with_model_tensor(node, value, tensor, target, first)
        return self._place(mapped, node.name, calls.call_name(node))

    def _both_directions(self, node: fx.Node) -> _Tensor | None:
        """``torch.cat((h[-2], h[-1]), dim=1)`` of a bidirectional layer: its last step, both directions."""
        if node.op != "call_function" or node.target not in (torch.cat, torch.concat):
            return None
        tensors = calls.arg(node, 0, "tensors")
        parts = [self.values.get(t) for t in tensors] if isinstance(tensors, (list, tuple)) else []
        if len(parts) == 2 and all(isinstance(p, _Recurrent) for p in parts) and parts[0].call is parts[1].call \
                and [p.stage for p in parts] == ["h-2", "h-1"] and calls.arg(node, 1, "dim", 0) in (1, -1):
            placed = self._recurrent(parts[0].call, "last")
            self.report.record(calls.call_name(node), "(part of the layer)", "the last states of both directions")
            return placed
        return None

    def _recurrent(self, call: fx.Node, output: str) -> _Tensor:
        key = (call, output)
        if key not in self.recurrent:
            module = self.gm.get_submodule(call.target)
            mapped = table.recurrent_params(module, output)
            mapped.inputs = [(call.args[0], "in")]
            twin = any(k[0] is call for k in self.recurrent)
            hint = f"{call.target}_{output}" if twin else call.target
            if twin:
                self.report.note(f"{call.target!r} is used both as a sequence and for its last step: two "
                                 f"{type(module).__name__} nodes start from its weights and train separately")
            placed = self._place(mapped, hint, _module_label(module))
            if not isinstance(placed, _Tensor):
                raise NoMapping("its input was not mapped")
            self.recurrent[key] = placed
        return self.recurrent[key]

    def _spatial_mean(self, node: fx.Node) -> Any:
        """``x.mean((2, 3))`` of an image: AdaptiveAvgPool2d to 1x1, then Flatten unless ``keepdim``; other
        means and sums run as ONNX ReduceMean/ReduceSum."""
        before = _shape(node.args[0])
        dims = calls.arg(node, 1, "dim")
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        name = calls.call_name(node)
        mean = node.target in ("mean", torch.mean)
        if not mean or before is None or len(before) != 4 or \
                sorted(d % 4 for d in dims if isinstance(d, int)) != [2, 3]:
            return self._place(calls.reduction("ReduceMean" if mean else "ReduceSum", node), node.name, name)
        pooled = self._place(Mapped("AdaptiveAvgPool2d", {"output_size": 1}, inputs=[(node.args[0], "in")],
                                    note="a mean over height and width"), node.name, name)
        if calls.arg(node, 2, "keepdim", False) or not isinstance(pooled, _Tensor):
            return pooled
        node_id = self.builder.add("Flatten", {"start_dim": 1}, f"{node.name}_flat")
        self.builder.connect(pooled.node_id, pooled.port, node_id, "in")
        return _Tensor(node_id)

    def _reshape(self, node: fx.Node) -> Any:
        tensor = self.tensor(node.args[0])
        if tensor is None:
            return FAILED
        before, after = _shape(node.args[0]), _shape(node)
        if before is None or after is None or not after or after[0] != before[0]:
            raise NoMapping("a reshape that does not keep the batch dimension first")
        name = calls.call_name(node)
        if after == before:
            return tensor
        if len(after) == 2 and len(before) > 2:
            mapped = Mapped("Flatten", {"start_dim": 1}, inputs=[(node.args[0], "in")])
        else:
            mapped = Mapped("Reshape", {"shape": list(after[1:])}, inputs=[(node.args[0], "in")],
                            note="target shape taken from the example input")
        return self._place(mapped, node.name, name)


def _index_text(index: Any) -> str:
    items = index if isinstance(index, tuple) else (index,)

    def one(item):
        if isinstance(item, slice):
            return ":".join("" if v is None else str(v) for v in (item.start, item.stop, item.step)).rstrip(":") or ":"
        return "..." if item is Ellipsis else str(item)
    return ", ".join(one(item) for item in items)


# ------------------------------------------------------------------------------------ public API
def _examples(example_input) -> tuple[torch.Tensor, ...]:
    examples = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not examples or not all(isinstance(x, torch.Tensor) for x in examples):
        raise ModelImportError("from_module needs an example input tensor (or a tuple of them), batch first")
    return examples


def from_module(model: nn.Module, example_input, *, name: str | None = None, source: str | None = None,
                verify: bool = True) -> ImportResult:
    """``model`` as a graph with its weights: traced with torch.fx, shaped by ``example_input`` (a tensor,
    batch first, or a tuple of them, one per ``forward`` argument), each call mapped to a catalog node.

    Raises ``ModelImportError`` naming what cannot be traced or mapped (its report lists every unmapped call).
    With ``verify``, the imported graph is compiled and must give the model's outputs on the example."""
    if not isinstance(model, nn.Module):
        raise ModelImportError(f"from_module needs an nn.Module, not {type(model).__name__}")
    examples = _examples(example_input)
    label = source or type(model).__name__
    odd = sorted({str(t.dtype).removeprefix("torch.") for t in model.state_dict().values()
                  if t.is_floating_point() and t.dtype != torch.float32})
    if odd:
        raise ModelImportError(f"{label}: its weights are {', '.join(odd)}; LayerLoom computes in float32, so "
                               "convert the model first (model.float())")
    gm = trace(model, label, len(examples))
    propagate_shapes(gm, examples, label)
    builder = GraphBuilder(name or type(model).__name__, label)
    walker = _Walker(gm, builder, examples)
    walker.run()
    report = builder.report
    if not report.ok:
        unmapped = report.to_json()["unsupported"]
        listed = "; ".join(f"{op}: {reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else "")
                           for op, reasons in ((op, list(dict.fromkeys(found))) for op, found in unmapped.items()))
        raise ModelImportError(f"{label}: cannot be opened as a graph: {listed}", report)
    result = builder.finish()
    if verify:
        check_outputs(result, model, examples)
    return result


__all__ = ["from_module", "import_python_file", "model_classes", "check_outputs"]
