"""The walk over an ONNX graph that ``import_onnx`` runs: inputs to Input nodes, constants folded, each
operator to catalog nodes (``onnx_mapping``) or an "ONNX operator" node, outputs to Output nodes.

``OnnxImporter`` is also the toolbox the mapping functions use: the value behind each ONNX input (a ``Wire``
or a ``Constant``), the node's attributes as plain values, names for new nodes, and the consumers of a value
(for patterns such as MatMul + Add that become one node).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from layerloom.catalog.builtin.onnx_torch import BATCH, supported
from layerloom.importers.builder import GraphBuilder
from layerloom.importers.onnx_values import Constant, Wire, fold, operand_entry, shape_of, to_tensor
from layerloom.importers.report import ImportResult, ModelImportError

INPUT_DTYPES = {1: "float32", 7: "int64"}
CONTROL_FLOW = ("If", "Loop", "Scan", "SequenceMap")
WEIGHT_SUFFIXES = re.compile(r"(\.weight|\.bias|_w_0|_b_0|_s_0|_w|_W|_weight|/weights?|/kernel|_kernel)$")
MAX_OPERATOR_PORTS = 16


class OnnxImporter:
    """One import: ``run()`` returns the ``ImportResult`` or raises ``ModelImportError``."""

    def __init__(self, model, builder: GraphBuilder):
        self.model = model
        self.onnx_graph = model.graph
        self.builder = builder
        self.report = builder.report
        self.source = builder.source
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.values: dict[str, Wire | Constant] = {}
        self.shapes: dict[str, tuple[tuple | None, int]] = {}
        for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
            self.shapes[info.name] = (shape_of(info), info.type.tensor_type.elem_type)
        # One wrapper object per node, kept: protobuf may hand out a new wrapper on each access, and the walk
        # tells nodes apart by identity (live, skipped)
        self.nodes = list(model.graph.node)
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.graph_outputs = [o.name for o in model.graph.output]
        self.skipped: set[int] = set()   # id() of nodes a pattern took in
        self.prefix = _shared_prefix([init.name for init in model.graph.initializer])   # "gpu_0/": says nothing

    # ------------------------------------------------------------------ the walk
    def run(self) -> ImportResult:
        from layerloom.importers.onnx_mapping import MAPPERS

        for init in self.onnx_graph.initializer:
            self.values[init.name] = Constant(to_tensor(_array(init)))
        for node in self.nodes:   # Constant nodes first: a pattern may look ahead at one written after it
            if node.op_type == "Constant":
                self.values[node.output[0]] = Constant(_constant_value(node))
                self.report.record("Constant", "constant (folded)")
                self.skip(node)
        live = self._live_nodes()
        self._refuse_unsupported(live, MAPPERS)
        for node in self.nodes:   # constants computed from constants, also first (a Mul's scale after its BN)
            args = [self.values.get(name) if name else None for name in node.input]
            if id(node) in live and id(node) not in self.skipped and supported(node.op_type) and node.input \
                    and all(isinstance(a, Constant) for name, a in zip(node.input, args) if name):
                self._fold(node, args)
                self.skip(node)
        self._inputs(live)
        for node in self.nodes:
            if id(node) not in live or id(node) in self.skipped:
                continue
            self._node(node, MAPPERS)
        self._outputs()
        return self.builder.finish()

    def _live_nodes(self) -> set[int]:
        """The nodes an output depends on (an unused branch or a Dropout's mask is left out)."""
        producer = {name: node for node in self.nodes for name in node.output if name}
        live: set[int] = set()
        stack = [producer[name] for name in self.graph_outputs if name in producer]
        while stack:
            node = stack.pop()
            if id(node) in live:
                continue
            live.add(id(node))
            stack.extend(producer[name] for name in node.input if name in producer)
        return live

    def _refuse_unsupported(self, live: set[int], mappers) -> None:
        for node in self.nodes:
            if id(node) not in live:
                continue
            op = node.op_type
            if node.domain not in ("", "ai.onnx"):
                self.report.unsupported(f"{node.domain}.{op}", "an operator of a custom domain")
            elif op in CONTROL_FLOW:
                self.report.unsupported(op, "control flow (a subgraph) is not supported")
            elif op not in mappers and not supported(op) and op != "Constant":
                self.report.unsupported(op, "no catalog node and no PyTorch implementation")
        if not self.report.ok:
            names = ", ".join(self.report.unsupported_ops)
            raise ModelImportError(f"{self.source}: LayerLoom cannot run the ONNX operator"
                                   f"{'s' if len(self.report.unsupported_ops) > 1 else ''} {names}, so the "
                                   "model does not open", self.report)

    def _inputs(self, live: set[int]) -> None:
        used = {name for node in self.nodes if id(node) in live for name in node.input}
        for value in self.onnx_graph.input:
            if value.name in self.values:   # an initializer listed as an input (older files)
                continue
            if value.name not in used and value.name not in self.graph_outputs:
                self.report.note(f"input {value.name!r} is not used by the model and was left out")
                continue
            shape, elem = shape_of(value), value.type.tensor_type.elem_type
            dtype = INPUT_DTYPES.get(elem)
            if dtype is None:
                raise ModelImportError(f"{self.source}: input {value.name!r} holds {_elem_name(elem)} values; "
                                       "LayerLoom inputs are float32 or int64", self.report)
            if shape is not None and len(shape) < 2:
                raise ModelImportError(
                    f"{self.source}: input {value.name!r} has {'no dimension' if not shape else 'one dimension'}; "
                    "LayerLoom takes the first dimension of an input as the batch, and each sample needs at least "
                    "one dimension of its own", self.report)
            if shape is None or any(not isinstance(d, int) or d < 1 for d in shape[1:]):
                dims = "unknown" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"
                raise ModelImportError(
                    f"{self.source}: input {value.name!r} has the shape {dims}; LayerLoom inputs are a batch of "
                    "samples of a fixed size (fix the sizes when exporting the model)", self.report)
            node_id = self.builder.add("Input", {"shape": list(shape[1:]), "dtype": dtype}, value.name)
            self.values[value.name] = Wire(node_id, "out", (BATCH,) + tuple(shape[1:]), elem)

    def _outputs(self) -> None:
        made = 0
        for name in self.graph_outputs:
            value = self.values.get(name)
            if isinstance(value, Wire):
                node_id = self.builder.add("Output", {}, name)
                self.feed(value, node_id, "in")
                made += 1
            else:
                self.report.note(f"output {name!r} is a constant and was left out")
        if not made:
            raise ModelImportError(f"{self.source}: no output of the model depends on its inputs", self.report)

    def _node(self, node, mappers) -> None:
        op = node.op_type
        args = [self.values.get(name) if name else None for name in node.input]
        missing = [name for name, arg in zip(node.input, args) if name and arg is None]
        if missing:
            raise ModelImportError(f"{self.source}: {op} {node.name or node.output[0]!r} reads {missing[0]!r}, "
                                   "which nothing before it makes", self.report)
        if op == "Shape" and isinstance(args[0], Wire) and self._fold_shape(node, args[0]):
            return
        if all(not isinstance(a, Wire) for a in args) and supported(op):
            self._fold(node, args)
            return
        mapper = mappers.get(op)
        if mapper is not None and mapper(self, node):
            return
        if not supported(op):
            self.report.unsupported(op, "this use of it has no catalog node, and no PyTorch implementation")
            raise ModelImportError(f"{self.source}: {op} {node.name or node.output[0]!r} is used in a way LayerLoom "
                                   f"cannot map (see docs/import.md for the {op} it takes), so the model does not "
                                   "open", self.report)
        self.generic(node, "these settings have no catalog node" if mapper is not None else "")

    def _fold(self, node, args: list) -> None:
        """Compute ``node`` from its constant ``args`` now; its outputs become constants."""
        op = node.op_type
        try:
            outs = fold(op, args, self.attributes(node))
        except Exception as exc:  # noqa: BLE001 - the op refuses its constants
            raise ModelImportError(f"{self.source}: {op} {node.name or node.output[0]!r} fails on its "
                                   f"constants: {exc}", self.report) from None
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = value
        self.report.record(op, "constant (folded)")

    def _fold_shape(self, node, wire: Wire) -> bool:
        shape = wire.shape
        if shape is None or any(not isinstance(d, int) for d in shape[1:]):
            return False
        attrs = self.attributes(node)
        start, end = attrs.get("start", 0), attrs.get("end", None)
        per_batch = tuple(torch.tensor(([b] + list(shape[1:]))[start:end], dtype=torch.int64)
                          for b in (2, 3))
        same = torch.equal(per_batch[0], per_batch[1])
        self.values[node.output[0]] = Constant(per_batch[0], None if same else per_batch)
        self.report.record("Shape", "constant (folded)", "the batch size kept symbolic")
        return True

    # ------------------------------------------------------------------ the mappers' toolbox
    def arg(self, node, i: int) -> Wire | Constant | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        return self.values.get(node.input[i])

    def wire(self, node, i: int) -> Wire | None:
        value = self.arg(node, i)
        return value if isinstance(value, Wire) else None

    def const(self, node, i: int) -> torch.Tensor | None:
        """Input ``i`` when it is a constant that does not depend on the batch size."""
        value = self.arg(node, i)
        return value.value if isinstance(value, Constant) and value.batched is None else None

    def attributes(self, node) -> dict[str, Any]:
        attrs = {a.name: _attribute_value(a) for a in node.attribute}
        if node.op_type in ("Softmax", "LogSoftmax", "Hardmax", "Resize", "Upsample"):
            attrs["_opset"] = self.opset
        if node.op_type == "Upsample":
            attrs["_op"] = "Upsample"
        if node.op_type == "Split":
            attrs["_outputs"] = len(node.output)
        return attrs

    def hint(self, node, weight: int | None = None) -> str:
        """A name for the node made from ``node``: its weight's name (``fc1.weight`` -> ``fc1``), else the
        node's own name (``/layer1/conv/Conv`` -> ``layer1/conv``), else its op type."""
        if weight is not None and weight < len(node.input) and node.input[weight]:
            raw = node.input[weight]
            stem = WEIGHT_SUFFIXES.sub("", raw).strip("/")
            if stem and not raw.startswith("onnx::"):   # TorchScript's anonymous onnx::Conv_12 says nothing
                return stem[len(self.prefix):] if stem.startswith(self.prefix) and stem != self.prefix else stem
        name = node.name.strip("/")
        if name:
            parts = name.split("/")
            if len(parts) > 1 and parts[-1].split("_")[0] == node.op_type:
                parts = parts[:-1]
            name = "/".join(parts)
            name = re.sub(r"^node_", "", name)
        if re.fullmatch(r"[A-Za-z]{0,4}_?\d*", name) or re.fullmatch(rf"{node.op_type}_?\d*", name, re.I):
            name = ""   # "17", "n17", "Reshape_47": a counter says less than the op type
        return name or node.op_type.lower()

    def add(self, type_id: str, params: dict, hint: str, weights: dict | None = None) -> str:
        return self.builder.add(type_id, params, hint, weights)

    def feed(self, value: Wire, node_id: str, port: str) -> None:
        self.builder.connect(value.node, value.port, node_id, port)

    def produce(self, name: str, node_id: str, port: str = "out") -> None:
        """``name`` (an ONNX output) is made by ``node_id``'s ``port`` from now on."""
        shape, elem = self.shapes.get(name, (None, 1))
        if shape is not None and len(shape):
            shape = (BATCH,) + tuple(shape[1:])
        self.values[name] = Wire(node_id, port, shape, elem)

    def alias(self, name: str, value: Wire | Constant) -> None:
        self.values[name] = value

    def sole_consumer(self, name: str, op_type: str | None = None):
        """The one node that reads ``name`` (of ``op_type``, when given), if ``name`` is not a graph output."""
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or name in self.graph_outputs:
            return None
        reader = readers[0]
        return reader if op_type is None or reader.op_type == op_type else None

    def skip(self, node) -> None:
        self.skipped.add(id(node))

    def record(self, node, mapped_to: str, note: str = "") -> None:
        self.report.record(node.op_type, mapped_to, note)

    def used_outputs(self, node) -> list[int]:
        return [i for i, name in enumerate(node.output)
                if name and (name in self.consumers or name in self.graph_outputs)]

    # ------------------------------------------------------------------ the "ONNX operator" node
    def generic(self, node, note: str = "") -> None:
        """``node`` as "ONNX operator" nodes (one per output read later), run by the PyTorch table."""
        operands, weights, wires = [], {}, []
        for i, name in enumerate(node.input):
            value = self.arg(node, i)
            if value is None:
                operands.append(None)
            elif isinstance(value, Wire):
                wires.append(value)
                operands.append(f"in{len(wires)}")
            else:
                try:
                    entry, tensor = operand_entry(value, f"c{i}")
                except ValueError as exc:
                    raise ModelImportError(f"{self.source}: {node.op_type} {node.name or node.output[0]!r} takes "
                                           f"{exc}; LayerLoom cannot keep it", self.report) from None
                operands.append(entry)
                if tensor is not None:
                    weights[entry["buffer"]] = tensor
        if len(wires) > MAX_OPERATOR_PORTS:
            raise ModelImportError(f"{self.source}: {node.op_type} {node.name!r} takes {len(wires)} tensors; an "
                                   f"ONNX operator node takes at most {MAX_OPERATOR_PORTS}", self.report)
        if len(wires) == 1:
            operands = ["in" if entry == "in1" else entry for entry in operands]
        import json

        for index in self.used_outputs(node) or [0]:
            params = {"op_type": node.op_type, "attributes": json.dumps(self.attributes(node)),
                      "operands": json.dumps(operands), "output": index}
            hint = self.hint(node) if index == 0 else f"{self.hint(node)}_out{index}"
            node_id = self.add("ONNX operator", params, hint, weights if index == 0 else dict(weights))
            for k, wire in enumerate(wires):
                self.feed(wire, node_id, "in" if len(wires) == 1 else f"in{k + 1}")
            self.produce(node.output[index], node_id)
        self.record(node, "ONNX operator", note)


def _shared_prefix(names: list[str]) -> str:
    """The first path part all ``names`` share (``"gpu_0/"``), or ""."""
    from collections import Counter

    heads = Counter(name.split("/", 1)[0] + "/" for name in names if "/" in name)
    if not heads:
        return ""
    head, count = heads.most_common(1)[0]
    return head if len(heads) == 1 and count >= 0.8 * len(names) else ""


def _array(tensor_proto) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor_proto)


def _constant_value(node) -> torch.Tensor:
    for attr in node.attribute:
        if attr.name == "value":
            return to_tensor(_array(attr.t))
        if attr.name in ("value_float", "value_floats"):
            return torch.tensor(_attribute_value(attr), dtype=torch.float32)
        if attr.name in ("value_int", "value_ints"):
            return torch.tensor(_attribute_value(attr), dtype=torch.int64)
    raise ModelImportError(f"Constant {node.name or node.output[0]!r} has no value LayerLoom reads")


def _attribute_value(attr) -> Any:
    from onnx import helper

    if attr.type == attr.TENSOR:
        array = _array(attr.t)
        return {"values": array.tolist(), "dtype": str(array.dtype) if array.dtype != np.float64 else "float32"}
    if attr.type in (attr.GRAPH, attr.GRAPHS):
        return None
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
    return value


def _elem_name(elem: int) -> str:
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(elem).lower()
    except ValueError:
        return f"type {elem}"
