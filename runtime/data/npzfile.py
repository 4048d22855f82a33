"""NumPy ``.npz`` archives: arrays ``x`` and ``y``, optionally ``x_val``/``y_val`` and ``x_test``/``y_test``.

Read with ``allow_pickle=False``: an archive can never run code. Arrays of rank 3 ``(n, H, W)`` or
rank 4 (channels first or last) are images.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .assemble import RawData
from .base import DatasetError

SPLITS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
IMAGE_CHANNELS = (1, 3, 4)


def load_npz(path: Path) -> RawData:
    """Read the arrays of an ``.npz`` file; see the module docstring for the names it expects."""
    where = str(path)
    arrays = _read_arrays(path)
    found = ", ".join(sorted(arrays)) or "no arrays"
    for needed in ("x", "y"):
        if needed not in arrays:
            raise DatasetError(f"no array {needed!r} (found: {found})", where)
    xs, ys = {}, {}
    for part, (x_name, y_name) in SPLITS.items():
        if x_name in arrays or y_name in arrays:
            if x_name not in arrays or y_name not in arrays:
                missing = y_name if x_name in arrays else x_name
                raise DatasetError(f"{missing!r} is missing: {x_name!r} and {y_name!r} go together "
                                   f"(found: {found})", where)
            xs[part], ys[part] = _check_pair(arrays, x_name, y_name, where)
    layout = _layout(xs["train"])
    feature_shape = None
    for part, x in xs.items():
        xs[part] = _as_features(x, layout)
        if feature_shape is None:
            feature_shape = xs[part].shape[1:]
        elif xs[part].shape[1:] != feature_shape:
            raise DatasetError(f"{SPLITS[part][0]!r} has samples of shape {list(x.shape[1:])}, "
                               f"but 'x' has {list(arrays['x'].shape[1:])}", where)
    uint8 = arrays["x"].dtype == np.uint8
    return RawData(name=path.name, source=str(path), path=where, x=xs, y=ys, feature_shape=tuple(feature_shape),
                   image=layout != "keep", value_range=(0.0, 255.0) if uint8 else None)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    where = str(path)
    if not zipfile.is_zipfile(path):
        raise DatasetError("not an .npz archive (a zip of arrays, as np.savez writes)", where)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"not a readable .npz archive ({exc})", where) from None
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
                if not isinstance(arrays[name], np.ndarray):  # a member that is not a .npy file
                    raise ValueError("the member is not a NumPy array")
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise DatasetError("holds Python objects; LayerLoom reads only numeric arrays (no pickle)",
                                       where, f"array {name!r}") from None
                raise DatasetError(f"cannot read: {exc}", where, f"array {name!r}") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DatasetError(f"cannot read: {exc}", where, f"array {name!r}") from None
    return arrays


def _check_pair(arrays: dict, x_name: str, y_name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = arrays[x_name], arrays[y_name]
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"holds {x.dtype} values; features must be numbers", where, f"array {x_name!r}")
    if x.ndim < 1 or y.ndim < 1:
        raise DatasetError("is a single value; expected one entry per sample", where,
                           f"array {x_name if x.ndim < 1 else y_name!r}")
    if len(x) != len(y):
        raise DatasetError(f"{x_name!r} has {len(x):,} samples but {y_name!r} has {len(y):,}", where)
    if len(x) == 0:
        raise DatasetError("is empty", where, f"array {x_name!r}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DatasetError("holds NaN or infinite values", where, f"array {x_name!r}")
    if y.dtype.kind in "USbiuf":
        return x, y
    raise DatasetError(f"holds {y.dtype} values; labels must be numbers or text", where, f"array {y_name!r}")


def _layout(x: np.ndarray) -> str:
    """How samples of ``x`` become features: ``gray`` (H, W), ``first`` / ``last`` (channels), ``keep``."""
    if x.ndim == 3:
        return "gray"
    if x.ndim == 4:
        if x.shape[1] in IMAGE_CHANNELS:
            return "first"
        if x.shape[3] in IMAGE_CHANNELS:
            return "last"
        return "first"
    return "keep"


def _as_features(x: np.ndarray, layout: str) -> np.ndarray:
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if layout == "gray" and x.ndim == 3:
        x = x[:, None]
    elif layout == "last" and x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)
