"""ONNX operators run in PyTorch: the table behind the "ONNX operator" node (``onnx_op``) and the importer's
constant folding. Imported only when such a node is built or its shapes inferred (it imports torch).

``IMPLEMENTATIONS[op_type](args, attrs)`` returns the op's outputs (a tensor, or a tuple for several).
``args`` are the op's inputs in ONNX order: a tensor (a wire or a buffer), a ``Const`` (a small constant
kept in the node's params: shapes, axes, scales) or None (an optional input left out). Everything here is
traceable by ``torch.onnx.export``: values that decide shapes come from ``Const``s, never from tensor data.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

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


# ------------------------------------------------------------------ element-wise
def _unary(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    IMPLEMENTATIONS[name] = lambda c: fn(c.tensor(0))


for _name, _fn in {
    "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp, "Log": torch.log,
    "Sqrt": torch.sqrt, "Neg": torch.neg, "Abs": torch.abs, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
    "Ceil": torch.ceil, "Round": torch.round, "Sign": torch.sign, "Erf": torch.erf, "Sin": torch.sin,
    "Cos": torch.cos, "Not": torch.logical_not, "Softsign": F.softsign, "Identity": lambda x: x,
    "Mish": F.mish, "IsNaN": torch.isnan,
}.items():
    _unary(_name, _fn)


def _binary(name: str, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    IMPLEMENTATIONS[name] = lambda c: fn(c.tensor(0), c.tensor(1))


for _name, _fn in {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Pow": torch.pow, "Equal": torch.eq,
    "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le, "GreaterOrEqual": torch.ge,
    "And": torch.logical_and, "Or": torch.logical_or, "Xor": torch.logical_xor, "MatMul": torch.matmul,
}.items():
    _binary(_name, _fn)


@op("Div")
def _div(c: Call):
    a, b = c.tensor(0), c.tensor(1)
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


@op("Mod")
def _mod(c: Call):
    a, b = c.tensor(0), c.tensor(1)
    return torch.fmod(a, b) if c.attr("fmod", 0) else torch.remainder(a, b)


def _variadic_for(name: str):
    combine = {"Sum": torch.add, "Mean": torch.add, "Max": torch.maximum, "Min": torch.minimum}[name]

    def impl(c: Call):
        tensors = [c.tensor(i) for i in range(len(c)) if c.arg(i) is not None]
        out = tensors[0]
        for t in tensors[1:]:
            out = combine(out, t)
        return out / len(tensors) if name == "Mean" else out
    return impl


for _name in ("Sum", "Max", "Min", "Mean"):
    IMPLEMENTATIONS[_name] = _variadic_for(_name)


@op("Where")
def _where(c: Call):
    return torch.where(c.tensor(0).bool(), c.tensor(1), c.tensor(2))


@op("Clip")
def _clip(c: Call):
    x = c.tensor(0)
    low = c.values(1, c.attr("min"))
    high = c.values(2, c.attr("max"))
    low = low[0] if isinstance(low, list) else low
    high = high[0] if isinstance(high, list) else high
    return torch.clamp(x, min=low, max=high)


@op("LeakyRelu")
def _leaky(c: Call):
    return F.leaky_relu(c.tensor(0), c.attr("alpha", 0.01))


@op("Elu")
def _elu(c: Call):
    return F.elu(c.tensor(0), c.attr("alpha", 1.0))


@op("Selu")
def _selu(c: Call):
    alpha, gamma = c.attr("alpha", 1.67326319217681884765625), c.attr("gamma", 1.05070102214813232421875)
    x = c.tensor(0)
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@op("Celu")
def _celu(c: Call):
    return F.celu(c.tensor(0), c.attr("alpha", 1.0))


@op("HardSigmoid")
def _hard_sigmoid(c: Call):
    return torch.clamp(c.attr("alpha", 0.2) * c.tensor(0) + c.attr("beta", 0.5), 0.0, 1.0)


@op("HardSwish")
def _hard_swish(c: Call):
    return F.hardswish(c.tensor(0))


@op("Softplus")
def _softplus(c: Call):
    return F.softplus(c.tensor(0))


@op("ThresholdedRelu")
def _thresholded(c: Call):
    x = c.tensor(0)
    return torch.where(x > c.attr("alpha", 1.0), x, torch.zeros_like(x))


@op("Gelu")
def _gelu(c: Call):
    return F.gelu(c.tensor(0), approximate=c.attr("approximate", "none"))


@op("PRelu")
def _prelu(c: Call):
    x, slope = c.tensor(0), c.tensor(1)
    return torch.where(x >= 0, x, x * slope)


@op("Cast")
def _cast(c: Call):
    return c.tensor(0).to(ONNX_DTYPES.get(c.attr("to", 1), torch.float32))


@op("CastLike")
def _cast_like(c: Call):
    return c.tensor(0).to(c.tensor(1).dtype)


# ------------------------------------------------------------------ softmax family
def _coerced(x: torch.Tensor, axis: int, fn):
    """Opset < 13 softmax: over everything from ``axis`` on, as one dimension."""
    axis = axis % x.dim()
    shape = x.shape
    flat = x.reshape(*shape[:axis], -1) if axis else x.reshape(1, -1)
    return fn(flat, -1).reshape(shape)


def _softmax_for(fn):
    def impl(c: Call):
        x = c.tensor(0)
        if c.attr("_opset", 13) < 13:
            return _coerced(x, c.attr("axis", 1), fn)
        return fn(x, c.attr("axis", -1))
    return impl


IMPLEMENTATIONS["Softmax"] = _softmax_for(torch.softmax)
IMPLEMENTATIONS["LogSoftmax"] = _softmax_for(torch.log_softmax)


@op("Hardmax")
def _hardmax(c: Call):
    x = c.tensor(0)
    axis = c.attr("axis", -1)
    return F.one_hot(torch.argmax(x, axis), x.shape[axis]).to(x.dtype).movedim(-1, axis % x.dim())


# ------------------------------------------------------------------ shapes
@op("Shape")
def _shape(c: Call):
    x = c.tensor(0)
    start, end = c.attr("start", 0), c.attr("end", None)
    return torch.tensor(list(x.shape)[start:end], dtype=torch.int64)


@op("Size")
def _size(c: Call):
    return torch.tensor(c.tensor(0).numel(), dtype=torch.int64)


@op("Reshape")
def _reshape(c: Call):
    x = c.tensor(0)
    shape = c.ints(1)
    if not c.attr("allowzero", 0):
        shape = [x.shape[i] if isinstance(s, int) and s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@op("Flatten")
def _flatten(c: Call):
    x = c.tensor(0)
    axis = c.attr("axis", 1) % (x.dim() + 1) if x.dim() else 0
    outer = 1
    for d in x.shape[:axis]:
        outer = outer * d
    return x.reshape(outer, -1)


@op("Transpose")
def _transpose(c: Call):
    x = c.tensor(0)
    perm = c.attr("perm") or list(range(x.dim() - 1, -1, -1))
    return x.permute(*perm)


@op("Squeeze")
def _squeeze(c: Call):
    x = c.tensor(0)
    axes = c.ints(1, c.attr("axes"))
    if axes is None:
        return x.squeeze()
    for axis in sorted((a % x.dim() for a in axes), reverse=True):
        x = x.squeeze(axis)
    return x


@op("Unsqueeze")
def _unsqueeze(c: Call):
    x = c.tensor(0)
    axes = c.ints(1, c.attr("axes"))
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


@op("Concat")
def _concat(c: Call):
    tensors = [c.tensor(i) for i in range(len(c)) if c.arg(i) is not None]
    return torch.cat(tensors, c.attr("axis", 0))


@op("Split")
def _split(c: Call):
    x = c.tensor(0)
    axis = c.attr("axis", 0)
    sizes = c.ints(1, c.attr("split"))
    if sizes is None:
        parts = c.attr("num_outputs", c.attr("_outputs", 1))
        size = -(-x.shape[axis] // parts)
        return tuple(torch.split(x, size, axis))
    return tuple(torch.split(x, sizes, axis))


@op("Slice")
def _slice(c: Call):
    x = c.tensor(0)
    if c.attr("starts") is not None:  # opset < 10: attributes
        starts, ends, axes, steps = c.attr("starts"), c.attr("ends"), c.attr("axes"), None
    else:
        starts, ends, axes, steps = c.ints(1), c.ints(2), c.ints(3), c.ints(4)
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index = [slice(None)] * x.dim()
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= x.dim()
        size = x.shape[axis]
        if step > 0:
            start = max(0, min(size, start + size if start < 0 else start))
            end = max(0, min(size, end + size if end < 0 else end))
            index[axis] = slice(start, end, step)
        else:  # a negative step: flip, then slice forward
            start = max(-1, min(size - 1, start + size if start < 0 else start))
            end = max(-1, min(size - 1, end + size if end < 0 else end))
            flips.append(axis)
            index[axis] = slice(size - 1 - start, size - 1 - end, -step)
    if flips:
        x = torch.flip(x, flips)
    return x[tuple(index)]


@op("Gather")
def _gather(c: Call):
    x = c.tensor(0)
    axis = c.attr("axis", 0) % x.dim()
    indices = c.arg(1)
    if isinstance(indices, Const):
        values = indices.values
        if not isinstance(values, list):  # one index: the axis goes away
            return x.select(axis, values % x.shape[axis] if values < 0 else values)
    idx = c.tensor(1).long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape([*x.shape[:axis], *idx.shape, *x.shape[axis + 1:]])


@op("GatherElements")
def _gather_elements(c: Call):
    return torch.gather(c.tensor(0), c.attr("axis", 0), c.tensor(1).long())


@op("Expand")
def _expand(c: Call):
    x = c.tensor(0)
    shape = c.ints(1)
    rank = max(len(shape), x.dim())
    shape = [1] * (rank - len(shape)) + list(shape)
    x = x.reshape([1] * (rank - x.dim()) + list(x.shape))
    target = [s if s != 1 else x.shape[i] for i, s in enumerate(shape)]
    return x.expand(target)


@op("Tile")
def _tile(c: Call):
    return c.tensor(0).repeat(c.ints(1))


@op("ConstantOfShape")
def _constant_of_shape(c: Call):
    value = c.attr("value", {"values": [0.0], "dtype": "float32"})
    dtype = TORCH_DTYPES.get(value["dtype"], torch.float32)
    fill = value["values"][0] if isinstance(value["values"], list) else value["values"]
    device = c.like.device if c.like is not None else None
    return torch.full(c.ints(0), fill, dtype=dtype, device=device)


@op("Constant")
def _constant(c: Call):
    value = c.attr("value")
    return torch.tensor(value["values"], dtype=TORCH_DTYPES.get(value["dtype"], torch.float32))


@op("Range")
def _range(c: Call):
    start, limit, delta = (c.values(i) for i in range(3))
    start, limit, delta = (v[0] if isinstance(v, list) else v for v in (start, limit, delta))
    dtype = c.tensor(0).dtype if isinstance(c.arg(0), torch.Tensor) else TORCH_DTYPES.get(c.arg(0).dtype)
    return torch.arange(start, limit, delta, dtype=dtype)


@op("DepthToSpace")
def _depth_to_space(c: Call):
    x, b = c.tensor(0), c.attr("blocksize")
    if c.attr("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, b)
    n, ch, h, w = x.shape
    x = x.reshape(n, b, b, ch // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, ch // (b * b), h * b, w * b)


@op("SpaceToDepth")
def _space_to_depth(c: Call):
    x, b = c.tensor(0), c.attr("blocksize")
    n, ch, h, w = x.shape
    x = x.reshape(n, ch, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, ch * b * b, h // b, w // b)


# ------------------------------------------------------------------ reductions
def _reduce_for(name: str):
    def impl(c: Call):
        x = c.tensor(0)
        axes = c.attr("axes")
        if axes is None and len(c) > 1:
            axes = c.ints(1)
        keep = bool(c.attr("keepdims", 1))
        if not axes:
            if c.attr("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        axes = [a % x.dim() for a in axes]
        if name == "ReduceMean":
            return x.mean(axes, keepdim=keep)
        if name == "ReduceSum":
            return x.sum(axes, keepdim=keep)
        if name == "ReduceProd":
            out = x
            for a in sorted(axes, reverse=True):
                out = out.prod(a, keepdim=keep)
            return out
        if name == "ReduceSumSquare":
            return (x * x).sum(axes, keepdim=keep)
        if name == "ReduceL2":
            return torch.sqrt((x * x).sum(axes, keepdim=keep))
        if name == "ReduceL1":
            return x.abs().sum(axes, keepdim=keep)
        if name == "ReduceLogSumExp":
            return torch.logsumexp(x, axes, keepdim=keep)
        return torch.amax(x, axes, keepdim=keep) if name == "ReduceMax" else torch.amin(x, axes, keepdim=keep)
    return impl


for _name in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2",
              "ReduceL1", "ReduceLogSumExp"):
    IMPLEMENTATIONS[_name] = _reduce_for(_name)


def _arg_for(fn):
    def impl(c: Call):
        x = c.tensor(0)
        axis = c.attr("axis", 0)
        keep = bool(c.attr("keepdims", 1))
        if c.attr("select_last_index", 0):
            size = x.shape[axis]
            return size - 1 - fn(torch.flip(x, [axis]), axis, keepdim=keep)
        return fn(x, axis, keepdim=keep)
    return impl


IMPLEMENTATIONS["ArgMax"] = _arg_for(torch.argmax)
IMPLEMENTATIONS["ArgMin"] = _arg_for(torch.argmin)


@op("CumSum")
def _cumsum(c: Call):
    x = c.tensor(0)
    axis = c.ints(1)[0]
    if c.attr("reverse", 0):
        x = torch.flip(x, [axis])
    out = torch.cumsum(x, axis)
    if c.attr("exclusive", 0):
        out = out - x
    return torch.flip(out, [axis]) if c.attr("reverse", 0) else out


@op("TopK")
def _topk(c: Call):
    k = c.ints(1)[0]
    values, indices = torch.topk(c.tensor(0), k, dim=c.attr("axis", -1), largest=bool(c.attr("largest", 1)),
                                 sorted=bool(c.attr("sorted", 1)))
    return values, indices


# ------------------------------------------------------------------ layers with weights as inputs
def _pads(c: Call, dims: int) -> list[int]:
    pads = c.attr("pads") or [0] * (2 * dims)
    return [int(p) for p in pads]


def _auto_pad(c: Call, x: torch.Tensor, kernel, strides, dilations) -> list[int] | None:
    """Explicit pads for ``auto_pad`` SAME_UPPER/SAME_LOWER (None when not asked for)."""
    mode = c.attr("auto_pad", "NOTSET")
    if mode in ("NOTSET", b"NOTSET"):
        return None
    dims = len(kernel)
    if mode in ("VALID", b"VALID"):
        return [0] * (2 * dims)
    begins, ends = [], []
    for i in range(dims):
        size = x.shape[2 + i]
        out = -(-size // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(large if mode in ("SAME_LOWER", b"SAME_LOWER") else small)
        ends.append(small if mode in ("SAME_LOWER", b"SAME_LOWER") else large)
    return begins + ends


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX pads (all begins, then all ends) as F.pad's (last axis first, begin and end)."""
    dims = len(pads) // 2
    out = []
    for i in reversed(range(dims)):
        out += [pads[i], pads[i + dims]]
    return out


@op("Conv")
def _conv(c: Call):
    x, w, b = c.tensor(0), c.tensor(1), c.tensor(2)
    dims = w.dim() - 2
    kernel = c.attr("kernel_shape") or list(w.shape[2:])
    strides = c.attr("strides") or [1] * dims
    dilations = c.attr("dilations") or [1] * dims
    pads = _auto_pad(c, x, kernel, strides, dilations) or _pads(c, dims)
    x = F.pad(x, _torch_pad(pads)) if any(pads) else x
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    return fn(x, w, b, strides, 0, dilations, c.attr("group", 1))


@op("ConvTranspose")
def _conv_transpose(c: Call):
    x, w, b = c.tensor(0), c.tensor(1), c.tensor(2)
    dims = w.dim() - 2
    strides = c.attr("strides") or [1] * dims
    dilations = c.attr("dilations") or [1] * dims
    pads = _pads(c, dims)
    if pads[:dims] != pads[dims:]:
        raise NotImplementedError("ConvTranspose with different padding at the two ends")
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[dims]
    return fn(x, w, b, strides, pads[:dims], c.attr("output_padding") or [0] * dims, c.attr("group", 1),
              dilations)


@op("Gemm")
def _gemm(c: Call):
    a, b, bias = c.tensor(0), c.tensor(1), c.tensor(2)
    if c.attr("transA", 0):
        a = a.t()
    if c.attr("transB", 0):
        b = b.t()
    out = c.attr("alpha", 1.0) * (a @ b)
    return out + c.attr("beta", 1.0) * bias if bias is not None else out


@op("BatchNormalization")
def _batch_norm(c: Call):
    x, scale, bias, mean, var = (c.tensor(i) for i in range(5))
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, c.attr("epsilon", 1e-5))


@op("InstanceNormalization")
def _instance_norm(c: Call):
    return F.instance_norm(c.tensor(0), weight=c.tensor(1), bias=c.tensor(2), eps=c.attr("epsilon", 1e-5))


@op("LayerNormalization")
def _layer_norm(c: Call):
    x, scale, bias = c.tensor(0), c.tensor(1), c.tensor(2)
    axis = c.attr("axis", -1) % x.dim()
    return F.layer_norm(x, list(x.shape[axis:]), scale, bias, c.attr("epsilon", 1e-5))


@op("LRN")
def _lrn(c: Call):
    return F.local_response_norm(c.tensor(0), c.attr("size"), c.attr("alpha", 1e-4), c.attr("beta", 0.75),
                                 c.attr("bias", 1.0))


@op("Dropout")
def _dropout(c: Call):
    return c.tensor(0)   # inference: the identity (a trained Dropout is a catalog node)


# ------------------------------------------------------------------ pooling
def _pool_setup(c: Call, x: torch.Tensor):
    kernel = c.attr("kernel_shape")
    dims = len(kernel)
    strides = c.attr("strides") or [1] * dims
    dilations = c.attr("dilations") or [1] * dims
    pads = _auto_pad(c, x, kernel, strides, dilations) or _pads(c, dims)
    return kernel, strides, dilations, pads, dims


@op("MaxPool")
def _max_pool(c: Call):
    x = c.tensor(0)
    kernel, strides, dilations, pads, dims = _pool_setup(c, x)
    ceil = bool(c.attr("ceil_mode", 0))
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
    symmetric = pads[:dims] == pads[dims:] and all(p <= k // 2 for p, k in zip(pads[:dims], kernel))
    if symmetric:
        return fn(x, kernel, strides, pads[:dims], dilations, ceil_mode=ceil)
    x = F.pad(x, _torch_pad(pads), value=-math.inf)
    return fn(x, kernel, strides, 0, dilations, ceil_mode=ceil)


@op("AveragePool")
def _average_pool(c: Call):
    x = c.tensor(0)
    kernel, strides, _, pads, dims = _pool_setup(c, x)
    ceil = bool(c.attr("ceil_mode", 0))
    include = bool(c.attr("count_include_pad", 0))
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[dims]
    if not any(pads):
        return fn(x, kernel, strides, 0, ceil_mode=ceil)
    if pads[:dims] == pads[dims:] and all(p <= k // 2 for p, k in zip(pads[:dims], kernel)):
        return fn(x, kernel, strides, pads[:dims], ceil_mode=ceil, count_include_pad=include)
    padded = F.pad(x, _torch_pad(pads))
    total = fn(padded, kernel, strides, 0, ceil_mode=ceil)
    if include:
        return total
    ones = F.pad(torch.ones_like(x[:1, :1]), _torch_pad(pads))
    return total / fn(ones, kernel, strides, 0, ceil_mode=ceil)


@op("GlobalAveragePool")
def _global_average(c: Call):
    x = c.tensor(0)
    return x.mean(list(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _global_max(c: Call):
    x = c.tensor(0)
    return torch.amax(x, list(range(2, x.dim())), keepdim=True)


# ------------------------------------------------------------------ padding and resizing
@op("Pad")
def _pad(c: Call):
    x = c.tensor(0)
    pads = c.ints(1, c.attr("pads"))
    value = c.values(2, c.attr("value", 0.0))
    value = value[0] if isinstance(value, list) else (value or 0.0)
    axes = c.ints(3)
    if axes is not None:   # opset 18: pads for these axes only
        full = [0] * (2 * x.dim())
        for i, axis in enumerate(axes):
            axis %= x.dim()
            full[axis], full[axis + x.dim()] = pads[i], pads[i + len(axes)]
        pads = full
    mode = c.attr("mode", "constant")
    mode = {"edge": "replicate"}.get(mode, mode)
    if mode == "constant":
        return F.pad(x, _torch_pad(pads), value=float(value))
    spatial = pads[:] if not any(pads[:2]) and not any(pads[x.dim():x.dim() + 2]) else None
    if spatial is None:
        raise NotImplementedError(f"{mode} padding of the batch or channel axis")
    dims = x.dim()
    inner = [pads[i] for i in range(2, dims)] + [pads[i + dims] for i in range(2, dims)]
    return F.pad(x, _torch_pad(inner), mode=mode)


@op("Resize", "Upsample")
def _resize(c: Call):
    x = c.tensor(0)
    mode = c.attr("mode", "nearest")
    if c.attr("_op") == "Upsample" or (len(c) == 2 and c.attr("_opset", 13) < 11):
        scales = c.values(1) if len(c) > 1 else c.attr("scales")
        sizes = None
    else:   # Resize: X, roi, scales, sizes
        scales = c.values(2) if c.arg(2) is not None else None
        sizes = c.ints(3) if c.arg(3) is not None else None
    if scales is not None and len(scales) == 0:
        scales = None
    spatial = x.dim() - 2
    if sizes is not None:
        size = [int(s) for s in sizes[2:]]
        factor = None
    else:
        size = None
        factor = [float(s) for s in scales[2:]]
        if any(float(s) != 1.0 for s in scales[:2]):
            raise NotImplementedError("resizing the batch or channel axis")
    transform = c.attr("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        nearest = c.attr("nearest_mode", "round_prefer_floor")
        if transform == "asymmetric" and nearest == "floor" or c.attr("_op") == "Upsample":
            return F.interpolate(x, size=size, scale_factor=factor, mode="nearest")
        whole = factor is not None and all(f >= 1 and float(f).is_integer() for f in factor)
        if transform in ("half_pixel", "pytorch_half_pixel") and nearest in ("round_prefer_ceil", "round_prefer_floor") \
                and not whole:   # a whole upscaling picks the same pixels either way, and "nearest" exports everywhere
            return F.interpolate(x, size=size, scale_factor=factor, mode="nearest-exact")
        return F.interpolate(x, size=size, scale_factor=factor, mode="nearest")
    torch_mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[spatial] if mode == "linear" else "bicubic"
    return F.interpolate(x, size=size, scale_factor=factor, mode=torch_mode,
                         align_corners=transform == "align_corners")


@op("Einsum")
def _einsum(c: Call):
    return torch.einsum(c.attr("equation"), *[c.tensor(i) for i in range(len(c))])


@op("Trilu")
def _trilu(c: Call):
    k = c.ints(1, [0])[0]
    x = c.tensor(0)
    return torch.triu(x, k) if c.attr("upper", 1) else torch.tril(x, k)


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
