"""Random image augmentation of whole batches on their device, driven only by a given generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from layerloom.data.base import Dataset, DatasetError


class Augmenter:
    """Shifts (zero-filled), horizontal flips and Gaussian noise for a batch ``[B, C, H, W]`` or ``[B, H, W]``.

    Each sample gets its own random shift ``(dy, dx)`` in ``[-shift, shift]`` and is flipped with
    probability 0.5 when ``flip``; ``noise`` is the standard deviation of the added noise. All random
    numbers come from the generator passed to the call (on the batch's device), so runs repeat.
    """

    def __init__(self, shift: int = 0, flip: bool = False, noise: float = 0.0):
        if shift < 0 or noise < 0:
            raise ValueError("shift and noise must not be negative")
        self.shift = int(shift)
        self.flip = bool(flip)
        self.noise = float(noise)

    def __repr__(self) -> str:
        return f"Augmenter(shift={self.shift}, flip={self.flip}, noise={self.noise:g})"

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if batch.dim() not in (3, 4):
            raise ValueError(f"expected a batch [B, C, H, W] or [B, H, W], got shape {list(batch.shape)}")
        squeeze = batch.dim() == 3
        x = batch.unsqueeze(1) if squeeze else batch
        if self.shift:
            x = _shift(x, self.shift, generator)
        if self.flip:
            flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if self.noise:
            x = x + self.noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x.squeeze(1) if squeeze else x


def _shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each image by its own integer offset in ``[-shift, shift]``, filling with zeros."""
    b, c, h, w = x.shape
    offsets = torch.randint(-shift, shift + 1, (2, b), generator=generator, device=x.device)
    padded = F.pad(x, (shift, shift, shift, shift))
    # output pixel (y, x) reads padded pixel (y - dy + shift, x - dx + shift)
    rows = torch.arange(h, device=x.device)[None, :] + shift - offsets[0][:, None]  # [B, H]
    cols = torch.arange(w, device=x.device)[None, :] + shift - offsets[1][:, None]  # [B, W]
    rows = rows[:, None, :, None].expand(b, c, h, w + 2 * shift)
    x = padded.gather(2, rows)
    cols = cols[:, None, None, :].expand(b, c, h, w)
    return x.gather(3, cols)


def make_augmenter(settings: dict, dataset: Dataset) -> Augmenter | None:
    """The augmenter the ``augment_*`` settings ask for, or None when they are all off."""
    from layerloom.data.settings import resolve_settings

    values = resolve_settings(settings)
    shift, flip, noise = values["augment_shift"], values["augment_flip"], values["augment_noise"]
    if not (shift or flip or noise):
        return None
    if len(dataset.feature_shape) < 2:
        key = "augment_shift" if shift else "augment_flip" if flip else "augment_noise"
        raise DatasetError(f"augmentation works on images, but {dataset.name} has samples of shape "
                           f"{list(dataset.feature_shape)}; turn {key} off", location=f"training.dataset.{key}")
    return Augmenter(shift, flip, noise)
