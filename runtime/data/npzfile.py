"""NumPy ``.npz`` archives: arrays ``x`` and ``y``, optionally ``x_val``/``y_val`` and ``x_test``/``y_test``.

Arrays holding Python objects are refused (never unpickled): an archive can never run code. Each
member's header is read first and the sizes it declares are checked against the data limit before
anything is allocated. Arrays of rank 3 ``(n, H, W)`` or
rank 4 (channels first or last) are images.
"""

from __future__ import annotations

import lzma
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from layerloom.data.assemble import RawData
from layerloom.data.base import DatasetError
from layerloom.data.guard import check_size, first_nonfinite, nonfinite_text, open_regular

SPLITS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
USED = frozenset(name for pair in SPLITS.values() for name in pair)
FEATURES = frozenset(x for x, _ in SPLITS.values())
CHUNK = 1024**2  # bytes read at a time into an array
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error,
               NotImplementedError, RuntimeError)
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
    """The arrays the loader uses (``SPLITS``), after every member's header is checked: no Python
    objects, data as long as the header declares, and a total within the data limit."""
    where = str(path)
    with open_regular(path) as file:
        if not zipfile.is_zipfile(file):
            raise DatasetError("not an .npz archive (a zip of arrays, as np.savez writes)", where)
        file.seek(0)
        name = None
        try:
            with zipfile.ZipFile(file) as archive:
                headers = {}
                for info in archive.infolist():
                    if info.filename.endswith("/") or not info.filename:  # a folder; a name cut by a NUL byte
                        continue
                    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    headers[name] = (info, _header(archive, info, where, name))
                name = None
                used = {n: h for n, (_, h) in headers.items() if n in USED}
                check_size(_memory(used), _declared(used), where)
                arrays = {}
                for name, (info, header) in headers.items():
                    arrays[name] = _data(archive, info, header, where, name) if name in USED else None
                return arrays
        except DatasetError:
            raise
        except READ_ERRORS as exc:
            location = None if name is None else f"array {name!r}"
            raise DatasetError(f"not a readable .npz archive: the zip data is corrupt or truncated ({exc})",
                               where, location) from None


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, name: str) -> tuple:
    """``(shape, fortran_order, dtype, offset)`` from a member's .npy header, read without its data."""
    location = f"array {name!r}"
    with archive.open(info) as member:
        try:
            version = npy_format.read_magic(member)
        except ValueError:
            raise DatasetError("cannot read: the member is not a NumPy array (.npy)", where, location) from None
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(member)
        else:
            raise DatasetError(f"NPY format version {version[0]}.{version[1]} is not supported (only structured "
                               "arrays need it; LayerLoom reads numeric arrays)", where, location)
        offset = member.tell()
    if dtype.hasobject:
        raise DatasetError("holds Python objects; LayerLoom reads only numeric arrays (no pickle)", where, location)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size - offset:
        raise DatasetError(f"truncated: its header declares {_describe(shape, dtype)} ({nbytes:,} bytes) but "
                           f"the archive holds {max(info.file_size - offset, 0):,}", where, location)
    return shape, fortran, dtype, offset


def _memory(headers: dict[str, tuple]) -> int:
    """Bytes the arrays take once read, with the float32 copy of each feature array."""
    total = 0
    for name, (shape, _, dtype, _) in headers.items():
        total += math.prod(shape) * dtype.itemsize
        if name in FEATURES and dtype != np.float32:
            total += math.prod(shape) * 4
    return total


def _declared(headers: dict[str, tuple]) -> str:
    listed = ", ".join(f"{name!r} {_describe(shape, dtype)}" for name, (shape, _, dtype, _) in sorted(headers.items()))
    return f"the archive declares {listed}"


def _describe(shape: tuple, dtype: np.dtype) -> str:
    return f"{dtype} [{', '.join(f'{s:,}' for s in shape)}]"


def _data(archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: tuple, where: str, name: str) -> np.ndarray:
    """A member's array, read into memory allocated for the size its header declares."""
    shape, fortran, dtype, offset = header
    array = np.empty(math.prod(shape), dtype=dtype)
    buffer = memoryview(array.view(np.uint8)) if array.nbytes else memoryview(b"")
    done = 0
    with archive.open(info) as member:
        member.read(offset)
        while done < array.nbytes:
            got = member.readinto(buffer[done:done + CHUNK])
            if not got:
                raise DatasetError(f"truncated: its header declares {_describe(shape, dtype)} ({array.nbytes:,} "
                                   f"bytes) but the archive holds {done:,}", where, f"array {name!r}")
            done += got
    return array.reshape(shape, order="F" if fortran else "C")


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
    found = first_nonfinite(x)
    if found is not None:
        index, value = found
        raise DatasetError(f"{x_name}[{', '.join(str(i) for i in index)}] {nonfinite_text(value)}", where,
                           f"array {x_name!r}")
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
