"""The table from PyTorch calls to catalog nodes: the functions (``torch.relu``, ``F.softmax``, ``operator.add``,
``torch.cat``...) and tensor methods (``x.relu()``, ``x.flatten(1)``...) of a traced ``forward``, each as a rule
that returns a ``Mapped`` node (its tensor arguments wired to its ports) or raises ``NoMapping``.

Arithmetic with numbers and elementwise functions become Formula nodes (``x * 0.5``, ``exp(x)``); tensor
operations with no node of their own (transpose, permute, slices, reductions, matmul) become the catalog's
"ONNX operator" node, which runs them in PyTorch and exports them as that ONNX operator.

Imports torch: used only while importing a model.
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx

from layerloom.catalog.builtin.onnx_op import TYPE_ID as ONNX_OPERATOR
from layerloom.catalog.formula_parser import MAX_EXPONENT, MAX_NUMBER
from layerloom.importers.torch_table import Mapped, NoMapping, ints


def arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a call, given by position ``index`` or by keyword."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def is_value(a: Any) -> bool:
    return isinstance(a, fx.Node)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NoMapping(f"a constant {value!r} that is not a finite number")
    return float(value)


def _unary(type_id: str, read: Callable[[fx.Node], dict] = lambda n: {}):
    def rule(node: fx.Node) -> Mapped:
        return Mapped(type_id, read(node), inputs=[(node.args[0], "in")])
    return rule


def _dim_rule(type_id: str):
    def rule(node: fx.Node) -> Mapped:
        dim = arg(node, 1, "dim")
        if not isinstance(dim, int):
            raise NoMapping("no dim given (PyTorch guesses one)")
        return Mapped(type_id, {"dim": dim}, inputs=[(node.args[0], "in")])
    return rule


def _formula(expression: str, inputs: list[Any]) -> Mapped:
    ports = ("x", "y", "z", "w")
    return Mapped("Formula", {"expression": expression, "inputs": len(inputs)},
                  inputs=[(value, ports[i]) for i, value in enumerate(inputs)])


def _binary(merge: str | None, symbol: str):
    """``a <op> b``: the merge node (Add, Multiply) for two tensors, a Formula otherwise."""
    def rule(node: fx.Node) -> Mapped:
        a, b = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if node.kwargs.get("alpha", 1) != 1 or node.kwargs.get("rounding_mode") is not None:
            raise NoMapping("alpha other than 1, or a rounding_mode")
        if is_value(a) and is_value(b):
            if merge:
                return Mapped(merge, {"inputs": 2}, inputs=[(a, "in1"), (b, "in2")])
            return _formula(f"x {symbol} y", [a, b])
        if is_value(a):
            return _with_number(symbol, a, _number(b), tensor_first=True)
        if is_value(b):
            return _with_number(symbol, b, _number(a), tensor_first=False)
        raise NoMapping("no tensor among the arguments")
    return rule


ONNX_ARITHMETIC = {"+": "Add", "-": "Sub", "*": "Mul", "/": "Div", "**": "Pow"}


def _with_number(symbol: str, value: Any, number: float, tensor_first: bool) -> Mapped:
    """``x <op> number``: a Formula, or an ONNX operator where the number is beyond what a formula may hold."""
    if abs(number) <= MAX_NUMBER and (symbol != "**" or abs(number) <= MAX_EXPONENT):
        return _formula(f"x {symbol} {number!r}" if tensor_first else f"{number!r} {symbol} x", [value])
    constant = {"const": number, "dtype": "float32"}
    operands = ["in", constant] if tensor_first else [constant, "in"]
    params = {"op_type": ONNX_ARITHMETIC[symbol], "attributes": "{}", "operands": json.dumps(operands),
              "output": 0}
    return Mapped(ONNX_OPERATOR, params, inputs=[(value, "in")],
                  note=f"runs as ONNX {ONNX_ARITHMETIC[symbol]} (a number too large for a formula)")


# Arithmetic with a tensor of the model's own (a parameter or a buffer used in forward): symbol, ONNX op.
BINARY = {operator.add: ("+", "Add"), torch.add: ("+", "Add"), "add": ("+", "Add"),
          operator.sub: ("-", "Sub"), torch.sub: ("-", "Sub"), "sub": ("-", "Sub"),
          operator.mul: ("*", "Mul"), torch.mul: ("*", "Mul"), "mul": ("*", "Mul"),
          operator.truediv: ("/", "Div"), torch.div: ("/", "Div"), "div": ("/", "Div")}


def with_model_tensor(node: fx.Node, value: Any, tensor: torch.Tensor, name: str, tensor_first: bool) -> Mapped:
    """``value <op> self.<name>`` (or the other way round) for a tensor the model holds itself.

    A learnable parameter with one value, or one per feature (the last dimension), becomes a Formula's learnable
    parameter ``a``; a buffer becomes a number in a Formula, or the constant operand of an ONNX operator kept in
    the node's weights. Anything else would stop training or change shape: refused."""
    symbol, op_type = BINARY[node.target]
    if node.kwargs.get("alpha", 1) != 1 or node.kwargs.get("rounding_mode") is not None:
        raise NoMapping("alpha or rounding_mode")
    expression = f"a {symbol} x" if tensor_first else f"x {symbol} a"
    shape = tuple((value.meta.get("tensor_meta").shape if value.meta.get("tensor_meta") is not None else ()))
    if isinstance(tensor, torch.nn.Parameter):
        if tensor.numel() == 1:
            kind, weight = "scalar", tensor.detach().reshape(())
        elif shape and tensor.dim() <= len(shape) and tensor.shape[-1] == shape[-1] and tensor.numel() == shape[-1]:
            kind, weight = "per_feature", tensor.detach().reshape(-1)
        else:
            raise NoMapping(f"uses the parameter {name!r} of shape {list(tensor.shape)} directly (a learnable value "
                            "must be one number or one per feature, the last dimension)")
        params = {"expression": expression, "inputs": 1, "parameters": "a", "parameter_shape": kind}
        return Mapped("Formula", params, {"a": weight.clone()}, [(value, "x")],
                      note="the model's parameter, learnable in a Formula")
    if not tensor.is_floating_point():
        raise NoMapping(f"uses the {tensor.dtype} tensor {name!r} directly")
    if tensor.numel() == 1:
        number = _number(float(tensor.reshape(())))
        return _formula(expression.replace("a", repr(number)), [value])
    buffer = {"buffer": "c0", "shape": list(tensor.shape), "dtype": "float32"}
    operands = [buffer, "in"] if tensor_first else ["in", buffer]
    params = {"op_type": op_type, "attributes": "{}", "operands": json.dumps(operands), "output": 0}
    return Mapped(ONNX_OPERATOR, params, {"c0": tensor.detach().float().clone()}, [(value, "in")],
                  note=f"runs as ONNX {op_type} with the model's constant")


def _elementwise(name: str):
    return lambda node: _formula(f"{name}(x)", [node.args[0]])


def _clamp(node: fx.Node) -> Mapped:
    """``torch.clamp(x, lo, hi)`` (either bound may be missing) as a Formula."""
    lo, hi = arg(node, 1, "min"), arg(node, 2, "max")
    if is_value(lo) or is_value(hi):
        raise NoMapping("bounds that are tensors")
    if lo is not None and hi is not None:
        return _formula(f"clamp(x, {_number(lo)!r}, {_number(hi)!r})", [node.args[0]])
    if lo is not None:
        return _formula(f"max(x, {_number(lo)!r})", [node.args[0]])
    if hi is not None:
        return _formula(f"min(x, {_number(hi)!r})", [node.args[0]])
    raise NoMapping("no bounds")


def _hardtanh(node: fx.Node) -> Mapped:
    lo, hi = arg(node, 1, "min_val", -1.0), arg(node, 2, "max_val", 1.0)
    return _formula(f"clamp(x, {_number(lo)!r}, {_number(hi)!r})", [node.args[0]])


def _cat(node: fx.Node) -> Mapped:
    tensors = list(arg(node, 0, "tensors"))
    dim = arg(node, 1, "dim", 0)
    if not 2 <= len(tensors) <= 8:
        raise NoMapping(f"{len(tensors)} tensors (the catalog's Concat joins 2 to 8)")
    if dim == 0:
        raise NoMapping("joining along the batch dimension (dim=0)")
    return Mapped("Concat", {"inputs": len(tensors), "dim": dim},
                  inputs=[(t, f"in{i}") for i, t in enumerate(tensors, start=1)])


def _flatten_call(node: fx.Node) -> Mapped:
    start, end = arg(node, 1, "start_dim", 0), arg(node, 2, "end_dim", -1)
    if start < 1 or end != -1:
        raise NoMapping(f"start_dim={start}, end_dim={end} (the catalog's Flatten keeps the batch and "
                        "flattens to the end)")
    return Mapped("Flatten", {"start_dim": start}, inputs=[(node.args[0], "in")])


DROPOUT_ALWAYS = ("F.dropout without training=self.training drops in eval mode too; the Dropout node drops "
                  "only while training")


def _dropout_call(node: fx.Node) -> Mapped:
    always = arg(node, 2, "training", True) is True  # traced in eval mode: training=self.training reads False
    return Mapped("Dropout", {"p": float(arg(node, 1, "p", 0.5))}, inputs=[(node.args[0], "in")],
                  note=DROPOUT_ALWAYS if always else "")


def _pool_call(type_id: str, with_dilation: bool):
    def rule(node: fx.Node) -> Mapped:
        kernel = arg(node, 1, "kernel_size")
        stride = arg(node, 2, "stride") or None
        params = {"kernel_size": ints(kernel), "stride": ints(stride) if stride is not None else None,
                  "padding": ints(arg(node, 3, "padding", 0))}
        if with_dilation:
            params["dilation"] = ints(arg(node, 4, "dilation", 1))
            params["ceil_mode"] = bool(arg(node, 5, "ceil_mode", False))
            if arg(node, 6, "return_indices", False):
                raise NoMapping("return_indices=True")
        else:
            params["ceil_mode"] = bool(arg(node, 4, "ceil_mode", False))
            if not arg(node, 5, "count_include_pad", True) or arg(node, 6, "divisor_override") is not None:
                raise NoMapping("count_include_pad=False or a divisor_override")
        return Mapped(type_id, params, inputs=[(node.args[0], "in")])
    return rule


def _adaptive_call(node: fx.Node) -> Mapped:
    size = arg(node, 1, "output_size")
    if size is None or (isinstance(size, (tuple, list)) and None in size):
        raise NoMapping("an output size that keeps an input dimension (None)")
    return Mapped("AdaptiveAvgPool2d", {"output_size": ints(size)}, inputs=[(node.args[0], "in")])


# ------------------------------------------------ tensor operations run as the catalog's "ONNX operator" node
FAR = 2**62  # a slice's open end


def _rank(value: Any) -> int:
    meta = value.meta.get("tensor_meta") if isinstance(value, fx.Node) else None
    shape = getattr(meta, "shape", None)
    if shape is None:
        raise NoMapping("a value whose shape is unknown")
    return len(shape)


def onnx_operator(op_type: str, inputs: list[Any], attributes: dict | None = None,
                  constants: list[Any] = ()) -> Mapped:
    """An "ONNX operator" node running ``op_type`` on ``inputs`` (wired) then ``constants`` (int64 lists)."""
    ports = ["in"] if len(inputs) == 1 else [f"in{i}" for i in range(1, len(inputs) + 1)]
    operands = list(ports) + [{"const": value, "dtype": "int64"} for value in constants]
    params = {"op_type": op_type, "attributes": json.dumps(attributes or {}), "operands": json.dumps(operands),
              "output": 0}
    return Mapped(ONNX_OPERATOR, params, inputs=list(zip(inputs, ports)), note=f"runs as ONNX {op_type}")


def _transpose_of(x: Any, perm: list[int]) -> Mapped | None:
    if not perm or perm[0] != 0:
        raise NoMapping(f"a permutation {perm} that moves the batch dimension")
    if perm == sorted(perm):
        return None  # changes nothing: the walker passes the value through
    return onnx_operator("Transpose", [x], {"perm": perm})


def _permute(node: fx.Node) -> Mapped | None:
    x = node.args[0]
    dims = node.args[1:] if node.op == "call_method" else (arg(node, 1, "dims"),)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    rank = _rank(x)
    return _transpose_of(x, [int(d) % rank for d in dims])


def _transpose(node: fx.Node) -> Mapped | None:
    x, a, b = node.args[0], arg(node, 1, "dim0"), arg(node, 2, "dim1")
    rank = _rank(x)
    perm = list(range(rank))
    perm[a % rank], perm[b % rank] = perm[b % rank], perm[a % rank]
    return _transpose_of(x, perm)


def indexing(node: fx.Node) -> Mapped | None:
    """``x[...]`` as an ONNX Slice (slices only) or Gather (one integer index); None when it selects everything."""
    x, index = node.args
    rank = _rank(x)
    items = list(index) if isinstance(index, tuple) else [index]
    if any(item is None for item in items):
        raise NoMapping("indexing that adds a dimension (None)")
    if items.count(Ellipsis) > 1:
        raise NoMapping("indexing with more than one ...")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (rank - len(items) + 1)
    items += [slice(None)] * (rank - len(items))
    slices, picks = [], []
    for axis, item in enumerate(items):
        if isinstance(item, slice):
            if item == slice(None):
                continue
            parts = (item.start, item.stop, item.step)
            if any(isinstance(p, fx.Node) for p in parts) or (item.step or 1) < 1:
                raise NoMapping(f"a slice {item} with computed bounds or a negative step")
            slices.append((axis, item.start or 0, FAR if item.stop is None else item.stop, item.step or 1))
        elif isinstance(item, int) and not isinstance(item, bool):
            picks.append((axis, item))
        else:
            raise NoMapping(f"indexing with {type(item).__name__} values")
    if any(axis == 0 for axis, *_ in slices + picks):
        raise NoMapping("indexing the batch dimension")
    if slices and picks or len(picks) > 1:
        raise NoMapping("indexing several dimensions with numbers, or numbers and slices at once")
    if picks:
        axis, value = picks[0]
        return Mapped(ONNX_OPERATOR, {"op_type": "Gather", "attributes": json.dumps({"axis": axis}),
                                      "operands": json.dumps(["in", {"const": value, "dtype": "int64"}]),
                                      "output": 0}, inputs=[(x, "in")], note="runs as ONNX Gather")
    if not slices:
        return None
    axes, starts, ends, steps = zip(*slices)
    return onnx_operator("Slice", [x], constants=[list(starts), list(ends), list(axes), list(steps)])


def reduction(op_type: str, node: fx.Node) -> Mapped:
    """``x.mean(dims)``/``x.sum(dims)`` over dimensions other than the batch, as ONNX ReduceMean/ReduceSum."""
    x = node.args[0]
    dims = arg(node, 1, "dim")
    if dims is None:
        raise NoMapping("a reduction over every dimension, the batch included")
    rank = _rank(x)
    axes = sorted(int(d) % rank for d in (dims if isinstance(dims, (tuple, list)) else (dims,)))
    if 0 in axes:
        raise NoMapping("a reduction over the batch dimension")
    keep = bool(arg(node, 2, "keepdim", False))
    return onnx_operator(op_type, [x], {"axes": axes, "keepdims": int(keep)})


def _interpolate(node: fx.Node) -> Mapped:
    """``F.interpolate`` as an ONNX Resize (nearest, linear/bilinear/trilinear or bicubic)."""
    x = node.args[0]
    size, scale = arg(node, 1, "size"), arg(node, 2, "scale_factor")
    mode, corners = arg(node, 3, "mode", "nearest"), arg(node, 4, "align_corners")
    if arg(node, 5, "recompute_scale_factor") or arg(node, 6, "antialias", False):
        raise NoMapping("recompute_scale_factor or antialias")
    spatial = _rank(x) - 2
    if mode == "nearest":
        attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif mode in ("linear", "bilinear", "trilinear", "bicubic"):
        attributes = {"mode": "cubic" if mode == "bicubic" else "linear",
                      "coordinate_transformation_mode": "align_corners" if corners else "half_pixel"}
    else:
        raise NoMapping(f"mode={mode!r}")
    operands: list[Any] = ["in", None]
    if size is not None:
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * spatial
        channels = node.args[0].meta["tensor_meta"].shape[1]
        operands += [None, {"const": ["N", int(channels)] + [int(v) for v in sizes], "dtype": "int64"}]
    elif scale is not None:
        scales = list(scale) if isinstance(scale, (tuple, list)) else [scale] * spatial
        operands.append({"const": [1.0, 1.0] + [float(v) for v in scales], "dtype": "float32"})
    else:
        raise NoMapping("neither a size nor a scale factor")
    if any(isinstance(v, fx.Node) for v in operands[-1]["const"]):
        raise NoMapping("a size computed while running")
    params = {"op_type": "Resize", "attributes": json.dumps(attributes), "operands": json.dumps(operands),
              "output": 0}
    return Mapped(ONNX_OPERATOR, params, inputs=[(x, "in")], note="runs as ONNX Resize")


def _matmul(node: fx.Node) -> Mapped:
    a, b = node.args[0], node.args[1]
    if not (is_value(a) and is_value(b)):
        raise NoMapping("a product with a constant")
    return onnx_operator("MatMul", [a, b])


_SOFTMAX = _dim_rule("Softmax")
_LOG_SOFTMAX = _dim_rule("LogSoftmax")
_RELU = _unary("ReLU")
_SIGMOID = _unary("Sigmoid")
_TANH = _unary("Tanh")

FUNCTION_RULES: dict[Any, Callable[[fx.Node], Mapped]] = {
    torch.relu: _RELU, F.relu: _RELU,
    torch.sigmoid: _SIGMOID, F.sigmoid: _SIGMOID,
    torch.tanh: _TANH, F.tanh: _TANH,
    F.silu: _unary("SiLU"),
    F.gelu: _unary("GELU", lambda n: {"approximate": n.kwargs.get("approximate", "none")}),
    F.elu: _unary("ELU", lambda n: {"alpha": float(arg(n, 1, "alpha", 1.0))}),
    F.leaky_relu: _unary("LeakyReLU", lambda n: {"negative_slope": float(arg(n, 1, "negative_slope", 0.01))}),
    F.softplus: _unary("Softplus", lambda n: {"beta": float(arg(n, 1, "beta", 1.0)),
                                              "threshold": float(arg(n, 2, "threshold", 20.0))}),
    F.softmax: _SOFTMAX, torch.softmax: _SOFTMAX,
    F.log_softmax: _LOG_SOFTMAX, torch.log_softmax: _LOG_SOFTMAX,
    F.dropout: _dropout_call,
    torch.flatten: _flatten_call,
    torch.cat: _cat, torch.concat: _cat,
    operator.add: _binary("Add", "+"), torch.add: _binary("Add", "+"),
    operator.mul: _binary("Multiply", "*"), torch.mul: _binary("Multiply", "*"),
    operator.sub: _binary(None, "-"), torch.sub: _binary(None, "-"),
    operator.truediv: _binary(None, "/"), torch.div: _binary(None, "/"),
    F.max_pool1d: _pool_call("MaxPool1d", True),
    F.max_pool2d: _pool_call("MaxPool2d", True),
    F.avg_pool2d: _pool_call("AvgPool2d", False),
    F.adaptive_avg_pool2d: _adaptive_call,
    torch.exp: _elementwise("exp"), torch.log: _elementwise("log"), torch.sqrt: _elementwise("sqrt"),
    torch.abs: _elementwise("abs"), torch.sin: _elementwise("sin"), torch.cos: _elementwise("cos"),
    operator.pow: _binary(None, "**"), torch.pow: _binary(None, "**"),
    operator.neg: lambda node: _formula("-x", [node.args[0]]), torch.neg: lambda node: _formula("-x", [node.args[0]]),
    torch.permute: _permute, torch.transpose: _transpose, F.interpolate: _interpolate,
    torch.clamp: _clamp, torch.clip: _clamp, F.hardtanh: _hardtanh,
    F.relu6: lambda node: _formula("clamp(x, 0.0, 6.0)", [node.args[0]]),
    operator.matmul: _matmul, torch.matmul: _matmul, torch.bmm: _matmul,
}

METHOD_RULES: dict[str, Callable[[fx.Node], Mapped]] = {
    "relu": _RELU, "sigmoid": _SIGMOID, "tanh": _TANH,
    "softmax": _SOFTMAX, "log_softmax": _LOG_SOFTMAX,
    "flatten": _flatten_call,
    "add": _binary("Add", "+"), "mul": _binary("Multiply", "*"),
    "sub": _binary(None, "-"), "div": _binary(None, "/"),
    "exp": _elementwise("exp"), "log": _elementwise("log"), "sqrt": _elementwise("sqrt"),
    "abs": _elementwise("abs"), "sin": _elementwise("sin"), "cos": _elementwise("cos"),
    "pow": _binary(None, "**"), "neg": lambda node: _formula("-x", [node.args[0]]),
    "permute": _permute, "transpose": _transpose, "matmul": _matmul, "clamp": _clamp, "clip": _clamp,
}

# Reshapes take their target from the traced shapes (``x.view(x.size(0), -1)``); see torch_fx.
RESHAPE_FUNCTIONS = (torch.reshape, torch.squeeze, torch.unsqueeze)
RESHAPE_METHODS = ("view", "reshape", "squeeze", "unsqueeze")
# Means over the spatial dimensions of an image: global average pooling.
MEAN_FUNCTIONS = (torch.mean, torch.sum)
MEAN_METHODS = ("mean", "sum")
# Calls that return their input unchanged as far as a graph is concerned.
PASS_THROUGH_METHODS = ("contiguous", "clone", "detach")
# Calls that return sizes, not tensors: allowed only as arguments of a reshape.
SIZE_METHODS = ("size", "dim")


def call_name(node: fx.Node) -> str:
    """How the report names a call: ``torch.relu``, ``F.softmax``, ``operator.add``, ``Tensor.view``."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module == "_operator":
        module = "operator"
    if module.startswith("torch.nn.functional"):
        module = "F"
    elif module.startswith("torch") or module == "":
        module = "torch"
    return f"{module}.{name}"


__all__ = ["FUNCTION_RULES", "METHOD_RULES", "RESHAPE_FUNCTIONS", "RESHAPE_METHODS", "MEAN_FUNCTIONS", "MEAN_METHODS",
           "PASS_THROUGH_METHODS", "SIZE_METHODS", "BINARY", "call_name", "arg", "is_value", "onnx_operator",
           "indexing", "reduction", "with_model_tensor"]
