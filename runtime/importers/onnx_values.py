"""The values an ONNX import tracks: a ``Wire`` (a tensor that flows at run time, made by a LayerLoom node) or a
``Constant`` (known at import time, perhaps per batch size), and the helpers that fold constants and decide how
an "ONNX operator" node keeps one (in its params or as a buffer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from layerloom.catalog.builtin.onnx_torch import BATCH, DTYPE_NAMES, ONNX_DTYPES, run_op

FOLD_BATCHES = (2, 3)          # a batch-dependent constant is computed for both
INLINE_INTS = 64               # integer constants up to this many values stay in the node's params
INLINE_FLOATS = 16             # float ones up to this many; larger ones become buffers


@dataclass
class Wire:
    """A tensor that flows at run time: the LayerLoom node and port that produce it, its shape (the batch
    first, as ``"N"``; ``None`` for a size shape inference did not find) and ONNX element type."""

    node: str
    port: str
    shape: tuple | None
    elem: int = 1
    time_major: bool = False   # seen through a Transpose to time first, which only an LSTM/GRU node takes

    @property
    def rank(self) -> int | None:
        return len(self.shape) if self.shape is not None else None


@dataclass
class Constant:
    """A value known at import time; ``batched`` holds it for each of ``FOLD_BATCHES`` when it depends on
    the batch size (then ``value`` is the first)."""

    value: torch.Tensor
    batched: tuple[torch.Tensor, ...] | None = None

    def at(self, k: int) -> torch.Tensor:
        return self.batched[k] if self.batched is not None else self.value


def shape_of(value_info) -> tuple | None:
    """An ONNX value's shape: ints where known, ``"N"`` for the batch, None for an unknown size; None for an
    unknown rank."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = []
    for i, dim in enumerate(tensor.shape.dim):
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif i == 0:
            dims.append(BATCH)
        else:
            dims.append(None)
    return tuple(dims)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.array(array, copy=True, order="C"))   # (ascontiguousarray makes a scalar 1-D)


def dtype_name(tensor: torch.Tensor) -> str:
    return DTYPE_NAMES.get(tensor.dtype, "float32")


def operand_entry(value: Constant, buffer_name: str) -> tuple[dict, torch.Tensor | None]:
    """How an "ONNX operator" node keeps a constant input: in its params (small, or one that follows the
    batch) or as a buffer in the weights. Returns the entry and the buffer's tensor (None if inline)."""
    tensor = value.value
    if value.batched is not None:
        return {"const": batch_marked(value), "dtype": dtype_name(tensor)}, None
    small = tensor.numel() <= (INLINE_FLOATS if tensor.is_floating_point() else INLINE_INTS)
    if small:
        return {"const": tensor.tolist(), "dtype": dtype_name(tensor)}, None
    return {"buffer": buffer_name, "shape": list(tensor.shape), "dtype": dtype_name(tensor)}, tensor


def batch_marked(value: Constant) -> Any:
    """A batch-dependent integer constant as a list with ``"N"`` where it follows the batch size; raises
    ``ValueError`` when it follows the batch in another way (a product, a shape that grows)."""
    first, second = value.batched
    if first.shape != second.shape or first.is_floating_point() or first.numel() > INLINE_INTS:
        raise ValueError("a constant whose size depends on the batch size")
    a, b = first.reshape(-1).tolist(), second.reshape(-1).tolist()
    marked = []
    for x, y in zip(a, b):
        if x == y:
            marked.append(x)
        elif (x, y) == FOLD_BATCHES:
            marked.append(BATCH)
        else:
            raise ValueError(f"a constant computed from the batch size ({x} for a batch of {FOLD_BATCHES[0]})")
    if first.dim() == 0:
        return marked[0]
    return np.array(marked, dtype=object).reshape(tuple(first.shape)).tolist()


def fold(op_type: str, args: list, attrs: dict) -> tuple[Constant, ...]:
    """Run ``op_type`` on constants; for batch-dependent ones, once per batch size."""
    if not any(isinstance(a, Constant) and a.batched is not None for a in args):
        outs = run_op(op_type, [a.value if isinstance(a, Constant) else a for a in args], attrs)
        return tuple(Constant(o) for o in outs)
    runs = [run_op(op_type, [a.at(k) if isinstance(a, Constant) else a for a in args], attrs)
            for k in range(len(FOLD_BATCHES))]
    results = []
    for outs in zip(*runs):
        same = all(o.shape == outs[0].shape and torch.equal(o, outs[0]) for o in outs[1:])
        results.append(Constant(outs[0]) if same else Constant(outs[0], tuple(outs)))
    return tuple(results)


def elem_dtype(elem: int) -> torch.dtype:
    return ONNX_DTYPES.get(elem, torch.float32)
