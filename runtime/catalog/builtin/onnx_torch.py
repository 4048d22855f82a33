"""ONNX operators run in PyTorch: the table behind the "ONNX operator" node (``onnx_op``) and the importer's
constant folding. Imported only when such a node is built or its shapes inferred (it imports torch).

This module holds the machinery (``Const``, ``Call``, the ``IMPLEMENTATIONS`` table, ``run_op`` and the
``OnnxOperator`` module); the tables fill it: ``onnx_ops_math`` (element-wise, softmax, reductions),
``onnx_ops_shape`` (reshaping, slicing, joining, padding, resizing), ``onnx_ops_nn`` (convolutions, Gemm,
normalisations, pooling).

``IMPLEMENTATIONS[op_type](args, attrs)`` returns the op's outputs (a tensor, or a tuple for several).
``args`` are the op's inputs in ONNX order: a tensor (a wire or a buffer), a ``Const`` (a small constant
kept in the node's params: shapes, axes, scales) or None (an optional input left out). Everything here is
traceable by ``torch.onnx.export``: values that decide shapes come from ``Const``s, never from tensor data.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

import torch

BATCH = "N"   # in a Const's values: the batch size of the node's first tensor input, known when it runs

# ONNX TensorProto element types -> torch dtypes (the ones a network uses)
ONNX_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
               9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}
DTYPE_NAMES = {torch.float32: "float32", torch.int64: "int64", torch.int32: "int32", torch.bool: "bool",
               torch.float64: "float64", torch.float16: "float16", torch.uint8: "uint8", torch.int8: "int8",
               torch.int16: "int16", torch.bfloat16: "bfloat16"}
TORCH_DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}


class Const:
    """A small constant input: nested lists of numbers (``"N"`` for the batch size) and a dtype name."""

    __slots__ = ("values", "dtype", "tensor")

    def __init__(self, values: Any, dtype: str = "int64", tensor: torch.Tensor | None = None):
        self.values = values
        self.dtype = dtype
        self.tensor = tensor   # the same values made once (a module's buffer): tracing sees no torch.tensor()

    def resolved(self, batch) -> Any:
        def walk(value):
            if isinstance(value, list):
                return [walk(v) for v in value]
            return batch if value == BATCH else value
        return walk(self.values)

    def __repr__(self) -> str:
        return f"Const({self.values!r}, {self.dtype})"


class Call:
    """One run of an op: its arguments with the batch size resolved, and helpers to read them."""

    def __init__(self, args: Sequence[Any], attrs: dict[str, Any]):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        self.like = tensors[0] if tensors else None
        batch = self.like.shape[0] if self.like is not None and self.like.dim() else 1
        self.args = [Const(a.resolved(batch), a.dtype) if isinstance(a, Const) and a.tensor is None else a
                     for a in args]
        self.attrs = attrs

    def __len__(self) -> int:
        return len(self.args)

    def arg(self, i: int) -> Any:
        return self.args[i] if i < len(self.args) else None

    def tensor(self, i: int) -> torch.Tensor | None:
        """Input ``i`` as a tensor (a ``Const`` made into one on the first tensor's device)."""
        a = self.arg(i)
        if a is None or isinstance(a, torch.Tensor):
            return a
        if a.tensor is not None:
            return a.tensor
        device = self.like.device if self.like is not None else None
        return torch.tensor(a.values, dtype=TORCH_DTYPES.get(a.dtype, torch.float32), device=device)

    def values(self, i: int, default=None) -> Any:
        """Input ``i`` as Python numbers (it must be a ``Const``, or a concrete tensor outside tracing)."""
        a = self.arg(i)
        if a is None:
            return default
        if isinstance(a, Const):
            return a.values
        return a.tolist()

    def ints(self, i: int, default=None) -> list | None:
        v = self.values(i, default)
        if v is None:
            return None
        return [int(x) if isinstance(x, (int, float)) else x for x in (v if isinstance(v, list) else [v])]  # a traced size stays

    def attr(self, name: str, default=None) -> Any:
        return self.attrs.get(name, default)


Impl = Callable[[Call], Any]
IMPLEMENTATIONS: dict[str, Impl] = {}


def op(*names: str):
    def register(fn: Impl) -> Impl:
        for name in names:
            IMPLEMENTATIONS[name] = fn
        return fn
    return register


def run_op(op_type: str, args: Sequence[Any], attrs: dict[str, Any]):
    """The outputs of ``op_type`` on ``args`` (always a tuple)."""
    result = IMPLEMENTATIONS[op_type](Call(args, attrs))
    return result if isinstance(result, tuple) else (result,)


def torch_pad(pads: list[int]) -> list[int]:
    """ONNX pads (all begins, then all ends) as F.pad's (last axis first, begin and end)."""
    dims = len(pads) // 2
    out = []
    for i in reversed(range(dims)):
        out += [pads[i], pads[i + dims]]
    return out


def supported(op_type: str) -> bool:
    return op_type in IMPLEMENTATIONS


class OnnxOperator(torch.nn.Module):
    """One ONNX operator as a module: wired inputs in ``forward``, buffers for its larger constants (they
    travel with the weights), small constants and attributes as plain values."""

    def __init__(self, op_type: str, attributes: dict, operands: list, output: int = 0, device=None):
        super().__init__()
        self.op_type = op_type
        self.attributes = dict(attributes)
        self.operands = list(operands)
        self.output = int(output)
        for entry in self.operands:
            if isinstance(entry, dict) and "buffer" in entry:
                dtype = TORCH_DTYPES.get(entry.get("dtype", "float32"), torch.float32)
                self.register_buffer(entry["buffer"], torch.zeros(entry["shape"], dtype=dtype, device=device))
        self._args = [self._argument(i, entry, device) for i, entry in enumerate(self.operands)]

    def _argument(self, index: int, entry, device):
        if isinstance(entry, dict) and "const" in entry:
            const = Const(entry["const"], entry.get("dtype", "int64"))
            if BATCH not in json.dumps(const.values):   # made once, moved with the module, never saved
                name = f"k{index}"
                self.register_buffer(name, torch.tensor(const.values, dtype=TORCH_DTYPES.get(const.dtype,
                                     torch.float32), device=device), persistent=False)
                return ("const", name, const)
            return const
        if isinstance(entry, dict):
            return ("buffer", entry["buffer"])
        return entry   # a port name (a wire), or None

    def forward(self, *inputs: torch.Tensor):
        wires = iter(inputs)
        args = []
        for arg in self._args:
            if isinstance(arg, str):
                args.append(next(wires))
            elif isinstance(arg, tuple) and arg[0] == "const":
                args.append(Const(arg[2].values, arg[2].dtype, getattr(self, arg[1])))
            elif isinstance(arg, tuple):
                args.append(getattr(self, arg[1]))
            else:
                args.append(arg)
        outputs = run_op(self.op_type, args, self.attributes)
        if self.output >= len(outputs):
            raise IndexError(f"ONNX {self.op_type} has {len(outputs)} outputs, not {self.output + 1}")
        return outputs[self.output]

    def extra_repr(self) -> str:
        return f"{self.op_type}, output={self.output}" if self.output else self.op_type


# The tables: importing them registers their operators in IMPLEMENTATIONS.
from layerloom.catalog.builtin import onnx_ops_math, onnx_ops_nn, onnx_ops_shape  # noqa: E402,F401
