"""Feature scaling fitted on the training split, recorded as a JSON-friendly dict and re-appliable.

The dict is all that inference needs to preprocess new samples the way training did:
``{"mode": "minmax", "min": 0.0, "max": 16.0}`` (a known range, e.g. 8-bit pixels),
``{"mode": "minmax", "min": [...], "max": [...], "axis": "feature"}``,
``{"mode": "standardize", "mean": [...], "std": [...], "axis": "feature" | "channel"}``,
``{"mode": "none"}``. ``axis`` "channel" means one value per image channel (axis -3 of ``C, H, W``).

Each Input's features are scaled on their own (a dataset with several Inputs records one dict per
Input). ``auto`` picks by what the features are: values with a known range (8-bit pixels, the
digits' 0..16) are divided by that range, images ``[C, H, W]`` are standardized per channel, tables
and 1-D signals ``[C, L]`` per feature (each value position its own mean and spread: a signal's
first sample differs from its middle). ``scaling_summary`` says which was chosen and why, in words.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from layerloom.data.base import Dataset, DatasetError

SCALING_MODES = ("auto", "standardize", "minmax", "none")
STATS_SAMPLE = 2048  # lazily loaded images: statistics come from up to this many training images
STATS_BYTES = 2 * 1024**2  # float64 bytes per slice of samples while the statistics are summed


def scale(dataset: Dataset, mode: str = "auto") -> Dataset:
    """A copy of ``dataset`` with scaling fitted on the train split applied to every split, each
    Input's features on their own (``none``: the same arrays, as read-only views: ``shared_features``).

    ``auto``: min-max by the known value range (images, digits) when there is one, else standardize
    (per channel for images, per feature for tables and signals).
    """
    if mode not in SCALING_MODES:
        raise DatasetError(f"unknown scaling {mode!r}; expected one of {', '.join(SCALING_MODES)}",
                           location="training.dataset.scaling")
    if dataset.scaling is not None:
        raise DatasetError(f"{dataset.name} is already scaled ({dataset.scaling['mode']})")
    scaling = _fit(dataset.x_train, dataset.image, dataset.feature_shape, dataset.value_range, mode)
    extras = []
    for extra in dataset.extra_inputs:
        fitted = _fit(extra.parts["train"], extra.image, extra.feature_shape, extra.value_range, mode)
        extras.append(dataclasses.replace(extra, parts={k: _scaled(v, fitted) for k, v in extra.parts.items()},
                                          scaling=fitted))
    return dataclasses.replace(
        dataset, x_train=_scaled(dataset.x_train, scaling), x_val=_scaled(dataset.x_val, scaling),
        x_test=_scaled(dataset.x_test, scaling), scaling=scaling, extra_inputs=tuple(extras), scaling_mode=mode)


def chosen_scaling(mode: str, image: bool, feature_shape: tuple[int, ...],
                   value_range: tuple[float, float] | None) -> tuple[str, str | None, str]:
    """``(mode, axis, why)``: what the ``scaling`` setting ``mode`` does to features like these
    (``axis`` None: one range for all values), and the reason in words."""
    told = mode != "auto"
    if mode == "none":
        return "none", None, "training.dataset.scaling is none: the values are used as they are"
    kind = _kind(image, feature_shape)
    if mode == "auto":
        mode = "minmax" if value_range is not None else "standardize"
    if mode == "minmax" and value_range is not None:
        low, high = value_range
        why = f"{kind} with values in a known range {low:g}..{high:g}"
        return "minmax", None, ("set by training.dataset.scaling; " if told else "auto: ") + why
    axis = "channel" if image and len(feature_shape) == 3 else "feature"
    if axis == "channel":
        why = f"{kind}: one {'mean and std' if mode == 'standardize' else 'range'} per channel"
    else:
        count = math.prod(feature_shape) if feature_shape else 1
        stat = "mean and std" if mode == "standardize" else "range"
        each = "each column" if len(feature_shape) <= 1 else f"each of the {count:,} values"
        why = f"{kind}: {each} its own {stat}"
    return mode, axis, ("set by training.dataset.scaling; " if told else "auto: ") + why


def _kind(image: bool, feature_shape: tuple[int, ...]) -> str:
    shape = "[" + ", ".join(str(s) for s in feature_shape) + "]"
    if image and len(feature_shape) == 3:
        return f"images {shape}"
    if len(feature_shape) == 2:
        return f"1-D signals {shape} (channels, length), not images"
    if len(feature_shape) <= 1:
        return f"a table of {feature_shape[0] if feature_shape else 1:,} columns"
    return f"samples {shape}"


def _words(mode: str, axis: str | None) -> str:
    if mode == "none":
        return "none"
    name = "standardize" if mode == "standardize" else "min-max"
    return f"{name} per {axis}" if axis else f"{name} by the value range"


def scaling_summary(dataset: Dataset) -> str:
    """``"scaling: standardize per feature (auto: 1-D signals [1, 40] ...)"``: what the features are
    (or will be) scaled with and why; one clause per Input when there are several."""
    parts = [(dataset.input_name, dataset.image, tuple(dataset.feature_shape), dataset.value_range)]
    parts += [(e.name, e.image, tuple(e.feature_shape), e.value_range) for e in dataset.extra_inputs]
    clauses = []
    for name, image, shape, value_range in parts:
        mode, axis, why = chosen_scaling(dataset.scaling_mode, image, shape, value_range)
        clauses.append((f"{name} " if len(parts) > 1 else "") + f"{_words(mode, axis)} ({why})")
    return "scaling: " + "; ".join(clauses)


def _scaled(x, scaling: dict):
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return shared_features(x) if scaling.get("mode") == "none" else apply_scaling(x, scaling)
    return x.with_scaling(scaling)


def shared_features(x: np.ndarray) -> np.ndarray:
    """Features used as they are (``scaling: none``): float32 without a copy when they already are, as a
    read-only view. The array stays the loaded dataset's (a cached one, or the one the editor previews):
    the view keeps anything downstream of ``scale`` from writing into it, where a copy used to."""
    view = np.asarray(x, dtype=np.float32).view()
    view.setflags(write=False)
    return view


def _train_sample(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    n = len(x)
    indices = np.unique(np.linspace(0, n - 1, min(n, STATS_SAMPLE)).astype(np.int64))
    return x[indices]


def fit_scaling(dataset: Dataset, mode: str) -> dict:
    """The scaling dict for ``mode`` fitted on the train split of the dataset's (first) features."""
    return _fit(dataset.x_train, dataset.image, dataset.feature_shape, dataset.value_range, mode)


def _fit(x_train, image: bool, feature_shape, value_range, mode: str) -> dict:
    mode, axis, _ = chosen_scaling(mode, image, tuple(feature_shape), value_range)
    if mode == "none":
        return {"mode": "none"}
    if axis is None:
        low, high = value_range
        return {"mode": "minmax", "min": float(low), "max": float(high)}
    x_train = _train_sample(x_train)
    if mode == "minmax":
        values = _grouped(x_train, axis)  # a view: no copy of the split
        return {"mode": "minmax", "min": values.min(axis=(0, 2)).astype(float).tolist(),
                "max": values.max(axis=(0, 2)).astype(float).tolist(), "axis": axis}
    mean, std = _mean_std(x_train, axis)
    std[~(std > 1e-12)] = 1.0
    return {"mode": "standardize", "mean": mean.tolist(), "std": std.tolist(), "axis": axis}


def _grouped(rows: np.ndarray, axis: str) -> np.ndarray:
    """Samples as ``(samples, groups, values)``: one group per channel or per feature."""
    if axis == "channel":
        return rows.reshape(len(rows), rows.shape[-3], -1)
    return rows.reshape(len(rows), -1, 1)


def _mean_std(x: np.ndarray, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """Each group's mean and (population) standard deviation in float64, in one pass over slices of
    about ``STATS_BYTES``: each slice's mean and squared deviations while it is in the cache, merged
    (Chan et al.'s pairwise update) into the totals. Memory for a slice, not a float64 copy of the split."""
    rows = max(1, STATS_BYTES // max(1, 8 * math.prod(x.shape[1:])))
    count, mean, squares = 0, None, None
    for start in range(0, len(x), rows):
        part = _grouped(x[start:start + rows], axis).astype(np.float64)
        n = part.shape[0] * part.shape[2]
        part_mean = part.sum(axis=(0, 2)) / n
        deviation = part - part_mean[:, None]
        part_squares = np.einsum("ngv,ngv->g", deviation, deviation)
        if mean is None:
            count, mean, squares = n, part_mean, part_squares
            continue
        delta, total = part_mean - mean, count + n
        mean = mean + delta * (n / total)
        squares = squares + part_squares + delta * delta * (count * n / total)
        count = total
    return mean, np.sqrt(squares / count)


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
    """Raw features (a batch, or one sample) scaled as ``scaling`` records: a new float32 array, which
    the caller may change (``none`` copies too: a batch's copy is cheap; ``scale`` shares a whole
    split instead, read-only: ``shared_features``). One array is allocated: the division is in place."""
    x = np.asarray(x, dtype=np.float32)
    if scaling.get("mode") == "none":
        return x.copy()
    offset, spread = scaling_arrays(scaling)
    if offset.ndim == 0:
        out = x - offset
    elif scaling.get("axis") == "channel":
        if x.ndim < 3 or x.shape[-3] != len(offset):
            raise DatasetError(f"scaling for {len(offset)} channels does not fit samples of shape {list(x.shape)}")
        out, spread = x - offset[:, None, None], spread[:, None, None]
    else:
        if x.size % len(offset):
            raise DatasetError(f"scaling for {len(offset)} features does not fit samples of shape {list(x.shape)}")
        out = x.reshape(-1, len(offset)) - offset
    out /= spread
    return out.reshape(x.shape)
