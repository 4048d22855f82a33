"""Activation functions. Each keeps the shape of its input."""

from __future__ import annotations

from layerloom.core.errors import ShapeError
from layerloom.core.params import BoolParam, ChoiceParam, FloatParam, IntParam
from layerloom.catalog.spec import NodeSpec
from layerloom.catalog.builtin._common import ACTIVATION, check_dim, nn


def _same_float(ctx):
    return ctx.expect_float()


def _with_dim(ctx):
    x = ctx.expect_float()
    check_dim(ctx["dim"], x.rank)
    return x


def _prelu_channels(ctx) -> int:
    if not ctx["per_channel"]:
        return 1
    x = ctx.input()
    if x.rank < 2:
        raise ShapeError("per-channel PReLU needs a channel dimension (dim 1)", "in")
    return x.shape[1]


def _prelu_infer(ctx):
    _prelu_channels(ctx)
    return ctx.expect_float()


def _act(type_id: str, doc: str, factory, params=(), aliases=(), infer=_same_float):
    return NodeSpec(type_id, ACTIVATION, doc, params=tuple(params), infer=infer, build=factory,
                    count_params=lambda ctx: 0, aliases=tuple(aliases), torch_name=f"torch.nn.{type_id}")


DIM = IntParam("dim", -1, "Dimension to normalise over (-1 = last, 1 = channels)", minimum=-8, maximum=8)


def specs():
    prelu = NodeSpec(
        "PReLU", ACTIVATION, "Leaky ReLU whose negative slope is learned (one, or one per channel)",
        params=(BoolParam("per_channel", False, "Learn one slope per channel (dim 1) instead of one in all"),
                FloatParam("init_value", 0.25, "Initial slope", minimum=-10.0, maximum=10.0)),
        infer=_prelu_infer,
        build=lambda ctx: nn.PReLU(_prelu_channels(ctx), init=ctx["init_value"]),
        count_params=_prelu_channels, torch_name="torch.nn.PReLU",
    )
    return [
        _act("ReLU", "max(0, x)", lambda ctx: nn.ReLU()),
        _act("LeakyReLU", "x if x > 0 else negative_slope * x", lambda ctx: nn.LeakyReLU(ctx["negative_slope"]),
             [FloatParam("negative_slope", 0.01, "Slope for negative inputs", minimum=-10.0, maximum=10.0)]),
        _act("ELU", "x if x > 0 else alpha * (exp(x) - 1)", lambda ctx: nn.ELU(ctx["alpha"]),
             [FloatParam("alpha", 1.0, "Saturation value for negative inputs", minimum=0.0, maximum=100.0)]),
        _act("GELU", "x * Phi(x), the Gaussian error linear unit", lambda ctx: nn.GELU(approximate=ctx["approximate"]),
             [ChoiceParam("approximate", "none", "Exact or tanh approximation", choices=("none", "tanh"))]),
        _act("SiLU", "x * sigmoid(x) (also called Swish)", lambda ctx: nn.SiLU(), aliases=("Swish",)),
        _act("Sigmoid", "1 / (1 + exp(-x))", lambda ctx: nn.Sigmoid()),
        _act("Tanh", "Hyperbolic tangent", lambda ctx: nn.Tanh()),
        _act("Softplus", "log(1 + exp(beta * x)) / beta", lambda ctx: nn.Softplus(ctx["beta"], ctx["threshold"]),
             [FloatParam("beta", 1.0, "Sharpness", minimum=0.0, maximum=1000.0, exclusive_minimum=True),
              FloatParam("threshold", 20.0, "Above beta * x > threshold the function is linear", minimum=0.0,
                         maximum=1000.0)]),
        prelu,
        _act("Softmax", "exp(x) / sum(exp(x)) along dim: probabilities that sum to 1",
             lambda ctx: nn.Softmax(dim=ctx["dim"]), [DIM], infer=_with_dim),
        _act("LogSoftmax", "log(softmax(x)) along dim; pair it with NLLLoss",
             lambda ctx: nn.LogSoftmax(dim=ctx["dim"]), [DIM], infer=_with_dim),
    ]
