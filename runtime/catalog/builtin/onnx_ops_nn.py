"""ONNX layers whose weights are inputs (Conv, Gemm, normalisations) and pooling, in PyTorch (registered in
``onnx_torch``): any padding ONNX allows, also the asymmetric kinds the catalog's nodes do not take."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from layerloom.catalog.builtin.onnx_torch import Call, op, torch_pad

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




@op("Conv")
def _conv(c: Call):
    x, w, b = c.tensor(0), c.tensor(1), c.tensor(2)
    dims = w.dim() - 2
    kernel = c.attr("kernel_shape") or list(w.shape[2:])
    strides = c.attr("strides") or [1] * dims
    dilations = c.attr("dilations") or [1] * dims
    pads = _auto_pad(c, x, kernel, strides, dilations) or _pads(c, dims)
    x = F.pad(x, torch_pad(pads)) if any(pads) else x
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
    x = F.pad(x, torch_pad(pads), value=-math.inf)
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
    padded = F.pad(x, torch_pad(pads))
    total = fn(padded, kernel, strides, 0, ceil_mode=ceil)
    if include:
        return total
    ones = F.pad(torch.ones_like(x[:1, :1]), torch_pad(pads))
    return total / fn(ones, kernel, strides, 0, ceil_mode=ceil)


@op("GlobalAveragePool")
def _global_average(c: Call):
    x = c.tensor(0)
    return x.mean(list(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _global_max(c: Call):
    x = c.tensor(0)
    return torch.amax(x, list(range(2, x.dim())), keepdim=True)
