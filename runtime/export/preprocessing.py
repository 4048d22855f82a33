"""The training's input scaling as constants an exported model can apply itself.

A run records its scaling as a dict (``layerloom.data.transforms``): min-max or standardisation, one
value for every feature, one per feature, or one per image channel. ``scaling_constants`` turns it
into two float32 arrays shaped to broadcast against a batch shaped like the graph's Input, so that
``(x - offset) / spread`` is exactly ``apply_scaling(x, scaling)`` (the same float32 operations in
the same order). The ONNX export puts that ``Sub`` and ``Div`` in front of the network, and the
PyTorch source writes it as a ``preprocess`` function. Needs numpy only.
"""

from __future__ import annotations

import numpy as np

from layerloom.data.base import DatasetError
from layerloom.data.transforms import scaling_arrays

RAW, SCALED = "raw", "scaled"   # what an exported model takes: raw samples, or inputs already scaled


class ScalingError(ValueError):
    """A scaling record that does not fit the Input (the message says why)."""


def scaling_constants(scaling: dict | None,
                      features: tuple[int, ...] | list[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(offset, spread)`` for a batch of samples shaped ``(N, *features)``; None when the scaling
    changes nothing (none recorded, or mode "none")."""
    if not scaling or scaling.get("mode") in (None, "none"):
        return None
    try:
        offset, spread = scaling_arrays(scaling)   # the very constants training scaled with
    except DatasetError as exc:
        raise ScalingError(str(exc)) from None
    features = tuple(int(d) for d in features)
    if offset.ndim == 0:
        return offset, spread
    count = len(offset)
    if scaling.get("axis") == "channel":
        if len(features) < 3 or features[-3] != count:
            raise ScalingError(f"scaling for {count} channels does not fit the Input {list(features)}")
        return offset.reshape(count, 1, 1), spread.reshape(count, 1, 1)
    size = int(np.prod(features)) if features else 1
    if size % count:
        raise ScalingError(f"scaling for {count} features does not fit the Input {list(features)}")
    return (np.tile(offset, size // count).reshape(features), np.tile(spread, size // count).reshape(features))


def unscale(x: np.ndarray, constants: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Scaled values back in the raw units (random test inputs a raw-input model would see)."""
    if constants is None:
        return np.asarray(x, dtype=np.float32)
    offset, spread = constants
    return (np.asarray(x, dtype=np.float32) * spread + offset).astype(np.float32)


def describe(scaling: dict | None) -> str:
    """The scaling in a few words, for reports and tooltips."""
    if not scaling or scaling.get("mode") in (None, "none"):
        return "no scaling"
    mode, axis = scaling.get("mode"), scaling.get("axis")
    per = "" if axis is None else " per channel" if axis == "channel" else " per feature"
    if mode == "minmax":
        if np.ndim(scaling.get("min")) == 0:
            return f"min-max scaling of {scaling['min']:g}..{scaling['max']:g} to 0..1"
        return f"min-max scaling{per} to 0..1"
    return f"standardisation{per} (x - mean) / std"
