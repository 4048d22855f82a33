"""Dense, convolution, pooling, normalisation and shape layers.

Users set what they would set in Keras (``out_features``, ``out_channels``, ``kernel_size``...);
input sizes (``in_features``, ``in_channels``, ``num_features``) come from the incoming shape.
"""

from __future__ import annotations

import math

from layerloom.core.errors import ShapeError
from layerloom.catalog.initializers import INIT_PARAM
from layerloom.core.params import BoolParam, FloatParam, IntParam, IntsParam, ShapeParam
from layerloom.core.shapes import FLOAT, INT, TensorSpec, format_shape
from layerloom.catalog.spec import NodeSpec
from layerloom.catalog.builtin._common import (BIAS, CONV, DENSE, NORM, POOL, SHAPE, check_half_kernel, ll_modules, nn, positive,
                      shape_text, spatial_out)

FLATTEN_HINT = "insert a Flatten before it"


# ------------------------------------------------------------------ Linear
def _linear_in(ctx) -> TensorSpec:
    x = ctx.input()
    if x.rank >= 4:
        raise ShapeError(f"expects [N, features] but receives {shape_text(x)}; {FLATTEN_HINT}", "in")
    if x.rank < 2:
        raise ShapeError(f"expects [N, features] but receives {shape_text(x)}; "
                         "add a Reshape to [1] to make each value a feature", "in")
    return ctx.expect_float()


def _linear_infer(ctx):
    x = _linear_in(ctx)
    return x.with_shape(x.shape[:-1] + (ctx["out_features"],))


def _linear_build(ctx):
    return nn.Linear(ctx.input().shape[-1], ctx["out_features"], bias=ctx["bias"])


def _linear_count(ctx):
    fin = ctx.input().shape[-1]
    return fin * ctx["out_features"] + (ctx["out_features"] if ctx["bias"] else 0)


# ------------------------------------------------------------ convolutions
def _conv_params(dims: int, default_channels: int):
    return (
        positive("out_channels", default_channels, "Number of filters (output channels)", maximum=65536),
        IntsParam("kernel_size", 3, "Size of the sliding window", length=dims, minimum=1, maximum=1024),
        IntsParam("stride", 1, "Step between windows", length=dims, minimum=1, maximum=1024),
        IntsParam("padding", 0, "Zeros added on each side; 'same' keeps the size (stride 1 only)",
                  length=dims, minimum=0, maximum=1024, keywords=("same", "valid")),
        IntsParam("dilation", 1, "Spacing between kernel elements", length=dims, minimum=1, maximum=1024),
        positive("groups", 1, "Split channels into groups convolved separately", maximum=65536),
        BIAS,
        INIT_PARAM,
    )


def _layout(dims: int) -> str:
    return "[N, channels, length]" if dims == 1 else "[N, channels, height, width]"


def _image_hint(x: TensorSpec, dims: int, name: str) -> str:
    if dims == 2 and x.rank == 3:
        return (f"{name} needs a channel dimension; for single-channel images set the Input shape to "
                f"[1, {x.shape[1]}, {x.shape[2]}]")
    if dims == 2 and x.rank == 2:
        return f"{name} works on images; add a Reshape to [channels, height, width] first"
    if dims == 1 and x.rank == 2:
        return f"{name} works on sequences of channels; add a Reshape to [channels, length] first"
    if x.rank > dims + 2:
        return "insert a Flatten or a pooling layer to reduce the dimensions"
    return ""


def _spatial_input(ctx, dims: int, name: str) -> TensorSpec:
    x = ctx.input()
    if x.rank != dims + 2:
        hint = _image_hint(x, dims, name)
        raise ShapeError(f"expects {_layout(dims)} but receives {shape_text(x)}" + (f"; {hint}" if hint else ""), "in")
    return ctx.expect_float()


def _conv_infer_for(dims: int, name: str):
    def infer(ctx):
        x = _spatial_input(ctx, dims, name)
        in_ch, sizes = x.shape[1], x.shape[2:]
        groups, out_ch = ctx["groups"], ctx["out_channels"]
        if in_ch % groups or out_ch % groups:
            raise ShapeError(f"groups={groups} must divide both the input channels ({in_ch}) and "
                             f"out_channels ({out_ch})", "in", "groups")
        p = ctx.spec.param
        kernel = p("kernel_size").expand(ctx["kernel_size"])
        stride = p("stride").expand(ctx["stride"])
        dilation = p("dilation").expand(ctx["dilation"])
        padding = ctx["padding"]
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ShapeError("padding='same' only works with stride 1; set the padding as a number instead",
                                 param="padding")
            out = tuple(sizes)
        else:
            pad = (0,) * dims if padding == "valid" else p("padding").expand(padding)
            out = spatial_out(ctx, sizes, kernel, stride, pad, dilation)
        return x.with_shape(("N", out_ch) + out)
    return infer


def _conv_build_for(class_name: str):
    def build(ctx):
        cls, x = getattr(nn, class_name), ctx.input()
        return cls(x.shape[1], ctx["out_channels"], ctx["kernel_size"], stride=ctx["stride"],
                   padding=ctx["padding"], dilation=ctx["dilation"], groups=ctx["groups"], bias=ctx["bias"])
    return build


def _conv_count(ctx):
    in_ch = ctx.input().shape[1]
    kernel = ctx.spec.param("kernel_size").expand(ctx["kernel_size"])
    out_ch = ctx["out_channels"]
    return out_ch * (in_ch // ctx["groups"]) * math.prod(kernel) + (out_ch if ctx["bias"] else 0)


def _convt_infer(ctx):
    x = _spatial_input(ctx, 2, "ConvTranspose2d")
    p = ctx.spec.param
    kernel = p("kernel_size").expand(ctx["kernel_size"])
    stride = p("stride").expand(ctx["stride"])
    padding = p("padding").expand(ctx["padding"])
    out_pad = p("output_padding").expand(ctx["output_padding"])
    dilation = p("dilation").expand(ctx["dilation"])
    in_ch, groups, out_ch = x.shape[1], ctx["groups"], ctx["out_channels"]
    if in_ch % groups or out_ch % groups:
        raise ShapeError(f"groups={groups} must divide both the input channels ({in_ch}) and "
                         f"out_channels ({out_ch})", "in", "groups")
    out = []
    for size, k, s, pd, op, d in zip(x.shape[2:], kernel, stride, padding, out_pad, dilation):
        if op >= max(s, d):
            raise ShapeError(f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d})",
                             param="output_padding")
        o = (size - 1) * s - 2 * pd + d * (k - 1) + op + 1
        if o < 1:
            raise ShapeError(f"padding {pd} is too large: the output would have size {o}", param="padding")
        out.append(o)
    return x.with_shape(("N", out_ch) + tuple(out))


def _convt_build(ctx):
    return nn.ConvTranspose2d(ctx.input().shape[1], ctx["out_channels"], ctx["kernel_size"],
                              stride=ctx["stride"], padding=ctx["padding"],
                              output_padding=ctx["output_padding"], groups=ctx["groups"],
                              bias=ctx["bias"], dilation=ctx["dilation"])


def _convt_count(ctx):
    in_ch = ctx.input().shape[1]
    kernel = ctx.spec.param("kernel_size").expand(ctx["kernel_size"])
    out_ch = ctx["out_channels"]
    return in_ch * (out_ch // ctx["groups"]) * math.prod(kernel) + (out_ch if ctx["bias"] else 0)


# ---------------------------------------------------------------- pooling
def _pool_params(dims: int, dilation: bool):
    params = [
        IntsParam("kernel_size", 2, "Size of the pooling window", length=dims, minimum=1, maximum=1024),
        IntsParam("stride", None, "Step between windows (empty: same as kernel_size)", length=dims,
                  minimum=1, maximum=1024, optional=True, example=2),
        IntsParam("padding", 0, "Padding on each side (at most half the kernel)", length=dims, minimum=0, maximum=512),
    ]
    if dilation:
        params.append(IntsParam("dilation", 1, "Spacing between window elements", length=dims, minimum=1, maximum=1024))
    params.append(BoolParam("ceil_mode", False, "Round the output size up instead of down"))
    return tuple(params)


def _pool_infer_for(dims: int, name: str):
    def infer(ctx):
        x = _spatial_input(ctx, dims, name)
        p = ctx.spec.param
        kernel = p("kernel_size").expand(ctx["kernel_size"])
        stride = p("stride").expand(ctx["stride"]) if ctx["stride"] is not None else kernel
        padding = p("padding").expand(ctx["padding"])
        dilation = p("dilation").expand(ctx["dilation"]) if "dilation" in ctx.params else None
        check_half_kernel(padding, kernel)
        out = spatial_out(ctx, x.shape[2:], kernel, stride, padding, dilation, ctx["ceil_mode"])
        return x.with_shape(x.shape[:2] + out)
    return infer


def _maxpool_build_for(class_name: str):
    def build(ctx):
        cls = getattr(nn, class_name)
        return cls(ctx["kernel_size"], stride=ctx["stride"], padding=ctx["padding"],
                   dilation=ctx["dilation"], ceil_mode=ctx["ceil_mode"])
    return build


def _avgpool_build(ctx):
    return nn.AvgPool2d(ctx["kernel_size"], stride=ctx["stride"], padding=ctx["padding"], ceil_mode=ctx["ceil_mode"])


def _adaptive_infer(ctx):
    x = _spatial_input(ctx, 2, "AdaptiveAvgPool2d")
    out = ctx.spec.param("output_size").expand(ctx["output_size"])
    return x.with_shape(x.shape[:2] + out)


# --------------------------------------------------------- normalisation
def _bn_params():
    return (
        FloatParam("eps", 1e-5, "Added to the variance for numerical stability", minimum=0.0, maximum=1.0,
                   exclusive_minimum=True),
        FloatParam("momentum", 0.1, "Weight of the newest batch in the running statistics", minimum=0.0, maximum=1.0),
        BoolParam("affine", True, "Learn a scale and a shift per channel"),
    )


def _bn_infer_for(ranks, layout, name):
    def infer(ctx):
        x = ctx.input()
        if x.rank not in ranks:
            hint = "use BatchNorm2d for images" if x.rank == 4 else "use BatchNorm1d for features" if x.rank == 2 else ""
            raise ShapeError(f"expects {layout} but receives {shape_text(x)}" + (f"; {hint}" if hint else ""), "in")
        return ctx.expect_float()
    return infer


def _bn_build_for(class_name: str):
    def build(ctx):
        cls = getattr(nn, class_name)
        return cls(ctx.input().shape[1], eps=ctx["eps"], momentum=ctx["momentum"], affine=ctx["affine"])
    return build


def _bn_count(ctx):
    return 2 * ctx.input().shape[1] if ctx["affine"] else 0


def _layernorm_shape(ctx) -> tuple[int, ...]:
    x = ctx.input()
    dims = ctx["dims"]
    if dims > x.rank - 1:
        raise ShapeError(f"cannot normalise the last {dims} dimensions of {shape_text(x)}, "
                         f"which has {x.rank - 1} besides the batch", "in", "dims")
    return tuple(x.shape[x.rank - dims:])


def _layernorm_infer(ctx):
    _layernorm_shape(ctx)
    return ctx.expect_float()


def _layernorm_build(ctx):
    return nn.LayerNorm(_layernorm_shape(ctx), eps=ctx["eps"], elementwise_affine=ctx["elementwise_affine"])


def _layernorm_count(ctx):
    return 2 * math.prod(_layernorm_shape(ctx)) if ctx["elementwise_affine"] else 0


# ------------------------------------------------------------------ shape
def _flatten_infer(ctx):
    x = ctx.input()
    start = ctx["start_dim"]
    if start >= x.rank:
        raise ShapeError(f"start_dim {start} is past the last dimension of {shape_text(x)}", "in", "start_dim")
    return x.with_shape(x.shape[:start] + (math.prod(x.shape[start:]),))


def _reshape_infer(ctx):
    x = ctx.input()
    target = ctx["shape"]
    total = x.numel_per_sample()
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeError(f"cannot reshape {shape_text(x)} ({total} values per sample) to "
                             f"{format_shape(('N',) + target)}: {total} is not divisible by {known}", "in", "shape")
        target = tuple(total // known if d == -1 else d for d in target)
    elif known != total:
        raise ShapeError(f"cannot reshape {shape_text(x)} ({total} values per sample) to "
                         f"{format_shape(('N',) + target)} ({known} values)", "in", "shape")
    return x.with_shape(("N",) + tuple(target))


def _embedding_infer(ctx):
    x = ctx.input()
    if x.dtype != INT:
        raise ShapeError("expects integer token ids (int64) but receives float32; set the Input dtype to int64", "in")
    return TensorSpec(x.shape + (ctx["embedding_dim"],), FLOAT)


def _embedding_build(ctx):
    return nn.Embedding(ctx["num_embeddings"], ctx["embedding_dim"], padding_idx=ctx["padding_idx"])


def _embedding_checked_infer(ctx):
    padding = ctx["padding_idx"]
    if padding is not None and padding >= ctx["num_embeddings"]:
        raise ShapeError(f"padding_idx {padding} must be smaller than num_embeddings ({ctx['num_embeddings']})",
                         param="padding_idx")
    return _embedding_infer(ctx)


def _same_float(ctx):
    return ctx.expect_float()


def specs():
    conv1d_infer, conv2d_infer = _conv_infer_for(1, "Conv1d"), _conv_infer_for(2, "Conv2d")
    return [
        NodeSpec(
            "Linear", DENSE, "Fully connected layer: y = x W^T + b over the last dimension",
            params=(positive("out_features", 64, "Number of output features"), BIAS, INIT_PARAM),
            infer=_linear_infer, build=_linear_build, count_params=_linear_count,
            aliases=("Dense",), torch_name="torch.nn.Linear",
        ),
        NodeSpec(
            "Conv1d", CONV, "1-D convolution over [N, channels, length]",
            params=_conv_params(1, 16), infer=conv1d_infer, build=_conv_build_for("Conv1d"),
            count_params=_conv_count, torch_name="torch.nn.Conv1d",
        ),
        NodeSpec(
            "Conv2d", CONV, "2-D convolution over [N, channels, height, width]",
            params=_conv_params(2, 16), infer=conv2d_infer, build=_conv_build_for("Conv2d"),
            count_params=_conv_count, aliases=("Conv2D",), torch_name="torch.nn.Conv2d",
        ),
        NodeSpec(
            "ConvTranspose2d", CONV, "Transposed 2-D convolution (learned upsampling)",
            params=(
                positive("out_channels", 16, "Number of output channels", maximum=65536),
                IntsParam("kernel_size", 2, "Size of the sliding window", length=2, minimum=1, maximum=1024),
                IntsParam("stride", 2, "Upsampling factor", length=2, minimum=1, maximum=1024),
                IntsParam("padding", 0, "Removed from each side of the output", length=2, minimum=0, maximum=1024),
                IntsParam("output_padding", 0, "Extra size added to one side of the output", length=2,
                          minimum=0, maximum=1024),
                IntsParam("dilation", 1, "Spacing between kernel elements", length=2, minimum=1, maximum=1024),
                positive("groups", 1, "Split channels into groups", maximum=65536),
                BIAS, INIT_PARAM,
            ),
            infer=_convt_infer, build=_convt_build, count_params=_convt_count,
            torch_name="torch.nn.ConvTranspose2d",
        ),
        NodeSpec(
            "MaxPool1d", POOL, "Maximum over sliding windows of a sequence",
            params=_pool_params(1, True), infer=_pool_infer_for(1, "MaxPool1d"),
            build=_maxpool_build_for("MaxPool1d"), count_params=lambda ctx: 0, torch_name="torch.nn.MaxPool1d",
        ),
        NodeSpec(
            "MaxPool2d", POOL, "Maximum over sliding windows of an image",
            params=_pool_params(2, True), infer=_pool_infer_for(2, "MaxPool2d"),
            build=_maxpool_build_for("MaxPool2d"), count_params=lambda ctx: 0,
            aliases=("MaxPooling2D",), torch_name="torch.nn.MaxPool2d",
        ),
        NodeSpec(
            "AvgPool2d", POOL, "Average over sliding windows of an image",
            params=_pool_params(2, False), infer=_pool_infer_for(2, "AvgPool2d"),
            build=_avgpool_build, count_params=lambda ctx: 0,
            aliases=("AveragePooling2D",), torch_name="torch.nn.AvgPool2d",
        ),
        NodeSpec(
            "AdaptiveAvgPool2d", POOL, "Average-pool to a fixed output size, whatever the input size",
            params=(IntsParam("output_size", 1, "Output height and width", length=2, minimum=1, maximum=4096),),
            infer=_adaptive_infer, build=lambda ctx: nn.AdaptiveAvgPool2d(ctx["output_size"]),
            count_params=lambda ctx: 0, torch_name="torch.nn.AdaptiveAvgPool2d",
        ),
        NodeSpec(
            "BatchNorm1d", NORM, "Batch normalisation of features [N, C] or sequences [N, C, L]",
            params=_bn_params(), infer=_bn_infer_for((2, 3), "[N, features] or [N, channels, length]", "BatchNorm1d"),
            build=_bn_build_for("BatchNorm1d"), count_params=_bn_count, torch_name="torch.nn.BatchNorm1d",
        ),
        NodeSpec(
            "BatchNorm2d", NORM, "Batch normalisation of images, per channel",
            params=_bn_params(), infer=_bn_infer_for((4,), "[N, channels, height, width]", "BatchNorm2d"),
            build=_bn_build_for("BatchNorm2d"), count_params=_bn_count,
            aliases=("BatchNormalization",), torch_name="torch.nn.BatchNorm2d",
        ),
        NodeSpec(
            "LayerNorm", NORM, "Layer normalisation over the last `dims` dimensions of each sample",
            params=(
                IntParam("dims", 1, "How many trailing dimensions to normalise over", minimum=1, maximum=8),
                FloatParam("eps", 1e-5, "Added to the variance for numerical stability", minimum=0.0,
                           maximum=1.0, exclusive_minimum=True),
                BoolParam("elementwise_affine", True, "Learn a scale and a shift per element"),
            ),
            infer=_layernorm_infer, build=_layernorm_build, count_params=_layernorm_count,
            torch_name="torch.nn.LayerNorm",
        ),
        NodeSpec(
            "Dropout", NORM, "Randomly zero a fraction p of the values while training",
            params=(FloatParam("p", 0.5, "Probability of zeroing each value", minimum=0.0, maximum=1.0),),
            infer=_same_float, build=lambda ctx: nn.Dropout(ctx["p"]), count_params=lambda ctx: 0,
            torch_name="torch.nn.Dropout",
        ),
        NodeSpec(
            "Flatten", SHAPE, "Flatten each sample into one dimension (from start_dim on)",
            params=(IntParam("start_dim", 1, "First dimension to flatten (1 = everything after the batch)",
                             minimum=1, maximum=8),),
            infer=_flatten_infer, build=lambda ctx: nn.Flatten(ctx["start_dim"]), count_params=lambda ctx: 0,
            torch_name="torch.nn.Flatten",
        ),
        NodeSpec(
            "Reshape", SHAPE, "Give each sample a new shape with the same number of values (-1: inferred)",
            params=(ShapeParam("shape", (-1,), "New shape of one sample; one size may be -1", min_rank=1,
                               allow_infer=True, example=[16, -1]),),
            infer=_reshape_infer, build=lambda ctx: ll_modules.Reshape(ctx["shape"]), count_params=lambda ctx: 0,
            torch_name="torch.reshape",
        ),
        NodeSpec(
            "Embedding", DENSE, "Look up a learned vector for each integer token id",
            params=(
                positive("num_embeddings", 1000, "Vocabulary size (largest token id + 1)", maximum=10_000_000),
                positive("embedding_dim", 32, "Size of each vector", maximum=65536),
                IntParam("padding_idx", None, "Token id whose vector stays zero (empty: none)", minimum=0,
                         optional=True, example=0),
                INIT_PARAM,
            ),
            infer=_embedding_checked_infer, build=_embedding_build,
            count_params=lambda ctx: ctx["num_embeddings"] * ctx["embedding_dim"],
            torch_name="torch.nn.Embedding",
        ),
    ]
