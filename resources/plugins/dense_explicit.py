"""A dense layer with explicitly declared weights, as a LayerLoom plugin: ``y = x @ W + b`` with
``W`` and ``b`` created by hand as ``nn.Parameter`` (what ``nn.Linear`` does for you), the second
example of the articles on extending a framework.

Its output shape comes from the input's last dimension and the ``units`` param; the parameter count
is computed without building the module, so the editor shows it at once.
"""

import math

import torch
from torch import nn

from layerloom.catalog import BoolParam, IntParam, NodeSpec, ShapeError


class ExplicitDense(nn.Module):
    def __init__(self, in_features: int, units: int, bias: bool = True):
        super().__init__()
        bound = math.sqrt(6.0 / (in_features + units))            # Glorot (Xavier) uniform
        self.weight = nn.Parameter(torch.empty(in_features, units).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(units)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y


def _infer(ctx):
    x = ctx.expect_float()
    if x.rank < 2:
        raise ShapeError("needs at least [N, features]", "in")
    return x.with_shape(x.shape[:-1] + (ctx["units"],))


def _in_features(ctx) -> int:
    return ctx.input().shape[-1]


NODES = [
    NodeSpec(
        "ExplicitDense", "My layers", "x @ W + b with W and b declared by hand (Glorot-initialised)",
        params=(IntParam("units", 32, "Output features", minimum=1, maximum=1_000_000),
                BoolParam("bias", True, "Add a learned bias")),
        infer=_infer,
        build=lambda ctx: ExplicitDense(_in_features(ctx), ctx["units"], ctx["bias"]),
        count_params=lambda ctx: _in_features(ctx) * ctx["units"] + (ctx["units"] if ctx["bias"] else 0),
    ),
]
