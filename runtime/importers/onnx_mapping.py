"""ONNX operators to catalog nodes: ``MAPPERS[op_type](importer, node) -> bool``.

A mapper adds the catalog node(s) an operator becomes, with their params and weights, and says True; it says
False when this use of the operator has no catalog equivalent (asymmetric padding, a constant operand, a
transposed A), and the importer keeps it as an "ONNX operator" node. ``MAPPED`` lists, per op type, the catalog
node it becomes (docs/import.md shows this table; a test keeps the two equal). This module maps the layers
(dense, convolutions, normalisations, activations); ``onnx_mapping_shapes`` the pools, shapes and merges,
``onnx_mapping_rnn`` the recurrent layers.
"""

from __future__ import annotations

from typing import Callable

import torch

from layerloom.importers.onnx_values import Wire

MAPPERS: dict[str, Callable] = {}
MAPPED: dict[str, str] = {}   # op type -> what it becomes, for the docs


def maps(*ops: str, to: str):
    def register(fn):
        for op in ops:
            MAPPERS[op] = fn
            MAPPED[op] = to
        return fn
    return register


def sizes(values, dims: int) -> list[int]:
    return [int(v) for v in values] if values else [1] * dims


def symmetric(pads: list[int] | None, dims: int) -> list[int] | None:
    """The per-axis padding when both ends of every axis get the same, else None."""
    pads = list(pads or [0] * (2 * dims))
    return pads[:dims] if pads[:dims] == pads[dims:] else None


# ------------------------------------------------------------------ dense
@maps("Gemm", to="Linear")
def _gemm(imp, node) -> bool:
    x, w, c = imp.wire(node, 0), imp.const(node, 1), imp.const(node, 2)
    a = imp.attributes(node)
    if x is None or w is None or w.dim() != 2 or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0:
        return False
    if imp.arg(node, 2) is not None and (c is None or a.get("beta", 1.0) != 1.0):
        return False
    weight = w if a.get("transB", 0) else w.t()
    out = weight.shape[0]
    weights = {"weight": weight.float().contiguous()}
    if c is not None:
        if c.numel() not in (1, out) or c.dim() > 2:
            return False
        weights["bias"] = c.float().reshape(-1).expand(out).contiguous()
    node_id = imp.add("Linear", {"out_features": out, "bias": c is not None}, imp.hint(node, 1), weights)
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "Linear", "transB=0: weight transposed" if not a.get("transB", 0) else "")
    return True


@maps("MatMul", to="Linear (+ the Add of its bias)")
def _matmul(imp, node) -> bool:
    x, w = imp.wire(node, 0), imp.const(node, 1)
    if x is None or w is None or w.dim() != 2 or x.rank not in (2, 3):
        return False
    out = w.shape[1]
    weights = {"weight": w.t().float().contiguous()}
    add = imp.sole_consumer(node.output[0], "Add")
    bias = None
    if add is not None:
        other = 1 if add.input[0] == node.output[0] else 0
        bias = imp.const(add, other)
        if bias is None or bias.numel() != out or (bias.dim() == 2 and bias.shape[0] != 1) or bias.dim() > 2:
            bias = None
    if bias is not None:
        weights["bias"] = bias.float().reshape(-1).contiguous()
    node_id = imp.add("Linear", {"out_features": out, "bias": bias is not None}, imp.hint(node, 1), weights)
    imp.feed(x, node_id, "in")
    if bias is not None:
        imp.skip(add)
        imp.produce(add.output[0], node_id)
        imp.record(node, "Linear", "with the following Add as its bias")
        imp.report.record("Add", "Linear (bias of a MatMul)")
    else:
        imp.produce(node.output[0], node_id)
        imp.record(node, "Linear", "no bias")
    return True


@maps("Gather", to="Embedding (a constant 2-D table indexed by int64 token ids)")
def _gather(imp, node) -> bool:
    table, ids = imp.const(node, 0), imp.wire(node, 1)
    if table is None or ids is None or table.dim() != 2 or not table.is_floating_point() or ids.elem != 7 \
            or int(imp.attributes(node).get("axis", 0)) != 0:
        return False
    node_id = imp.add("Embedding", {"num_embeddings": int(table.shape[0]), "embedding_dim": int(table.shape[1])},
                      imp.hint(node, 0), {"weight": table.float().contiguous()})
    imp.feed(ids, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "Embedding")
    return True


# ------------------------------------------------------------------ convolutions
def _conv_padding(imp, node, x: Wire, kernel, strides, dilations) -> list[int] | None:
    a = imp.attributes(node)
    mode = a.get("auto_pad", "NOTSET")
    dims = len(kernel)
    if mode == "VALID":
        return [0] * dims
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        if any(s != 1 for s in strides) or any((k - 1) * d % 2 for k, d in zip(kernel, dilations)):
            return None
        return [(k - 1) * d // 2 for k, d in zip(kernel, dilations)]
    return symmetric(a.get("pads"), dims)


@maps("Conv", to="Conv1d / Conv2d")
def _conv(imp, node) -> bool:
    x, w = imp.wire(node, 0), imp.const(node, 1)
    b = imp.const(node, 2)
    if x is None or w is None or w.dim() not in (3, 4) or x.rank != w.dim():
        return False
    if imp.arg(node, 2) is not None and b is None:
        return False
    dims = w.dim() - 2
    a = imp.attributes(node)
    kernel = [int(k) for k in (a.get("kernel_shape") or w.shape[2:])]
    strides, dilations = sizes(a.get("strides"), dims), sizes(a.get("dilations"), dims)
    padding = _conv_padding(imp, node, x, kernel, strides, dilations)
    if padding is None:
        return False
    type_id = "Conv2d" if dims == 2 else "Conv1d"
    params = {"out_channels": int(w.shape[0]), "kernel_size": kernel, "stride": strides, "padding": padding,
              "dilation": dilations, "groups": int(a.get("group", 1)), "bias": b is not None}
    weights = {"weight": w.float()}
    if b is not None:
        weights["bias"] = b.float().reshape(-1)
    node_id = imp.add(type_id, params, imp.hint(node, 1), weights)
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, type_id)
    return True


@maps("ConvTranspose", to="ConvTranspose2d")
def _conv_transpose(imp, node) -> bool:
    x, w, b = imp.wire(node, 0), imp.const(node, 1), imp.const(node, 2)
    a = imp.attributes(node)
    if x is None or w is None or w.dim() != 4 or x.rank != 4 or a.get("output_shape") or \
            a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return False
    if imp.arg(node, 2) is not None and b is None:
        return False
    padding = symmetric(a.get("pads"), 2)
    if padding is None:
        return False
    groups = int(a.get("group", 1))
    params = {"out_channels": int(w.shape[1]) * groups, "kernel_size": [int(k) for k in w.shape[2:]],
              "stride": sizes(a.get("strides"), 2), "padding": padding,
              "output_padding": sizes(a.get("output_padding"), 2) if a.get("output_padding") else 0,
              "dilation": sizes(a.get("dilations"), 2), "groups": groups, "bias": b is not None}
    weights = {"weight": w.float()}
    if b is not None:
        weights["bias"] = b.float().reshape(-1)
    node_id = imp.add("ConvTranspose2d", params, imp.hint(node, 1), weights)
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "ConvTranspose2d")
    return True


# ------------------------------------------------------------------ normalisation
def _per_channel(t: torch.Tensor | None, channels: int, rank: int) -> torch.Tensor | None:
    """``t`` as one value per channel when it broadcasts that way over ``[N, C, ...]`` of ``rank``."""
    if t is None:
        return None
    shape = list(t.shape)
    while shape and shape[0] == 1 and len(shape) >= rank:
        shape = shape[1:]
    if t.numel() == 1:
        return t.reshape(1).expand(channels).float()
    trailing = rank - 2
    if len(shape) == trailing + 1 and shape[0] == channels and all(s == 1 for s in shape[1:]):
        return t.reshape(channels).float()
    return None


@maps("BatchNormalization", to="BatchNorm1d / BatchNorm2d (+ a per-channel Mul and Add after it)")
def _batch_norm(imp, node) -> bool:
    x = imp.wire(node, 0)
    tensors = [imp.const(node, i) for i in range(1, 5)]
    a = imp.attributes(node)
    if x is None or any(t is None for t in tensors) or x.rank not in (2, 3, 4) or a.get("training_mode", 0) \
            or len(imp.used_outputs(node)) > 1:
        return False
    scale, bias, mean, var = (t.float().reshape(-1) for t in tensors)
    channels = mean.numel()
    note, last = "", node.output[0]
    mul = imp.sole_consumer(last, "Mul")
    if mul is not None:   # a scale layer after it (Caffe's BatchNorm + Scale): fold into the affine weights
        factor = _per_channel(imp.const(mul, 1 if mul.input[0] == last else 0), channels, x.rank)
        if factor is not None:
            scale, bias, last = scale * factor, bias * factor, mul.output[0]
            imp.skip(mul)
            imp.report.record("Mul", "BatchNorm (per-channel scale folded in)")
            note = "with the per-channel Mul after it folded in"
            add = imp.sole_consumer(last, "Add")
            shift = _per_channel(imp.const(add, 1 if add.input[0] == last else 0), channels, x.rank) \
                if add is not None else None
            if shift is not None:
                bias, last = bias + shift, add.output[0]
                imp.skip(add)
                imp.report.record("Add", "BatchNorm (per-channel shift folded in)")
                note += " and the Add"
    type_id = "BatchNorm2d" if x.rank == 4 else "BatchNorm1d"
    momentum = min(1.0, max(0.0, 1.0 - float(a.get("momentum", 0.9))))
    weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var.float().reshape(-1),
               "num_batches_tracked": torch.tensor(0)}
    node_id = imp.add(type_id, {"eps": float(a.get("epsilon", 1e-5)), "momentum": momentum},
                      imp.hint(node, 1), weights)
    imp.feed(x, node_id, "in")
    imp.produce(last, node_id)
    imp.record(node, type_id, note)
    return True


@maps("LayerNormalization", to="LayerNorm")
def _layer_norm(imp, node) -> bool:
    x, scale, bias = imp.wire(node, 0), imp.const(node, 1), imp.const(node, 2)
    a = imp.attributes(node)
    if x is None or x.rank is None or scale is None or (imp.arg(node, 2) is not None and bias is None) \
            or len(imp.used_outputs(node)) > 1:
        return False
    axis = int(a.get("axis", -1)) % x.rank
    if axis == 0:
        return False
    dims = x.rank - axis
    shape = list(x.shape[axis:])
    if any(not isinstance(d, int) for d in shape) or scale.numel() != product(shape):
        return False
    weights = {"weight": scale.float().reshape(shape),
               "bias": (bias.float() if bias is not None else torch.zeros(shape)).reshape(shape)}
    node_id = imp.add("LayerNorm", {"dims": dims, "eps": float(a.get("epsilon", 1e-5))}, imp.hint(node, 1),
                      weights)
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "LayerNorm")
    return True


def product(values) -> int:
    total = 1
    for v in values:
        total *= int(v)
    return total


@maps("Dropout", to="Dropout")
def _dropout(imp, node) -> bool:
    x = imp.wire(node, 0)
    if x is None or len(imp.used_outputs(node)) > 1 or node.output[0] not in imp.consumers \
            and node.output[0] not in imp.graph_outputs:
        return False
    ratio = imp.const(node, 1)
    p = float(ratio.item()) if ratio is not None else float(imp.attributes(node).get("ratio", 0.5))
    node_id = imp.add("Dropout", {"p": p}, imp.hint(node))
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "Dropout")
    return True


# ------------------------------------------------------------------ activations
def _simple(type_id: str, params: Callable[[dict], dict | None] = lambda a: {}, note: str = ""):
    def mapper(imp, node) -> bool:
        x = imp.wire(node, 0)
        values = params(imp.attributes(node))
        if x is None or values is None or len([n for n in node.input if n]) != 1:
            return False
        node_id = imp.add(type_id, values, imp.hint(node))
        imp.feed(x, node_id, "in")
        imp.produce(node.output[0], node_id)
        imp.record(node, type_id, note)
        return True
    return mapper


for _op, _type, _params in (
        ("Relu", "ReLU", lambda a: {}),
        ("Sigmoid", "Sigmoid", lambda a: {}),
        ("Tanh", "Tanh", lambda a: {}),
        ("LeakyRelu", "LeakyReLU", lambda a: {"negative_slope": float(a.get("alpha", 0.01))}),
        ("Elu", "ELU", lambda a: {"alpha": float(a.get("alpha", 1.0))}),
        ("Softplus", "Softplus", lambda a: {}),   # PyTorch's threshold 20: x itself above it (noted below)
        ("Gelu", "GELU", lambda a: {"approximate": a.get("approximate", "none")}),
):
    maps(_op, to=_type)(_simple(_type, _params, "x itself above 20 (PyTorch's threshold): the same within float "
                                                  "precision" if _op == "Softplus" else ""))


@maps("Clip", to="ReLU (min 0, no max)")
def _clip(imp, node) -> bool:
    a = imp.attributes(node)
    low = imp.const(node, 1)
    low = float(low.item()) if low is not None else a.get("min")
    high_given = imp.arg(node, 2) is not None or "max" in a
    if low != 0.0 or high_given:
        return False
    return _simple("ReLU")(imp, _first_input_only(node))


class _first_input_only:
    """A node seen with only its first input (Clip's bounds are already read)."""

    def __init__(self, node):
        self._node = node
        self.input = [node.input[0]]

    def __getattr__(self, name):
        return getattr(self._node, name)


def _softmax_dim(imp, node) -> int | None:
    x = imp.wire(node, 0)
    if x is None or x.rank is None:
        return None
    a = imp.attributes(node)
    if imp.opset >= 13:
        dim = int(a.get("axis", -1)) % x.rank
    else:   # older opsets: over everything from axis on; the same as one dim when the rest are 1
        axis = int(a.get("axis", 1)) % x.rank
        wide = [i for i in range(axis, x.rank) if x.shape[i] != 1]
        if any(not isinstance(x.shape[i], int) for i in range(axis, x.rank)) or len(wide) > 1:
            return None
        dim = wide[0] if wide else axis
    return dim if dim != 0 else None


def _softmax_for(type_id: str):
    def mapper(imp, node) -> bool:
        dim = _softmax_dim(imp, node)
        if dim is None:
            return False
        x = imp.wire(node, 0)
        node_id = imp.add(type_id, {"dim": dim if dim != x.rank - 1 else -1}, imp.hint(node))
        imp.feed(x, node_id, "in")
        imp.produce(node.output[0], node_id)
        imp.record(node, type_id)
        return True
    return mapper


maps("Softmax", to="Softmax")(_softmax_for("Softmax"))
maps("LogSoftmax", to="LogSoftmax")(_softmax_for("LogSoftmax"))


@maps("PRelu", to="PReLU")
def _prelu(imp, node) -> bool:
    x, slope = imp.wire(node, 0), imp.const(node, 1)
    if x is None or slope is None or x.rank is None or x.rank < 2:
        return False
    if slope.numel() == 1:
        per_channel, weight = False, slope.float().reshape(1)
    else:
        channels = x.shape[1]
        weight = _per_channel(slope, channels, x.rank) if isinstance(channels, int) else None
        if weight is None:
            return False
        per_channel = True
    node_id = imp.add("PReLU", {"per_channel": per_channel}, imp.hint(node, 1), {"weight": weight})
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "PReLU")
    return True


# The rest of the table: importing it registers its mappers.
from layerloom.importers import onnx_mapping_rnn, onnx_mapping_shapes  # noqa: E402,F401
