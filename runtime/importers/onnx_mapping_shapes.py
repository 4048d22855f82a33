"""ONNX pooling, shape and merge operators to catalog nodes (the rest of ``onnx_mapping``'s table): pools,
Flatten/Reshape (the batch first), Identity, Add/Sum/Mul/Concat (chains past 8 inputs), ReduceMean over an
image's height and width."""

from __future__ import annotations

from layerloom.importers.onnx_mapping import product, sizes, symmetric, maps
from layerloom.importers.onnx_values import Constant, Wire, batch_marked


# ------------------------------------------------------------------ pooling
def _pool(imp, node, type_base: str) -> bool:
    x = imp.wire(node, 0)
    a = imp.attributes(node)
    kernel = [int(k) for k in a.get("kernel_shape") or []]
    dims = len(kernel)
    if x is None or dims not in (1, 2) or x.rank != dims + 2 or len(imp.used_outputs(node)) > 1:
        return False
    if type_base == "AvgPool" and dims != 2:
        return False
    strides, dilations = sizes(a.get("strides"), dims), sizes(a.get("dilations"), dims)
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return False
    padding = symmetric(a.get("pads"), dims) if a.get("auto_pad", "NOTSET") == "NOTSET" else [0] * dims
    ceil_mode, note = bool(a.get("ceil_mode", 0)), ""
    if padding is None and type_base == "MaxPool" and _end_padding_is_ceil_mode(x, a, kernel, strides, dilations):
        padding, ceil_mode, note = [0] * dims, True, "padding at the end only: the same as ceil_mode"
    if padding is None or any(p > k // 2 for p, k in zip(padding, kernel)):
        return False
    params = {"kernel_size": kernel, "stride": strides, "padding": padding, "ceil_mode": ceil_mode}
    if type_base == "AvgPool":
        if any(padding) and not a.get("count_include_pad", 0):
            return False   # PyTorch's AvgPool2d counts the padding; ONNX's default does not
        if any(d != 1 for d in dilations):
            return False
    else:
        params["dilation"] = dilations
    type_id = f"{type_base}{dims}d"
    node_id = imp.add(type_id, params, imp.hint(node))
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, type_id, note)
    return True


def _end_padding_is_ceil_mode(x: Wire, a: dict, kernel, strides, dilations) -> bool:
    """A max pool padded (with -inf) at the end of each axis only picks what PyTorch's ``ceil_mode`` picks
    when both give the same number of windows: the extra windows are clipped to the input either way."""
    dims = len(kernel)
    pads = [int(p) for p in a.get("pads") or []]
    if len(pads) != 2 * dims or any(pads[:dims]) or a.get("ceil_mode", 0) or x.shape is None:
        return False
    for i in range(dims):
        size = x.shape[2 + i]
        if not isinstance(size, int):
            return False
        span = size - dilations[i] * (kernel[i] - 1) - 1
        padded = (span + pads[dims + i]) // strides[i] + 1
        ceil = -(-span // strides[i]) + 1
        if (ceil - 1) * strides[i] >= size:   # PyTorch: the last window starts inside the input
            ceil -= 1
        if span < 0 or padded != ceil:
            return False
    return True


maps("MaxPool", to="MaxPool1d / MaxPool2d")(lambda imp, node: _pool(imp, node, "MaxPool"))
maps("AveragePool", to="AvgPool2d")(lambda imp, node: _pool(imp, node, "AvgPool"))


@maps("GlobalAveragePool", to="AdaptiveAvgPool2d (output size 1)")
def _global_average(imp, node) -> bool:
    x = imp.wire(node, 0)
    if x is None or x.rank != 4:
        return False
    node_id = imp.add("AdaptiveAvgPool2d", {"output_size": 1}, imp.hint(node))
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "AdaptiveAvgPool2d")
    return True


# ------------------------------------------------------------------ shape
@maps("Flatten", to="Flatten")
def _flatten(imp, node) -> bool:
    x = imp.wire(node, 0)
    if x is None or int(imp.attributes(node).get("axis", 1)) != 1:
        return False
    node_id = imp.add("Flatten", {"start_dim": 1}, imp.hint(node))
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    imp.record(node, "Flatten")
    return True


@maps("Reshape", to="Reshape / Flatten")
def _reshape(imp, node) -> bool:
    x, target = imp.wire(node, 0), imp.arg(node, 1)
    if x is None or not isinstance(target, Constant) or x.shape is None:
        return False
    try:
        values = batch_marked(target) if target.batched is not None else target.value.tolist()
    except ValueError:
        return False
    if not isinstance(values, list) or not values:
        return False
    first, rest = values[0], list(values[1:])
    note = ""
    if first == 1 and -1 not in rest:
        note = "the file's batch size 1 taken as the batch"
    elif not (first in (0, -1, "N") and "N" not in rest):
        return False
    if not imp.attributes(node).get("allowzero", 0):
        for i, v in enumerate(rest):
            if v == 0:
                if i + 1 >= len(x.shape) or not isinstance(x.shape[i + 1], int):
                    return False
                rest[i] = x.shape[i + 1]
    if first == -1 and -1 in rest:
        return False
    features = list(x.shape[1:])
    if rest == features and all(isinstance(d, int) for d in features):
        imp.alias(node.output[0], x)
        imp.record(node, "nothing (the shape does not change)")
        return True
    if len(rest) == 1 and len(features) > 1 and (rest[0] == -1 or all(isinstance(d, int) for d in features)
                                                 and rest[0] == product(features)):
        node_id = imp.add("Flatten", {"start_dim": 1}, imp.hint(node))
        imp.record(node, "Flatten", note)
    else:
        node_id = imp.add("Reshape", {"shape": rest}, imp.hint(node))
        imp.record(node, "Reshape", note)
    imp.feed(x, node_id, "in")
    imp.produce(node.output[0], node_id)
    return True


@maps("Identity", to="nothing (the wire goes on)")
def _identity(imp, node) -> bool:
    value = imp.arg(node, 0)
    imp.alias(node.output[0], value)
    imp.record(node, "nothing (the wire goes on)")
    return True


# ------------------------------------------------------------------ merges
MAX_MERGE = 8


def _wires_of(imp, node) -> list[Wire] | None:
    wires = [imp.arg(node, i) for i in range(len(node.input))]
    if not wires or any(not isinstance(w, Wire) for w in wires):
        return None
    return wires


def _chain(imp, node, type_id: str, extra: dict, wires: list[Wire]) -> str:
    """A merge node over ``wires``; past ``MAX_MERGE`` inputs, a chain (the first takes 8, each next one the
    previous result and up to 7 more)."""
    node_id = imp.add(type_id, {"inputs": min(len(wires), MAX_MERGE), **extra}, imp.hint(node))
    for k, wire in enumerate(wires[:MAX_MERGE]):
        imp.feed(wire, node_id, f"in{k + 1}")
    rest = wires[MAX_MERGE:]
    while rest:
        group, rest = rest[:MAX_MERGE - 1], rest[MAX_MERGE - 1:]
        next_id = imp.add(type_id, {"inputs": len(group) + 1, **extra}, imp.hint(node))
        imp.builder.connect(node_id, "out", next_id, "in1")
        for k, wire in enumerate(group):
            imp.feed(wire, next_id, f"in{k + 2}")
        node_id = next_id
    return node_id


def _same_rank(wires: list[Wire]) -> bool:
    return len({w.rank for w in wires}) == 1 and wires[0].rank is not None


def _elementwise_for(type_id: str):
    def mapper(imp, node) -> bool:
        wires = _wires_of(imp, node)
        if wires is None or not _same_rank(wires):
            return False
        if len(wires) == 1:
            imp.alias(node.output[0], wires[0])
            imp.record(node, "nothing (one input)")
            return True
        node_id = _chain(imp, node, type_id, {}, wires)
        imp.produce(node.output[0], node_id)
        imp.record(node, type_id, "a chain of nodes (more than 8 inputs)" if len(wires) > MAX_MERGE else "")
        return True
    return mapper


maps("Add", "Sum", to="Add")(_elementwise_for("Add"))
maps("Mul", to="Multiply")(_elementwise_for("Multiply"))


@maps("Concat", to="Concat")
def _concat(imp, node) -> bool:
    wires = _wires_of(imp, node)
    if wires is None or not _same_rank(wires):
        return False
    axis = int(imp.attributes(node).get("axis", 0)) % wires[0].rank
    if axis == 0:
        return False
    if len(wires) == 1:
        imp.alias(node.output[0], wires[0])
        imp.record(node, "nothing (one input)")
        return True
    node_id = _chain(imp, node, "Concat", {"dim": axis}, wires)
    imp.produce(node.output[0], node_id)
    imp.record(node, "Concat", "a chain of nodes (more than 8 inputs)" if len(wires) > MAX_MERGE else "")
    return True


@maps("ReduceMean", to="AdaptiveAvgPool2d (+ Flatten) over height and width")
def _reduce_mean(imp, node) -> bool:
    x = imp.wire(node, 0)
    a = imp.attributes(node)
    axes = a.get("axes")
    if axes is None and imp.arg(node, 1) is not None:
        axes = imp.const(node, 1)
        axes = axes.tolist() if axes is not None else None
    if x is None or x.rank != 4 or axes is None or sorted(int(v) % 4 for v in axes) != [2, 3]:
        return False
    node_id = imp.add("AdaptiveAvgPool2d", {"output_size": 1}, imp.hint(node))
    imp.feed(x, node_id, "in")
    if a.get("keepdims", 1):
        imp.record(node, "AdaptiveAvgPool2d")
    else:
        flat = imp.add("Flatten", {"start_dim": 1}, imp.hint(node) + "_flat")
        imp.builder.connect(node_id, "out", flat, "in")
        node_id = flat
        imp.record(node, "AdaptiveAvgPool2d + Flatten")
    imp.produce(node.output[0], node_id)
    return True
