"""Small ``nn.Module``s for node types that PyTorch has no single module for.

They subclass the PyTorch module they wrap where they can, so state-dict keys match a network
written by hand (``lstm.weight_ih_l0``), and they export to ONNX.
"""

from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape each sample to ``shape`` (the batch dimension is kept; one entry may be -1)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _final_state(h_n: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The last layer's final hidden state; both directions side by side when bidirectional
    (the backward direction's final state is the one that has read the whole sequence)."""
    if bidirectional:
        return torch.cat((h_n[-2], h_n[-1]), dim=1)
    return h_n[-1]


class LSTM(nn.LSTM):
    """``nn.LSTM`` (batch first) returning the whole sequence ``[N, T, H*D]`` or the final state ``[N, H*D]``."""

    def __init__(self, *args, return_sequence: bool = False, **kwargs):
        super().__init__(*args, batch_first=True, **kwargs)
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, (h_n, _) = super().forward(x)
        return out if self.return_sequence else _final_state(h_n, self.bidirectional)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", return_sequence={self.return_sequence}"


class GRU(nn.GRU):
    """``nn.GRU`` (batch first) returning the whole sequence ``[N, T, H*D]`` or the final state ``[N, H*D]``."""

    def __init__(self, *args, return_sequence: bool = False, **kwargs):
        super().__init__(*args, batch_first=True, **kwargs)
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, h_n = super().forward(x)
        return out if self.return_sequence else _final_state(h_n, self.bidirectional)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", return_sequence={self.return_sequence}"
