"""A custom activation as a LayerLoom plugin: ``relu(x) - slope * x``, the example of the articles
on extending a framework ("everything is a mapping": an activation is just another function).

Copy this file into your plugin folder (``~/.local/share/layerloom/plugins`` on Linux, or a folder
named by ``LAYERLOOM_PLUGIN_PATH``) and "DampedReLU" appears in the palette under "My activations".
"""

import torch
from torch import nn

from layerloom.catalog import FloatParam, NodeSpec


class DampedReLU(nn.Module):
    def __init__(self, slope: float = 0.1):
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) - self.slope * x

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


NODES = [
    NodeSpec(
        "DampedReLU", "My activations", "relu(x) - slope * x: a ReLU with a small linear part taken off",
        params=(FloatParam("slope", 0.1, "How much of x is subtracted", minimum=-10.0, maximum=10.0),),
        infer=lambda ctx: ctx.expect_float(),            # same shape as its input
        build=lambda ctx: DampedReLU(ctx["slope"]),
        count_params=lambda ctx: 0,
    ),
]
