"""Helpers shared by the catalog modules: common params, sliding-window size arithmetic, and the
lazily imported PyTorch modules that build functions use."""

from __future__ import annotations

import math

from layerloom.core.lazy import LazyModule
from layerloom.core.errors import ShapeError
from layerloom.core.params import BoolParam, IntParam
from layerloom.core.shapes import format_shape

# Palette categories, in palette order.
IO = "Inputs & Outputs"
DENSE = "Dense"
CONV = "Convolution"
POOL = "Pooling"
NORM = "Normalization"
SHAPE = "Shape"
SEQUENCE = "Sequence"
MERGE = "Merge"
ACTIVATION = "Activation"
LOSSES = "Loss"
ONNX = "Imported"   # operators of imported models with no node of their own
CATEGORIES = (IO, DENSE, CONV, POOL, NORM, SHAPE, SEQUENCE, MERGE, ACTIVATION, LOSSES, ONNX)

# Loading the catalog, inferring shapes and counting parameters need no PyTorch; these modules are
# imported when a node is first built (``nn.Linear(...)`` inside a build function).
torch = LazyModule("torch")
nn = LazyModule("torch.nn")
ll_modules = LazyModule(".modules", __package__)  # LayerLoom's own nn.Module subclasses

BIAS = BoolParam("bias", True, "Learn an additive bias")


def positive(name: str, default: int, doc: str, maximum: int = 1_000_000) -> IntParam:
    return IntParam(name, default, doc, minimum=1, maximum=maximum)


def window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a convolution/pooling window along one axis (PyTorch's formula)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = math.ceil(span / stride) + 1
        # PyTorch: the last window must start inside the input or the left padding.
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def spatial_out(ctx, sizes, kernel, stride, padding, dilation=None, ceil_mode=False, axis_names=None):
    """Apply ``window_out`` per spatial axis, raising a ShapeError that names the axis when a
    window does not fit."""
    n = len(sizes)
    dilation = dilation or (1,) * n
    axis_names = axis_names or (("length",) if n == 1 else ("height", "width"))
    out = []
    for i in range(n):
        o = window_out(sizes[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
        if o < 1:
            effective = dilation[i] * (kernel[i] - 1) + 1
            raise ShapeError(
                f"the {axis_names[i]} {sizes[i]} (padded to {sizes[i] + 2 * padding[i]}) is smaller than the "
                f"kernel {effective}; use a smaller kernel, more padding, or remove a pooling step before it",
                "in", "kernel_size",
            )
        out.append(o)
    return tuple(out)


def check_half_kernel(padding, kernel):
    """PyTorch pools require padding <= kernel_size // 2 (the plain kernel, whatever the dilation)."""
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ShapeError(f"padding {p} must be at most half the kernel size ({k // 2})", param="padding")


def check_dim(dim: int, rank: int, what: str = "dim") -> int:
    """Normalise a (possibly negative) dim for a tensor of ``rank`` (batch included); refuse the batch dim."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{what} {dim} is out of range for a {rank}-D tensor (valid: 1 to {rank - 1}, or negative)",
                         param=what)
    if dim % rank == 0:
        raise ShapeError(f"{what} {dim} is the batch dimension; use 1 to {rank - 1} (or -1 for the last)",
                         param=what)
    return dim % rank


def shape_text(spec) -> str:
    return format_shape(spec.shape)
