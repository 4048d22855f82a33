"""Per-layer weight initialisation, chosen with a node's ``init`` param.

The catalog reads ``INIT_PARAM`` without needing PyTorch; torch is imported when a scheme is applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerloom.core.params import ChoiceParam

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

SCHEMES = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal", "zeros")

INIT_PARAM = ChoiceParam(
    "init", "default",
    "Weight initialisation: PyTorch's default, Xavier/Glorot, Kaiming/He, normal(0, 0.02) or zeros; biases start at 0",
    choices=SCHEMES,
)


def apply_init(module: nn.Module, scheme: str) -> None:
    """Initialise every weight matrix/kernel of ``module`` with ``scheme`` and zero its biases.

    ``default`` leaves PyTorch's own initialisation untouched. Norm-layer weights (1-D) are left
    alone: they are scales, not projections.
    """
    if scheme == "default":
        return
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}")
    import torch
    from torch import nn

    for name, param in module.named_parameters():
        if param.dim() >= 2:
            _init_weight(param, scheme)
        elif name.split(".")[-1].startswith("bias"):
            nn.init.zeros_(param)
    for sub in module.modules():  # the padding token's vector must stay zero, as nn.Embedding promises
        if isinstance(sub, nn.Embedding) and sub.padding_idx is not None:
            with torch.no_grad():
                sub.weight[sub.padding_idx].zero_()


def _init_weight(weight, scheme: str) -> None:
    from torch import nn

    if scheme == "xavier_uniform":
        nn.init.xavier_uniform_(weight)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(weight)
    elif scheme == "kaiming_uniform":
        nn.init.kaiming_uniform_(weight, nonlinearity="relu")
    elif scheme == "kaiming_normal":
        nn.init.kaiming_normal_(weight, nonlinearity="relu")
    elif scheme == "normal":
        nn.init.normal_(weight, 0.0, 0.02)
    elif scheme == "zeros":
        nn.init.zeros_(weight)
