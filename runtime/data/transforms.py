"""Feature scaling fitted on the training split, recorded as a JSON-friendly dict and re-appliable.

The dict is all that inference needs to preprocess new samples the way training did:
``{"mode": "minmax", "min": 0.0, "max": 16.0}`` (a known range, e.g. 8-bit pixels),
``{"mode": "minmax", "min": [...], "max": [...], "axis": "feature"}``,
``{"mode": "standardize", "mean": [...], "std": [...], "axis": "feature" | "channel"}``,
``{"mode": "none"}``. ``axis`` "channel" means one value per image channel (axis -3 of ``C, H, W``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from layerloom.data.base import Dataset, DatasetError

SCALING_MODES = ("auto", "standardize", "minmax", "none")
STATS_SAMPLE = 2048  # lazily loaded images: statistics come from up to this many training images


def scale(dataset: Dataset, mode: str = "auto") -> Dataset:
    """A copy of ``dataset`` with scaling fitted on the train split applied to every split.

    ``auto``: min-max by the known value range (images, digits) when there is one, else standardize.
    """
    if mode not in SCALING_MODES:
        raise DatasetError(f"unknown scaling {mode!r}; expected one of {', '.join(SCALING_MODES)}",
                           location="training.dataset.scaling")
    if dataset.scaling is not None:
        raise DatasetError(f"{dataset.name} is already scaled ({dataset.scaling['mode']})")
    if mode == "auto":
        mode = "minmax" if dataset.value_range is not None else "standardize"
    scaling = fit_scaling(dataset, mode)
    return dataclasses.replace(
        dataset, x_train=_scaled(dataset.x_train, scaling), x_val=_scaled(dataset.x_val, scaling),
        x_test=_scaled(dataset.x_test, scaling), scaling=scaling)


def _scaled(x, scaling: dict):
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return apply_scaling(x, scaling)
    return x.with_scaling(scaling)


def _train_sample(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    n = len(x)
    indices = np.unique(np.linspace(0, n - 1, min(n, STATS_SAMPLE)).astype(np.int64))
    return x[indices]


def _per_axis(x: np.ndarray, axis: str) -> np.ndarray:
    """Training values as ``(groups, values)``: one row per feature or per channel."""
    if axis == "channel":
        return np.moveaxis(x, -3, 0).reshape(x.shape[-3], -1)
    return x.reshape(len(x), -1).T


def fit_scaling(dataset: Dataset, mode: str) -> dict:
    """The scaling dict for ``mode`` ("standardize", "minmax" or "none") fitted on the train split."""
    if mode == "none":
        return {"mode": "none"}
    if mode == "minmax" and dataset.value_range is not None:
        low, high = dataset.value_range
        return {"mode": "minmax", "min": float(low), "max": float(high)}
    axis = "channel" if dataset.image and len(dataset.feature_shape) == 3 else "feature"
    values = _per_axis(_train_sample(dataset.x_train), axis)
    if mode == "minmax":
        return {"mode": "minmax", "min": values.min(axis=1).astype(float).tolist(),
                "max": values.max(axis=1).astype(float).tolist(), "axis": axis}
    mean = values.mean(axis=1, dtype=np.float64)
    std = values.std(axis=1, dtype=np.float64)
    std[~(std > 1e-12)] = 1.0
    return {"mode": "standardize", "mean": mean.tolist(), "std": std.tolist(), "axis": axis}


def scaling_arrays(scaling: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, spread)`` of a min-max or standardisation record, float32, a zero spread made 1:
    the scaled value is ``(x - offset) / spread`` (one value, or one per feature or channel)."""
    mode = scaling.get("mode")
    if mode == "minmax":
        offset, spread = np.asarray(scaling["min"]), np.asarray(scaling["max"]) - np.asarray(scaling["min"])
    elif mode == "standardize":
        offset, spread = np.asarray(scaling["mean"]), np.asarray(scaling["std"])
    else:
        raise DatasetError(f"unknown scaling mode {mode!r}")
    spread = np.where(spread == 0, 1.0, spread)
    return offset.astype(np.float32), spread.astype(np.float32)


def apply_scaling(x: np.ndarray, scaling: dict) -> np.ndarray:
    """Raw features (a batch, or one sample) scaled as ``scaling`` records; float32."""
    x = np.asarray(x, dtype=np.float32)
    if scaling.get("mode") == "none":
        return x.copy()
    offset, spread = scaling_arrays(scaling)
    if offset.ndim == 0:
        return (x - offset) / spread
    if scaling.get("axis") == "channel":
        if x.ndim < 3 or x.shape[-3] != len(offset):
            raise DatasetError(f"scaling for {len(offset)} channels does not fit samples of shape {list(x.shape)}")
        return (x - offset[:, None, None]) / spread[:, None, None]
    if x.size % len(offset):
        raise DatasetError(f"scaling for {len(offset)} features does not fit samples of shape {list(x.shape)}")
    flat = x.reshape(-1, len(offset))
    return ((flat - offset) / spread).reshape(x.shape)
