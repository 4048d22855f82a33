"""ONNX operators that move, cut, join, pad and resize tensors, in PyTorch (registered in ``onnx_torch``).
Shapes, axes and sizes come from ``Const`` inputs, so a traced export sees Python numbers, not tensor data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from layerloom.catalog.builtin.onnx_torch import TORCH_DTYPES, Call, Const, op, torch_pad

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
        return F.pad(x, torch_pad(pads), value=float(value))
    spatial = pads[:] if not any(pads[:2]) and not any(pads[x.dim():x.dim() + 2]) else None
    if spatial is None:
        raise NotImplementedError(f"{mode} padding of the batch or channel axis")
    dims = x.dim()
    inner = [pads[i] for i in range(2, dims)] + [pads[i + dims] for i in range(2, dims)]
    return F.pad(x, torch_pad(inner), mode=mode)


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
