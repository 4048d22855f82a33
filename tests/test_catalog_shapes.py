"""Every built-in node type against PyTorch itself.

For each node type that builds a module (``build``) or emits fx code (``emit``), a table of
parameter sets and input shapes is run through shape inference and through the real module on
random tensors (batch 3). The inferred ``TensorSpec`` must match the tensor PyTorch returns (shape
and dtype), and the analytic parameter count must match the module's parameters. Hypothesis then
explores the sliding-window formulas (convolutions and pools) where off-by-one mistakes hide, and
the last section pins the error messages users read in the editor.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import fx, nn

from layerloom.core.errors import LayerLoomError, ShapeError
from layerloom.core.params import check_params
from layerloom.core.shapes import BATCH, FLOAT, INT, TensorSpec, batched
from layerloom.catalog.spec import INPUT, OUTPUT, TARGET_ROLE, InferContext, default_catalog

CATALOG = default_catalog()
BATCH_SIZE = 3
TORCH_DTYPES = {FLOAT: torch.float32, INT: torch.int64}
CLASSIFICATION_LOSSES = {"CrossEntropyLoss", "NLLLoss"}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def f(*features: int) -> TensorSpec:
    """A float32 input [N, *features]."""
    return batched(features)


def i(*features: int) -> TensorSpec:
    """An int64 input [N, *features]."""
    return batched(features, INT)


# ---------------------------------------------------------------- helpers
def make_ctx(type_id: str, raw: dict[str, Any], inputs) -> InferContext:
    """An InferContext from raw (JSON-like) params and input specs given in port order."""
    spec = CATALOG[type_id]
    checked = check_params(spec.params, raw)
    assert not checked.errors, f"bad test params for {type_id}: {checked.errors}"
    assert not checked.unknown, f"unknown test params for {type_id}: {checked.unknown}"
    ports = spec.input_ports(checked.values)
    assert len(ports) == len(inputs), f"{type_id} has ports {[p.name for p in ports]}, case gives {len(inputs)}"
    return InferContext(spec, checked.values, {p.name: s for p, s in zip(ports, inputs)})


def random_input(ctx: InferContext, port: str, spec: TensorSpec, batch: int = BATCH_SIZE) -> torch.Tensor:
    """A random tensor for ``spec``: valid token ids for Embedding, valid class indices (or
    probabilities) for classification targets, 0/1 values for BCE targets, randn otherwise."""
    shape = spec.concrete(batch)
    type_id = ctx.spec.type_id
    if spec.dtype == INT:
        high = 4
        if type_id == "Embedding":
            high = ctx["num_embeddings"]
        elif type_id in CLASSIFICATION_LOSSES and port == "target":
            high = ctx.inputs["pred"].shape[1]
        return torch.randint(0, high, shape)
    if port == "target" and type_id == "BCEWithLogitsLoss":
        return torch.randint(0, 2, shape).float()
    if port == "target" and type_id in CLASSIFICATION_LOSSES:
        return torch.randn(shape).softmax(dim=1)  # class probabilities
    return torch.randn(shape)


def random_inputs(ctx: InferContext, batch: int = BATCH_SIZE) -> list[torch.Tensor]:
    return [random_input(ctx, name, spec, batch) for name, spec in ctx.inputs.items()]


def build(ctx: InferContext) -> nn.Module:
    """The spec's module, or for ``emit`` specs a GraphModule holding just the emitted nodes."""
    spec = ctx.spec
    if spec.build is not None:
        return spec.build(ctx)
    assert spec.emit is not None, f"{spec.type_id} has neither build nor emit"
    graph = fx.Graph()
    args = [graph.placeholder(name) for name in ctx.inputs]
    graph.output(spec.emit(graph, args, ctx, "node"))
    graph.lint()
    return fx.GraphModule(nn.Module(), graph)


def run(module: nn.Module, tensors) -> torch.Tensor:
    with warnings.catch_warnings():
        # padding='same' with an even kernel warns that it copies the input; that is fine here.
        warnings.simplefilter("ignore", UserWarning)
        return module(*tensors)


def infer_single(ctx: InferContext) -> TensorSpec:
    outputs = ctx.spec.infer_outputs(ctx)
    assert list(outputs) == [p.name for p in ctx.spec.outputs], outputs
    (out,) = outputs.values()
    return out


# ---------------------------------------------------------------- the case table
@dataclass(frozen=True)
class Case:
    type_id: str
    params: dict[str, Any]
    inputs: tuple  # TensorSpec per input port, in port order
    name: str

    @property
    def id(self) -> str:
        return f"{self.type_id}-{self.name}"


CASES: list[Case] = []


def case(type_id: str, name: str, *inputs: TensorSpec, **params) -> None:
    CASES.append(Case(type_id, params, tuple(inputs), name))


# Dense
case("Linear", "2d", f(8), out_features=5)
case("Linear", "no-bias", f(8), out_features=4, bias=False)
case("Linear", "sequence-3d", f(5, 8), out_features=3)
case("Linear", "1-to-1", f(1), out_features=1, init="xavier_uniform")
case("Embedding", "ids-rank1", i(), num_embeddings=10, embedding_dim=4)
case("Embedding", "ids-rank2", i(5), num_embeddings=20, embedding_dim=3)
case("Embedding", "ids-rank3-padding", i(2, 3), num_embeddings=7, embedding_dim=2, padding_idx=0)

# Convolution
case("Conv1d", "k3", f(3, 10), out_channels=4, kernel_size=3)
case("Conv1d", "stride2-pad2-k5", f(4, 11), out_channels=6, kernel_size=5, stride=2, padding=2)
case("Conv1d", "same-dilated-groups", f(4, 12), out_channels=4, kernel_size=3, dilation=2, groups=2,
     padding="same")
case("Conv1d", "valid-list-params-nobias", f(2, 9), out_channels=2, kernel_size=[4], stride=[3],
     padding="valid", bias=False)
case("Conv1d", "same-even-kernel-depthwise", f(4, 7), out_channels=4, kernel_size=2, padding="same", groups=4)
case("Conv2d", "defaults", f(3, 8, 8), out_channels=4)
case("Conv2d", "tuple-kernel-stride-pad", f(3, 9, 7), out_channels=6, kernel_size=[3, 2], stride=[2, 1],
     padding=[1, 0])
case("Conv2d", "dilation2-groups2", f(4, 10, 10), out_channels=8, kernel_size=3, dilation=2, padding=2, groups=2)
case("Conv2d", "same-tuple-kernel", f(2, 7, 9), out_channels=4, kernel_size=[3, 5], padding="same")
case("Conv2d", "same-even-kernel", f(2, 7, 6), out_channels=2, kernel_size=4, padding="same")
case("Conv2d", "valid-stride3-nobias", f(1, 8, 8), out_channels=3, kernel_size=3, padding="valid", stride=3,
     bias=False)
case("Conv2d", "depthwise", f(4, 6, 6), out_channels=4, groups=4, kernel_size=3, padding=1)
case("Conv2d", "kernel-equals-input", f(2, 5, 5), out_channels=3, kernel_size=5)
case("Conv2d", "tuple-dilation", f(2, 9, 9), out_channels=2, kernel_size=[2, 3], dilation=[3, 1], stride=[1, 2])
case("ConvTranspose2d", "defaults-upsample2", f(4, 5, 5), out_channels=3)
case("ConvTranspose2d", "k3-s2-p1-op1-groups2", f(4, 5, 6), out_channels=6, kernel_size=3, stride=2, padding=1,
     output_padding=1, groups=2)
case("ConvTranspose2d", "tuples-mixed", f(2, 4, 4), out_channels=2, kernel_size=[3, 2], stride=[1, 3],
     padding=[1, 0], output_padding=[1, 2], dilation=[2, 1])
case("ConvTranspose2d", "op-below-dilation-nobias", f(2, 3, 3), out_channels=2, kernel_size=3, stride=1,
     dilation=2, output_padding=1, bias=False)

# Pooling
case("MaxPool1d", "defaults", f(3, 10))
case("MaxPool1d", "k3-s2-p1-ceil", f(2, 11), kernel_size=3, stride=2, padding=1, ceil_mode=True)
case("MaxPool1d", "dilation2-stride1", f(2, 9), kernel_size=2, dilation=2, stride=1)
case("MaxPool1d", "stride-none-ceil", f(2, 5), kernel_size=2, ceil_mode=True)
case("MaxPool2d", "defaults", f(3, 8, 8))
case("MaxPool2d", "stride-none-ceil-odd", f(2, 7, 7), kernel_size=2, ceil_mode=True)
case("MaxPool2d", "tuples-dilated", f(2, 9, 8), kernel_size=[3, 2], stride=[2, 1], padding=[1, 1], dilation=[1, 2])
case("MaxPool2d", "k3-s2-p1-ceil", f(2, 10, 10), kernel_size=3, stride=2, padding=1, ceil_mode=True)
# ceil_mode would add a window that starts inside the right padding; PyTorch drops it.
case("MaxPool2d", "ceil-last-window-in-padding", f(2, 5, 5), kernel_size=2, stride=2, padding=1, ceil_mode=True)
case("AvgPool2d", "defaults", f(3, 8, 8))
case("AvgPool2d", "k3-s2-p1-ceil", f(2, 7, 7), kernel_size=3, stride=2, padding=1, ceil_mode=True)
case("AvgPool2d", "tuple-kernel-stride-none", f(2, 6, 9), kernel_size=[2, 3])
case("AvgPool2d", "ceil-last-window-in-padding", f(2, 5, 5), kernel_size=2, stride=2, padding=1, ceil_mode=True)
case("AdaptiveAvgPool2d", "global", f(3, 8, 8))
case("AdaptiveAvgPool2d", "tuple", f(2, 7, 9), output_size=[3, 2])
case("AdaptiveAvgPool2d", "upsample", f(2, 3, 3), output_size=5)

# Normalisation
case("BatchNorm1d", "features", f(6))
case("BatchNorm1d", "sequence", f(4, 7))
case("BatchNorm1d", "no-affine", f(5), affine=False)
case("BatchNorm2d", "defaults", f(3, 4, 4))
case("BatchNorm2d", "no-affine", f(2, 5, 3), affine=False)
case("BatchNorm2d", "momentum", f(1, 2, 2), momentum=0.5, eps=1e-3)
case("LayerNorm", "last-dim", f(8))
case("LayerNorm", "dims2", f(4, 6), dims=2)
case("LayerNorm", "dims3-no-affine", f(2, 3, 4), dims=3, elementwise_affine=False)
case("LayerNorm", "dims1-of-3d", f(5, 6), dims=1)
case("Dropout", "p0.5", f(8), p=0.5)
case("Dropout", "p0-3d", f(2, 3, 4), p=0.0)
case("Dropout", "p1", f(4, 5), p=1.0)

# Shape
case("Flatten", "defaults", f(2, 3, 4))
case("Flatten", "start-dim2", f(4, 3, 2), start_dim=2)
case("Flatten", "already-flat", f(7))
case("Flatten", "start-dim3-4d", f(2, 3, 4, 5), start_dim=3)
case("Flatten", "int64", i(2, 3))
case("Reshape", "to-2d", f(12), shape=[3, 4])
case("Reshape", "flat-inferred", f(2, 3, 4), shape=[-1])
case("Reshape", "inferred-first", f(2, 6), shape=[-1, 4])
case("Reshape", "inferred-middle", f(24), shape=[2, -1, 3])
case("Reshape", "int64", i(6), shape=[2, 3])

# Sequence
for rnn in ("LSTM", "GRU"):
    case(rnn, "last", f(5, 4), hidden_size=6)
    case(rnn, "sequence", f(5, 4), hidden_size=3, output="sequence")
    case(rnn, "bidirectional-last", f(4, 3), hidden_size=5, bidirectional=True)
    case(rnn, "bidirectional-2layers-sequence", f(4, 3), hidden_size=2, num_layers=2, bidirectional=True,
         output="sequence", dropout=0.2)
    case(rnn, "2layers-last-nobias", f(3, 2), hidden_size=4, num_layers=2, bias=False)
    case(rnn, "bidirectional-2layers-last", f(3, 2), hidden_size=3, num_layers=2, bidirectional=True)
case("TransformerEncoderLayer", "relu", f(5, 8), nhead=2, dim_feedforward=16)
case("TransformerEncoderLayer", "gelu-norm-first", f(3, 6), nhead=3, dim_feedforward=8, activation="gelu",
     norm_first=True)
case("TransformerEncoderLayer", "one-head-no-dropout", f(4, 4), nhead=1, dim_feedforward=4, dropout=0.0)
case("TransformerEncoderLayer", "one-step", f(1, 8), nhead=4, dim_feedforward=8)

# Merges
for merge in ("Add", "Multiply"):
    case(merge, "same-shape", f(4), f(4))
    case(merge, "broadcast-features", f(4), f(1))
    case(merge, "broadcast-both", f(2, 1, 5), f(2, 3, 1))
    case(merge, "three-inputs", f(3, 4), f(3, 4), f(1, 4), inputs=3)
    case(merge, "int64", i(3), i(3))
case("Concat", "dim1", f(3, 4), f(5, 4))
case("Concat", "dim-1", f(2, 3), f(2, 5), dim=-1)
case("Concat", "three-inputs-dim3", f(2, 3, 4), f(2, 3, 1), f(2, 3, 2), inputs=3, dim=3)
case("Concat", "int64", i(2), i(3))
case("Concat", "dim-2-of-3d", f(1, 4), f(3, 4), dim=-2)

# Activations
_ACT_PARAMS = {
    "ReLU": {}, "LeakyReLU": {"negative_slope": 0.2}, "ELU": {"alpha": 0.5}, "GELU": {"approximate": "tanh"},
    "SiLU": {}, "Sigmoid": {}, "Tanh": {}, "Softplus": {"beta": 2.0, "threshold": 10.0},
}
for act, extra in _ACT_PARAMS.items():
    case(act, "features", f(8))
    case(act, "image" + ("-params" if extra else ""), f(2, 3, 4), **extra)
    case(act, "sequence", f(5, 3))
case("PReLU", "shared", f(6))
case("PReLU", "per-channel-sequence", f(4, 5), per_channel=True)
case("PReLU", "per-channel-image", f(3, 2, 2), per_channel=True, init_value=0.1)
case("PReLU", "per-channel-features", f(5), per_channel=True)
for act in ("Softmax", "LogSoftmax"):
    case(act, "last", f(5))
    case(act, "dim1", f(4, 3), dim=1)
    case(act, "dim-2", f(2, 3, 4), dim=-2)
    case(act, "dim3", f(2, 3, 4), dim=3)

# Formula
case("Formula", "default", f(8))
case("Formula", "per-feature-params", f(3, 5), expression="a*x + b", parameters="a, b", parameter_shape="per_feature")
case("Formula", "two-inputs-broadcast", f(3, 4), f(1, 4), inputs=2, expression="a * x * sigmoid(y)", parameters="a")

# ONNX operator (an imported model's op with no node of its own, run in PyTorch)
case("ONNX operator", "transpose", f(3, 4), op_type="Transpose", attributes='{"perm": [0, 2, 1]}', operands='["in"]')
case("ONNX operator", "reshape-batch", f(2, 3, 4), op_type="Reshape", operands='["in", {"const": ["N", -1], "dtype": "int64"}]')
case("ONNX operator", "mul-buffer", f(3, 2), op_type="Mul",
     operands='["in", {"buffer": "c0", "shape": [3, 1], "dtype": "float32"}]')
case("ONNX operator", "two-inputs", f(4, 5), f(4, 5), op_type="Sub", operands='["in1", "in2"]')

# PyTorch module (an imported model's torch.nn layer with no node of its own)
case("TorchModule", "hardswish", f(3, 4, 4), module="Hardswish", arguments="{}")
case("TorchModule", "upsample", f(2, 3, 3), module="Upsample", arguments='{"scale_factor": 2.0}')
case("TorchModule", "dropout2d", f(2, 3, 3), module="Dropout2d", arguments='{"p": 0.3}')

# Losses (pred, target)
case("CrossEntropyLoss", "indices", f(5), i())
case("CrossEntropyLoss", "indices-per-position", f(4, 6), i(6))
case("CrossEntropyLoss", "probabilities", f(5), f(5))
case("CrossEntropyLoss", "smoothing-sum", f(3), i(), label_smoothing=0.1, reduction="sum")
case("NLLLoss", "indices", f(5), i())
case("NLLLoss", "indices-per-position", f(3, 4), i(4))
case("NLLLoss", "sum", f(2), i(), reduction="sum")
for loss in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCEWithLogitsLoss"):
    case(loss, "vector", f(3), f(3))
    case(loss, "single-output-sum", f(1), f(1), reduction="sum")
    case(loss, "matrix", f(2, 3), f(2, 3))
    case(loss, "scalar-per-sample", f(), f())
case("SmoothL1Loss", "beta", f(4), f(4), beta=0.5)
case("HuberLoss", "delta", f(4), f(4), delta=2.0)


def _params(cases):
    return [pytest.param(c, id=c.id) for c in cases]


# ---------------------------------------------------------------- 1 & 2: inference and counts vs torch
@pytest.mark.parametrize("c", _params(CASES))
def test_inferred_shape_matches_torch(c: Case):
    ctx = make_ctx(c.type_id, c.params, c.inputs)
    out = infer_single(ctx)
    if ctx.spec.role == "loss":
        assert out.shape == ()
    else:
        assert out.shape[0] == BATCH, f"the batch dimension must stay symbolic, got {out}"
        assert all(isinstance(d, int) and d >= 1 for d in out.features), f"features must be sizes, got {out}"
    module = build(ctx)
    tensors = random_inputs(ctx)
    for training in (True, False):
        module.train(training)
        with torch.no_grad():
            y = run(module, tensors)
        assert isinstance(y, torch.Tensor)
        mode = "train" if training else "eval"
        assert tuple(y.shape) == out.concrete(BATCH_SIZE), f"{mode}: inferred {out}, torch gave {list(y.shape)}"
        assert y.dtype == TORCH_DTYPES[out.dtype], f"{mode}: inferred {out.dtype}, torch gave {y.dtype}"


@pytest.mark.parametrize("c", _params(CASES))
def test_param_count_matches_module(c: Case):
    ctx = make_ctx(c.type_id, c.params, c.inputs)
    module = build(ctx)
    actual = sum(p.numel() for p in module.parameters())
    assert ctx.spec.param_count(ctx) == actual
    # The count must not depend on the batch size or on building on the meta device.
    with torch.device("meta"):
        meta = build(ctx)
    assert sum(p.numel() for p in meta.parameters()) == actual


def test_param_counts_are_not_trivially_zero():
    """Guard against a table that only exercises parameter-free layers: the learnable types must
    report real, case-dependent counts."""
    learnable = {"Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
                 "Embedding", "LSTM", "GRU", "TransformerEncoderLayer", "PReLU"}
    counts: dict[str, set[int]] = {}
    for c in CASES:
        if c.type_id in learnable:
            ctx = make_ctx(c.type_id, c.params, c.inputs)
            counts.setdefault(c.type_id, set()).add(ctx.spec.param_count(ctx))
    assert set(counts) == learnable
    for type_id, values in counts.items():
        assert len(values) >= 2 and max(values) > 0, (type_id, values)


# ---------------------------------------------------------------- 3: coverage
def test_every_buildable_node_type_has_cases():
    buildable = {s.type_id for s in CATALOG if s.build is not None or s.emit is not None}
    covered = Counter(c.type_id for c in CASES)
    missing = sorted(buildable - set(covered))
    assert not missing, f"node types without shape/param-count cases in {__name__}: {missing}"
    thin = sorted(t for t in buildable if covered[t] < 3)
    assert not thin, f"node types with fewer than 3 cases: {thin}"
    stale = sorted(set(covered) - buildable)
    assert not stale, f"cases for unknown (or alias) type ids: {stale}"


def test_only_io_nodes_lack_a_module():
    """A new layer type without build/emit would silently escape the table above."""
    for spec in CATALOG:
        if spec.build is None and spec.emit is None:
            assert spec.role in (INPUT, TARGET_ROLE, OUTPUT), spec.type_id


def test_case_ids_are_unique():
    ids = Counter(c.id for c in CASES)
    assert [k for k, n in ids.items() if n > 1] == []


# ---------------------------------------------------------------- 4: property tests vs torch
def _check_against_torch(type_id: str, raw: dict[str, Any], in_spec: TensorSpec) -> None:
    """Inference and PyTorch must agree: a ShapeError means torch refuses too; otherwise torch
    produces exactly the inferred shape."""
    ctx = make_ctx(type_id, raw, (in_spec,))
    try:
        out = infer_single(ctx)
    except ShapeError as exc:
        try:
            module = build(ctx)
            y = run(module, [torch.randn(in_spec.concrete(2))])
        except Exception:  # noqa: BLE001 - torch refuses too: consistent
            return
        # Justified refusal: for some settings (e.g. ConvTranspose2d kernel 1, stride 2, padding 1
        # on a 1x1 input) PyTorch does not raise but returns an empty tensor with a spatial size 0,
        # which no later layer can use. Refusing it in the editor is the right call.
        if y.ndim == len(in_spec.shape) and 0 in y.shape[2:]:
            return
        pytest.fail(f"inference refused ({exc}) but torch returned {list(y.shape)}")
    module = build(ctx)
    y = run(module, [torch.randn(in_spec.concrete(2))])
    assert tuple(y.shape) == out.concrete(2), f"inferred {out}, torch gave {list(y.shape)}"


def _ints(lo: int, hi: int, length: int):
    """An int or a list of ``length`` ints, as a user would type them."""
    one = st.integers(lo, hi)
    return st.one_of(one, st.lists(one, min_size=length, max_size=length))


def _expand(value, length: int) -> tuple[int, ...]:
    return (value,) * length if isinstance(value, int) else tuple(value)


PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def channels_and_groups(draw):
    """(in_channels, out_channels, groups): half the time consistent, half the time arbitrary
    (so groups that do not divide the channels are tried too)."""
    groups = draw(st.integers(1, 3))
    if draw(st.booleans()):
        per_group = st.integers(1, 4 // groups)
        return groups * draw(per_group), groups * draw(per_group), groups
    return draw(st.integers(1, 4)), draw(st.integers(1, 4)), groups


@st.composite
def conv_cases(draw, dims: int):
    in_ch, out_ch, groups = draw(channels_and_groups())
    raw = {
        "out_channels": out_ch,
        "kernel_size": draw(_ints(1, 5, dims)),
        "stride": draw(_ints(1, 3, dims)),
        "padding": draw(st.one_of(_ints(0, 3, dims), st.sampled_from(["same", "valid"]))),
        "dilation": draw(_ints(1, 3, dims)),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    sizes = draw(st.lists(st.integers(1, 12), min_size=dims, max_size=dims))
    return raw, f(in_ch, *sizes)


@PROPERTY
@given(conv_cases(1))
def test_conv1d_property(drawn):
    _check_against_torch("Conv1d", *drawn)


@PROPERTY
@given(conv_cases(2))
def test_conv2d_property(drawn):
    _check_against_torch("Conv2d", *drawn)


@PROPERTY
@given(st.data())
def test_conv_transpose2d_property(data):
    in_ch, out_ch, groups = data.draw(channels_and_groups())
    raw = {
        "out_channels": out_ch,
        "kernel_size": data.draw(_ints(1, 4, 2)),
        "stride": data.draw(_ints(1, 3, 2)),
        "padding": data.draw(_ints(0, 3, 2)),
        "output_padding": data.draw(_ints(0, 3, 2)),
        "dilation": data.draw(_ints(1, 3, 2)),
        "groups": groups,
        "bias": data.draw(st.booleans()),
    }
    sizes = data.draw(st.lists(st.integers(1, 8), min_size=2, max_size=2))
    _check_against_torch("ConvTranspose2d", raw, f(in_ch, *sizes))


@st.composite
def pool_cases(draw, dims: int, dilation: bool):
    raw = {
        "kernel_size": draw(_ints(1, 4, dims)),
        "stride": draw(st.one_of(st.none(), _ints(1, 3, dims))),
        "padding": draw(_ints(0, 2, dims)),
        "ceil_mode": draw(st.booleans()),
    }
    if dilation:
        raw["dilation"] = draw(_ints(1, 3, dims))
    sizes = draw(st.lists(st.integers(1, 12), min_size=dims, max_size=dims))
    return raw, f(draw(st.integers(1, 3)), *sizes)


@PROPERTY
@given(pool_cases(1, dilation=True))
def test_maxpool1d_property(drawn):
    raw, spec = drawn
    _check_against_torch("MaxPool1d", raw, spec)


@PROPERTY
@given(pool_cases(2, dilation=True))
def test_maxpool2d_property(drawn):
    raw, spec = drawn
    _check_against_torch("MaxPool2d", raw, spec)


@PROPERTY
@given(pool_cases(2, dilation=False))
def test_avgpool2d_property(drawn):
    _check_against_torch("AvgPool2d", *drawn)


# PyTorch's pools allow padding up to half the *plain* kernel size, whatever the dilation:
# MaxPool1d: "padding should be at most half of kernel size"; MaxPool2d: "pad should be smaller
# than or equal to half of kernel size ... kW = 3". Inference must do the same.
POOL_PADDING_BUG = [
    pytest.param("MaxPool1d", f(2, 12), id="MaxPool1d"),
    pytest.param("MaxPool2d", f(2, 12, 12), id="MaxPool2d"),
]


@pytest.mark.parametrize("type_id, in_spec", POOL_PADDING_BUG)
def test_torch_pool_padding_limit_ignores_dilation(type_id, in_spec):
    ctx = make_ctx(type_id, {"kernel_size": 3, "padding": 2, "dilation": 2}, (in_spec,))
    module = build(ctx)
    with pytest.raises(RuntimeError, match="half of kernel size"):
        module(torch.randn(in_spec.concrete(2)))


@pytest.mark.parametrize("type_id, in_spec", POOL_PADDING_BUG)
def test_pool_padding_limit_uses_plain_kernel(type_id, in_spec):
    ctx = make_ctx(type_id, {"kernel_size": 3, "padding": 2, "dilation": 2}, (in_spec,))
    with pytest.raises(ShapeError, match="half the kernel"):
        ctx.spec.infer_outputs(ctx)


# ---------------------------------------------------------------- 5: error messages
@dataclass(frozen=True)
class Bad:
    type_id: str
    params: dict[str, Any]
    inputs: tuple
    fragments: tuple[str, ...]
    port: str | None = "in"
    torch_fails: bool = True  # PyTorch rejects it too (build or forward), not just LayerLoom
    extra: dict = field(default_factory=dict)


BAD = {
    "Linear-4d-needs-flatten": Bad(
        "Linear", {"out_features": 10}, (f(32, 4, 4),),
        ("expects [N, features] but receives [N, 32, 4, 4]; insert a Flatten before it",),
        torch_fails=False),  # nn.Linear would quietly act on the last axis only
    "Linear-rank1": Bad("Linear", {}, (f(),), ("expects [N, features] but receives [N]", "Reshape to [1]"),
                        torch_fails=False),
    "Dropout-int64": Bad("Dropout", {}, (i(6),), ("expects floating-point values but receives int64",),
                         port="in"),
    "Linear-int64": Bad("Linear", {}, (i(5),), ("expects floating-point values but receives int64",
                                                "Embedding")),
    "Conv2d-no-channel-dim": Bad(
        "Conv2d", {}, (f(8, 8),),
        ("expects [N, channels, height, width] but receives [N, 8, 8]", "needs a channel dimension",
         "set the Input shape to [1, 8, 8]")),
    "Conv1d-flat-features": Bad("Conv1d", {}, (f(8),), ("expects [N, channels, length] but receives [N, 8]",
                                                        "Reshape to [channels, length]")),
    "Conv2d-groups": Bad("Conv2d", {"out_channels": 4, "groups": 3}, (f(4, 8, 8),),
                         ("groups=3 must divide both the input channels (4) and out_channels (4)",)),
    "Conv2d-same-stride2": Bad("Conv2d", {"padding": "same", "stride": 2}, (f(1, 8, 8),),
                               ("padding='same' only works with stride 1",), port=None),
    "Conv2d-kernel-too-big": Bad("Conv2d", {"kernel_size": 5}, (f(1, 3, 8),),
                                 ("the height 3 (padded to 3) is smaller than the kernel 5",)),
    "Conv2d-dilated-kernel-too-big": Bad("Conv2d", {"kernel_size": 3, "dilation": 3, "padding": 1}, (f(1, 8, 4),),
                                         ("the width 4 (padded to 6) is smaller than the kernel 7",)),
    "ConvTranspose2d-output-padding": Bad(
        "ConvTranspose2d", {"stride": 2, "output_padding": 2}, (f(2, 4, 4),),
        ("output_padding 2 must be smaller than the stride (2) or the dilation (1)",), port=None),
    "MaxPool2d-padding": Bad("MaxPool2d", {"kernel_size": 2, "padding": 2}, (f(1, 8, 8),),
                             ("padding 2 must be at most half the kernel size (1)",), port=None),
    "MaxPool2d-too-small": Bad("MaxPool2d", {"kernel_size": 3}, (f(1, 2, 8),),
                               ("the height 2 (padded to 2) is smaller than the kernel 3",)),
    "BatchNorm1d-image": Bad("BatchNorm1d", {}, (f(3, 4, 4),), ("use BatchNorm2d for images",)),
    "LayerNorm-too-many-dims": Bad("LayerNorm", {"dims": 3}, (f(4, 5),),
                                   ("cannot normalise the last 3 dimensions of [N, 4, 5], which has 2 besides "
                                    "the batch",), torch_fails=False),
    "Flatten-start-dim": Bad("Flatten", {"start_dim": 2}, (f(4),),
                             ("start_dim 2 is past the last dimension of [N, 4]",)),
    "Reshape-not-divisible": Bad("Reshape", {"shape": [3, -1]}, (f(10),),
                                 ("cannot reshape [N, 10] (10 values per sample) to [N, 3, -1]",
                                  "10 is not divisible by 3")),
    "Reshape-wrong-count": Bad("Reshape", {"shape": [5]}, (f(12),),
                               ("cannot reshape [N, 12] (12 values per sample) to [N, 5] (5 values)",)),
    "Embedding-float": Bad("Embedding", {"num_embeddings": 10}, (f(5),),
                           ("expects integer token ids (int64) but receives float32",
                            "set the Input dtype to int64")),
    "Embedding-padding-idx": Bad("Embedding", {"num_embeddings": 10, "padding_idx": 10}, (i(5),),
                                 ("padding_idx 10 must be smaller than num_embeddings (10)",), port=None),
    "LSTM-flat": Bad("LSTM", {}, (f(8),), ("expects [N, time, features] but receives [N, 8]",
                                           "Reshape to [time, features]"), torch_fails=False),
    "TransformerEncoderLayer-heads": Bad(
        "TransformerEncoderLayer", {"nhead": 4}, (f(5, 30),),
        ("the feature size 30 (d_model) must be divisible by nhead=4",)),
    "Add-mismatch": Bad("Add", {}, (f(16), f(32)),
                        ("inputs have shapes [N, 16] (in1), [N, 32] (in2), which cannot be added",), port="in2"),
    "Multiply-mismatch-3": Bad("Multiply", {"inputs": 3}, (f(4), f(4), f(3)),
                               ("[N, 3] (in3), which cannot be multiplied",), port="in3"),
    "Add-mixed-dtypes": Bad("Add", {}, (f(3), i(3)), ("inputs mix float32 and int64 tensors",), port="in2",
                            torch_fails=False),  # torch would silently promote
    "Add-unconnected": Bad("Add", {}, (f(3), None), ("input 'in2' is not connected",), port="in2",
                           torch_fails=False),
    "Concat-mismatch": Bad("Concat", {}, (f(3, 4), f(3, 5)),
                           ("inputs must match except along dim 1: [N, 3, 4] and [N, 3, 5] (in2) differ in dim 2",),
                           port="in2"),
    "Concat-rank": Bad("Concat", {"dim": -1}, (f(3), f(3, 4)),
                       ("all inputs need the same number of dimensions: [N, 3] and [N, 3, 4] (in2)",), port="in2"),
    "Softmax-batch-dim": Bad("Softmax", {"dim": 0}, (f(4),), ("dim 0 is the batch dimension",), port=None,
                             torch_fails=False),
    "Softmax-out-of-range": Bad("Softmax", {"dim": 3}, (f(4),), ("dim 3 is out of range for a 2-D tensor",),
                                port=None),
    "ReLU-int64": Bad("ReLU", {}, (i(4),), ("expects floating-point values but receives int64",),
                      torch_fails=False),
    "PReLU-per-channel-no-channel": Bad("PReLU", {"per_channel": True}, (f(),),
                                        ("per-channel PReLU needs a channel dimension",), torch_fails=False),
    "MSELoss-broadcast-trap": Bad(
        "MSELoss", {}, (f(1), f()),
        ("prediction [N, 1] and target [N] must have the same shape",
         "they would broadcast to [N, N] and train on the wrong pairs", "Set the Target shape to [1]"),
        port="target", torch_fails=False),  # the trap: torch broadcasts silently (see below)
    "MSELoss-target-extra-dim": Bad("L1Loss", {}, (f(), f(1)),
                                    ("prediction [N] and target [N, 1] must have the same shape",
                                     "set the Target shape to []"), port="target", torch_fails=False),
    "MSELoss-int-target": Bad("MSELoss", {}, (f(3), i(3)), ("needs float32 targets but receives int64",
                                                           "CrossEntropyLoss"), port="target", torch_fails=False),
    "CrossEntropyLoss-target-n1": Bad(
        "CrossEntropyLoss", {}, (f(10), i(1)),
        ("class indices must have shape [N] for a prediction [N, 10], but the target is [N, 1]",
         "set the Target shape to [] (one class index per sample)"), port="target"),
    "CrossEntropyLoss-prob-mismatch": Bad(
        "CrossEntropyLoss", {}, (f(5), f(3)),
        ("float targets are class probabilities and must match the prediction [N, 5]",), port="target"),
    "CrossEntropyLoss-pred-rank1": Bad("CrossEntropyLoss", {}, (f(), i()),
                                       ("expects class scores [N, classes] as prediction but receives [N]",),
                                       port="pred", torch_fails=False),
    "NLLLoss-float-target": Bad("NLLLoss", {}, (f(5), f(5)),
                                ("NLLLoss needs integer class indices as target, but receives float32",),
                                port="target"),
    "MSELoss-int-pred": Bad("MSELoss", {}, (i(3), f(3)), ("the prediction must be floating-point",), port="pred",
                            torch_fails=False),
}


@pytest.mark.parametrize("name", list(BAD))
def test_shape_error_message(name):
    bad = BAD[name]
    ctx = make_ctx(bad.type_id, bad.params, bad.inputs)
    with pytest.raises(ShapeError) as info:
        ctx.spec.infer_outputs(ctx)
    message = str(info.value)
    for fragment in bad.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.port == bad.port


@pytest.mark.parametrize("name", [n for n, b in BAD.items() if b.torch_fails])
def test_shape_errors_match_torch_failures(name):
    """Where LayerLoom says a shape cannot work, PyTorch agrees (build or forward raises, and not
    with one of LayerLoom's own errors)."""
    bad = BAD[name]
    ctx = make_ctx(bad.type_id, bad.params, bad.inputs)
    with pytest.raises(Exception) as info:
        run(build(ctx), random_inputs(ctx))
    assert not isinstance(info.value, LayerLoomError), info.value


def test_mse_broadcast_trap_is_real():
    """Why MSELoss refuses pred [N, 1] with target [N]: torch pairs every prediction with every
    target ([N, N]) instead of failing."""
    pred, target = torch.randn(BATCH_SIZE, 1), torch.randn(BATCH_SIZE)
    with pytest.warns(UserWarning, match="broadcast"):
        loss = nn.MSELoss()(pred, target)
    assert torch.allclose(loss, ((pred - target) ** 2).mean())  # a [3, 3] difference
    assert not torch.allclose(loss, ((pred.squeeze(1) - target) ** 2).mean())


# Right-aligned broadcasting of a [N, 1, 4] and a [N, 4] pairs the batch axis of the second input
# with the size-1 axis of the first: PyTorch returns [batch, batch, 4], a shape that depends on the
# batch size. Inference must refuse it (as MSELoss refuses its broadcasting trap); it infers
# [N, N, 4] instead, and a Flatten after it infers [N, "NNNN"] (string repetition).
BATCH_BROADCAST = [
    pytest.param("Add", (f(1, 4), f(4)), id="Add-[N,1,4]+[N,4]"),
    pytest.param("Multiply", (f(1, 4), f(4)), id="Multiply-[N,1,4]*[N,4]"),
    pytest.param("Add", (f(3), f(1, 3), f(3)), id="Add-3-inputs"),
]


@pytest.mark.parametrize("type_id, inputs", BATCH_BROADCAST)
def test_torch_broadcasts_batch_into_features(type_id, inputs):
    ctx = make_ctx(type_id, {"inputs": len(inputs)}, inputs)
    module = build(ctx)
    for batch in (2, 5):
        y = run(module, random_inputs(ctx, batch))
        assert y.shape[1] == batch  # a feature axis that takes the batch size


@pytest.mark.parametrize("type_id, inputs", BATCH_BROADCAST)
def test_elementwise_merge_refuses_batch_broadcast(type_id, inputs):
    ctx = make_ctx(type_id, {"inputs": len(inputs)}, inputs)
    with pytest.raises(ShapeError):
        infer_single(ctx)


def test_add_emits_one_op_per_extra_input():
    """Add with 3 inputs folds into two additions, the last named after the node."""
    ctx = make_ctx("Add", {"inputs": 3}, (f(2), f(2), f(2)))
    module = build(ctx)
    adds = [n for n in module.graph.nodes if n.op == "call_function"]
    assert [n.target for n in adds] == [operator.add, operator.add]
    assert adds[-1].name == "node"
    a, b, c = (torch.randn(BATCH_SIZE, 2) for _ in range(3))
    assert torch.equal(module(a, b, c), a + b + c)
