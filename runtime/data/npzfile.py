"""NumPy ``.npz`` archives: arrays ``x`` and ``y``, optionally ``x_val``/``y_val`` and ``x_test``/``y_test``;
or, for a graph with several Inputs or Targets, arrays named after the nodes (their id or name):
``image``, ``meta``, ``label``, with ``image_val``, ``label_test``... for given splits.

Arrays holding Python objects are refused (never unpickled): an archive can never run code. Each
member's header is read first and the sizes it declares are checked against the data limit before
anything is allocated. Arrays of rank 4 (channels first or last) are images; rank 3 ``(n, a, b)`` is a
grayscale image ``(n, H, W)`` unless it is far longer than tall (``b >= 4 a``, such as ``[n, 1, 40]``
or ``[n, 3, 500]``): then it is a 1-D signal ``[channels, length]``, kept as it is.
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
from layerloom.data.base import DataLayout, DatasetError, NamedArrays
from layerloom.data.guard import check_size, first_nonfinite, nonfinite_text, open_regular

SPLITS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
USED = frozenset(name for pair in SPLITS.values() for name in pair)
FEATURES = frozenset(x for x, _ in SPLITS.values())
CHUNK = 4 * 1024**2  # bytes inflated at a time into an array (a compressed member)
LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local header: signature ... name and extra lengths
LOCAL_SIGNATURE = b"PK\x03\x04"
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error,
               NotImplementedError, RuntimeError)
IMAGE_CHANNELS = (1, 3, 4)
SIGNAL_RATIO = 4  # a rank-3 sample [a, b] with b >= SIGNAL_RATIO * a is a signal, not an image
SUFFIXES = {"train": "", "val": "_val", "test": "_test"}


def load_npz(path: Path, layout: DataLayout | None = None) -> RawData:
    """Read the arrays of an ``.npz`` file; see the module docstring for the names it expects.

    ``layout`` names the graph's Inputs and Targets: arrays named after them are read for each."""
    where = str(path)
    wanted = _node_array_names(layout)
    arrays = _read_arrays(path, wanted)
    if layout is not None and any(name in arrays for name in wanted):
        return _load_named(path, arrays, layout)
    found = ", ".join(sorted(arrays)) or "no arrays"
    if "x" not in arrays and arrays and layout is None:
        raise DatasetError(f"no array 'x' (found: {found}); arrays named after a graph's Inputs and Targets "
                           "are read for that graph", where)
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


def _node_array_names(layout: DataLayout | None) -> frozenset[str]:
    """Every array name a node of ``layout`` may have, with its split suffixes."""
    if layout is None:
        return frozenset()
    keys = {key for node in layout.inputs + layout.targets for key in node}
    return frozenset(key + suffix for key in keys for suffix in SUFFIXES.values())


def _key_of(arrays: dict, node: tuple[str, str], fallback: str | None) -> str | None:
    """The array name a node's data has in ``arrays`` (its id, its name, or ``fallback``)."""
    for key in dict.fromkeys(node + ((fallback,) if fallback else ())):
        if key in arrays:
            return key
    return None


def _load_named(path: Path, arrays: dict, layout: DataLayout) -> RawData:
    """Arrays named after the graph's nodes: the first Input found feeds ``x``, the first Target ``y``,
    the others ride along as ``NamedArrays``. A node with no array is left for the plan to name."""
    where = str(path)
    found = ", ".join(sorted(arrays)) or "no arrays"
    inputs = [(node, _key_of(arrays, node, "x" if len(layout.inputs) == 1 else None)) for node in layout.inputs]
    targets = [(node, _key_of(arrays, node, "y" if len(layout.targets) == 1 else None)) for node in layout.targets]
    inputs = [(node, key) for node, key in inputs if key is not None]
    targets = [(node, key) for node, key in targets if key is not None]
    for kind, nodes, got in (("Inputs", layout.inputs, inputs), ("Targets", layout.targets, targets)):
        if nodes and not got:  # the plan names a node without data only once the others have theirs
            names = ", ".join(repr(node[1]) for node in nodes)
            raise DatasetError(f"no array for the {kind} ({names}); name each one's array after it "
                               f"(found: {found})", where)
    keys = [key for _, key in inputs + targets]
    n = {part: None for part in SUFFIXES}
    for part, suffix in SUFFIXES.items():
        present = [key for key in keys if key + suffix in arrays]
        if part != "train" and present and len(present) != len(keys):
            missing = next(key + suffix for key in keys if key + suffix not in arrays)
            raise DatasetError(f"{missing!r} is missing: a split gives every node's array "
                               f"({', '.join(repr(k + suffix) for k in keys)}; found: {found})", where)
        for key in present:
            _check_array(arrays, key + suffix, where, feature=any(key == k for _, k in inputs))
            count = len(arrays[key + suffix])
            if n[part] is None:
                n[part], n_from = count, key + suffix
            elif count != n[part]:
                raise DatasetError(f"{n_from!r} has {n[part]:,} samples but {key + suffix!r} has {count:,}", where)
    parts = [part for part in SUFFIXES if n[part] is not None]
    features = []
    for node, key in inputs:
        layout_kind = _layout(arrays[key])
        xs = {part: _as_features(arrays[key + SUFFIXES[part]], layout_kind) for part in parts}
        shape = xs["train"].shape[1:]
        for part in parts:
            if xs[part].shape[1:] != shape:
                raise DatasetError(f"{key + SUFFIXES[part]!r} has samples of shape {list(xs[part].shape[1:])}, "
                                   f"but {key!r} has {list(shape)}", where)
        features.append(NamedArrays(node[0], xs, tuple(shape), image=layout_kind != "keep",
                                    value_range=(0.0, 255.0) if arrays[key].dtype == np.uint8 else None))
    if targets:
        (_, y_key), more_targets = targets[0], targets[1:]
        ys = {part: arrays[y_key + SUFFIXES[part]] for part in parts}
        target_name = targets[0][0][0]
    else:  # a graph without Targets (its loss compares with its own input): no labels to read
        ys = {part: np.zeros(n[part], dtype=np.float32) for part in parts}
        more_targets, target_name, y_key = [], None, None
    extra_targets = tuple(NamedArrays(node[0], {part: arrays[key + SUFFIXES[part]] for part in parts},
                                      tuple(arrays[key].shape[1:])) for node, key in more_targets)
    main = features[0]
    return RawData(name=path.name, source=str(path), path=where, x=main.parts, y=ys,
                   feature_shape=main.feature_shape, image=main.image, value_range=main.value_range,
                   input_name=main.name, target_name=target_name, extra_inputs=tuple(features[1:]),
                   extra_targets=extra_targets,
                   label_names={part: f"{y_key}{SUFFIXES[part]}" for part in parts} if y_key else {})


def _check_array(arrays: dict, name: str, where: str, feature: bool) -> None:
    array = arrays[name]
    if array.ndim < 1:
        raise DatasetError("is a single value; expected one entry per sample", where, f"array {name!r}")
    if len(array) == 0:
        raise DatasetError("is empty", where, f"array {name!r}")
    if feature and array.dtype.kind not in "biuf":
        raise DatasetError(f"holds {array.dtype} values; features must be numbers", where, f"array {name!r}")
    if not feature and array.dtype.kind not in "USbiuf":
        raise DatasetError(f"holds {array.dtype} values; labels must be numbers or text", where, f"array {name!r}")
    if feature:
        found = first_nonfinite(array)
        if found is not None:
            index, value = found
            raise DatasetError(f"{name}[{', '.join(str(i) for i in index)}] {nonfinite_text(value)}", where,
                               f"array {name!r}")


def _read_arrays(path: Path, wanted: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """The arrays the loader uses (``SPLITS`` and the ``wanted`` node names), after every member's
    header is checked: no Python objects, data as long as the header declares, and a total within the
    data limit. Other members are listed with no data (None)."""
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
                used = {n: h for n, (_, h) in headers.items() if n in USED or n in wanted}
                check_size(_memory(used, FEATURES | wanted), _declared(used), where)
                arrays = {}
                for name, (info, header) in headers.items():
                    arrays[name] = _data(archive, file, info, header, where, name) if name in used else None
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


def _memory(headers: dict[str, tuple], features: frozenset[str] = FEATURES) -> int:
    """Bytes the arrays take once read, with the float32 copy of each feature array."""
    total = 0
    for name, (shape, _, dtype, _) in headers.items():
        total += math.prod(shape) * dtype.itemsize
        if name in features and dtype != np.float32:
            total += math.prod(shape) * 4
    return total


def _declared(headers: dict[str, tuple]) -> str:
    listed = ", ".join(f"{name!r} {_describe(shape, dtype)}" for name, (shape, _, dtype, _) in sorted(headers.items()))
    return f"the archive declares {listed}"


def _describe(shape: tuple, dtype: np.dtype) -> str:
    return f"{dtype} [{', '.join(f'{s:,}' for s in shape)}]"


def _data(archive: zipfile.ZipFile, file, info: zipfile.ZipInfo, header: tuple, where: str,
          name: str) -> np.ndarray:
    """A member's array, read into memory allocated for the size its header declares, its CRC checked.

    A stored member (``np.savez``) is read straight from the file into the array in one call and its
    CRC computed over the whole buffer at once; a compressed one (``np.savez_compressed``) is inflated
    through ``zipfile`` in large chunks, which checks the CRC when the member ends."""
    shape, fortran, dtype, offset = header
    array = np.empty(math.prod(shape), dtype=dtype)
    buffer = memoryview(array.view(np.uint8)) if array.nbytes else memoryview(b"")
    read = _read_stored if info.compress_type == zipfile.ZIP_STORED else _read_compressed
    done = read(archive, file, info, offset, buffer, where, name)
    if done < array.nbytes:
        raise DatasetError(f"truncated: its header declares {_describe(shape, dtype)} ({array.nbytes:,} bytes) "
                           f"but the archive holds {done:,}", where, f"array {name!r}")
    return array.reshape(shape, order="F" if fortran else "C")


def _read_stored(archive: zipfile.ZipFile, file, info: zipfile.ZipInfo, offset: int, buffer: memoryview,
                 where: str, name: str) -> int:
    """Read an uncompressed member's data into ``buffer`` and check the CRC of the whole member; the
    bytes read (fewer than ``buffer`` holds: the archive is cut short)."""
    if info.compress_size != info.file_size:
        raise DatasetError(f"corrupt: a stored (uncompressed) member of {info.compress_size:,} bytes that says "
                           f"it holds {info.file_size:,}", where, f"array {name!r}")
    file.seek(info.header_offset)
    local = file.read(LOCAL_HEADER.size)
    if len(local) < LOCAL_HEADER.size:
        raise DatasetError("truncated: the archive ends inside the member's header", where, f"array {name!r}")
    signature, *_, name_length, extra_length = LOCAL_HEADER.unpack(local)
    if signature != LOCAL_SIGNATURE:
        raise DatasetError("corrupt: the member's header is damaged", where, f"array {name!r}")
    file.seek(info.header_offset + LOCAL_HEADER.size + name_length + extra_length)
    npy_header = file.read(offset)
    crc = zlib.crc32(npy_header)
    done = 0
    while done < len(buffer):
        got = file.readinto(buffer[done:])
        if not got:
            return done
        done += got
    crc = zlib.crc32(buffer, crc)
    left = info.file_size - offset - len(buffer)  # bytes after the array (none, as numpy writes them)
    while left > 0:
        tail = file.read(min(left, CHUNK))
        if not tail:
            raise DatasetError("truncated: the archive ends inside the member", where, f"array {name!r}")
        crc = zlib.crc32(tail, crc)
        left -= len(tail)
    if crc != info.CRC:
        raise DatasetError(f"corrupt: its data does not match its checksum (CRC {crc:08x}, the archive "
                           f"says {info.CRC:08x})", where, f"array {name!r}")
    return done


def _read_compressed(archive: zipfile.ZipFile, file, info: zipfile.ZipInfo, offset: int, buffer: memoryview,
                     where: str, name: str) -> int:
    """Inflate a compressed member into ``buffer`` (``zipfile`` checks its CRC as the member ends); the
    bytes read."""
    done = 0
    with archive.open(info) as member:
        member.read(offset)
        while done < len(buffer):
            got = member.readinto(buffer[done:done + CHUNK])
            if not got:
                return done
            done += got
        member.read(1)  # reach the member's end, where zipfile compares the CRC
    return done


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
        return "keep" if x.shape[2] >= SIGNAL_RATIO * x.shape[1] else "gray"
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
