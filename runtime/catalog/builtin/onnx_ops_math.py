"""ONNX element-wise operators, softmax and reductions in PyTorch (registered in ``onnx_torch``)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from layerloom.catalog.builtin.onnx_torch import IMPLEMENTATIONS, ONNX_DTYPES, Call, op

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
