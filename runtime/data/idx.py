"""IDX files, the format of MNIST and its relatives: an images file paired with a labels file.

``path`` may be either file of a pair (``train-images-idx3-ubyte`` finds ``train-labels-idx1-ubyte``)
or a folder holding a ``train-*`` pair and, optionally, a ``t10k-*`` / ``test-*`` pair (the test split).
Files may be gzipped (recognised by their first bytes, not only by ``.gz``).
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import DatasetError
from layerloom.data.guard import check_size, is_regular, open_regular

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1024**2  # bytes read at a time into the array
# <prefix>images-idx3-ubyte, <prefix>images.idx3-ubyte, optionally .gz
NAME_PATTERN = re.compile(r"^(?P<prefix>.*?)(?P<kind>images|labels)(?P<sep>[-.])idx(?P<rank>[13])-ubyte(?P<gz>\.gz)?$",
                          re.IGNORECASE)


def is_idx_name(path: Path) -> bool:
    return NAME_PATTERN.match(path.name) is not None


def folder_has_idx(folder: Path) -> bool:
    return any(is_idx_name(p) for p in folder.iterdir() if is_regular(p))


def load_idx(path: Path) -> RawData:
    """Read an IDX pair, or a folder of pairs (train, and t10k/test as the test split)."""
    pairs = _folder_pairs(path) if path.is_dir() else {"train": _pair_of(path)}
    xs, ys, names = {}, {}, {}
    for part, (images_path, labels_path) in pairs.items():
        images = read_idx(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        if len(images) != len(labels):
            raise DatasetError(f"{len(images):,} images but {labels_path.name} holds {len(labels):,} labels",
                               str(images_path))
        xs[part] = images[:, None].astype(np.float32)
        ys[part] = labels.astype(np.int64)
        names[part] = labels_path.name
    shapes = {x.shape[1:] for x in xs.values()}
    if len(shapes) > 1:
        raise DatasetError(f"the train and test images differ in size ({' and '.join(str(list(s)) for s in shapes)})",
                           str(path))
    return RawData(name=path.name, source=str(path), path=str(path), x=xs, y=ys,
                   feature_shape=tuple(xs["train"].shape[1:]), image=True, value_range=(0.0, 255.0),
                   label_names=names)


def _partner(path: Path) -> Path | None:
    """The labels file for an images file, or the reverse; None when the name is not an IDX name."""
    match = NAME_PATTERN.match(path.name)
    if match is None:
        return None
    images = match["kind"].lower() == "images"
    kind, rank = ("labels", "1") if images else ("images", "3")
    kind = kind.upper() if match["kind"].isupper() else kind
    stem = f"{match['prefix']}{kind}{match['sep']}idx{rank}-ubyte"
    for name in (stem + (match["gz"] or ""), stem, stem + ".gz"):
        if is_regular(path.parent / name):
            return path.parent / name
    return None


def _pair_of(path: Path) -> tuple[Path, Path]:
    partner = _partner(path)
    if partner is None:
        raise DatasetError("cannot find the matching IDX file: expected an images file named like "
                           "'train-images-idx3-ubyte' beside a labels file 'train-labels-idx1-ubyte'", str(path))
    images = NAME_PATTERN.match(path.name)["kind"].lower() == "images"
    return (path, partner) if images else (partner, path)


def _folder_pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    pairs: dict[str, tuple[Path, Path]] = {}
    for file in sorted(p for p in folder.iterdir() if is_regular(p)):
        match = NAME_PATTERN.match(file.name)
        if match is None or match["kind"].lower() != "images":
            continue
        prefix = match["prefix"].lower()
        part = "test" if ("t10k" in prefix or "test" in prefix) else "train" if "train" in prefix else None
        if part is None or part in pairs:
            continue
        pairs[part] = _pair_of(file)
    if "train" not in pairs:
        raise DatasetError("no training images: expected 'train-images-idx3-ubyte' (optionally .gz) and "
                           "'train-labels-idx1-ubyte' in this folder", str(folder))
    return pairs


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX images (``magic`` 0x803) or labels (0x801) file, with checks.

    The header is read first; the size it declares is checked against the file's length (plain files)
    and the data limit (counting the float32 or int64 copy the loader makes) before the data is read,
    a gzipped file being decompressed into the array as it is read.
    """
    where = str(path)
    with open_regular(path) as file:
        gzipped = file.read(2) == GZIP_MAGIC
        file.seek(0)
        try:
            if gzipped:
                with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                    return _read_stream(stream, magic, where, None)
            return _read_stream(file, magic, where, os.fstat(file.fileno()).st_size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DatasetError(f"the gzip data is truncated or corrupt ({exc})", where) from None
        except OSError as exc:
            raise DatasetError(f"cannot read: {exc.strerror or exc}", where) from None


def _read_stream(stream, magic: int, where: str, file_size: int | None) -> np.ndarray:
    what = "images" if magic == IMAGES_MAGIC else "labels"
    rank = magic & 0xFF
    header = 4 + 4 * rank
    head = stream.read(header)
    if len(head) < 4:
        raise DatasetError(f"truncated: {len(head)} bytes, too short for an IDX header", where)
    found = struct.unpack(">I", head[:4])[0]
    if found != magic:
        raise DatasetError(f"not an IDX {what} file: it starts with 0x{found:08x}, expected 0x{magic:08x}"
                           + _magic_hint(found), where)
    if len(head) < header:
        raise DatasetError(f"truncated: {len(head)} bytes, too short for an IDX header", where)
    dims = struct.unpack(f">{rank}I", head[4:header])
    size = math.prod(dims)  # Python ints: a forged header cannot overflow into a small size
    shape = "x".join(str(d) for d in dims[1:])
    count = f"{dims[0]} images of {shape}" if what == "images" else f"{dims[0]} labels"
    if file_size is not None and file_size - header != size:
        raise _length_error(count, size, file_size - header, where)
    copy = 4 if what == "images" else 8  # the float32 images or int64 labels made from the bytes
    check_size(size * (1 + copy), f"the header declares {count}", where)
    data = np.empty(size, dtype=np.uint8)
    view, done = memoryview(data), 0
    while done < size:
        got = stream.readinto(view[done:done + CHUNK])
        if not got:
            raise _length_error(count, size, done, where)
        done += got
    if file_size is None and stream.read(1):
        raise DatasetError(f"the header says {count} ({size:,} bytes) but the file holds more; the header "
                           "does not match the data", where)
    return data.reshape(dims)


def _length_error(count: str, size: int, held: int, where: str) -> DatasetError:
    if held < size:
        return DatasetError(f"truncated: header says {count} ({size:,} bytes) but the file holds {held:,}", where)
    return DatasetError(f"the header says {count} ({size:,} bytes) but the file holds {held:,}; the header "
                        "does not match the data", where)


def _magic_hint(found: int) -> str:
    if found == IMAGES_MAGIC:
        return " (this is an images file)"
    if found == LABELS_MAGIC:
        return " (this is a labels file)"
    if found >> 16 == 0 and (found >> 8) & 0xFF in (0x09, 0x0B, 0x0C, 0x0D, 0x0E):
        return " (an IDX file of another type; only unsigned bytes are supported)"
    return ""
