"""CIFAR-10's binary version (``cifar-10-binary.tar.gz``), read without pickle and without unpacking.

Each of ``data_batch_1.bin`` .. ``data_batch_5.bin`` (the training split) and ``test_batch.bin`` holds
records of 3,073 bytes: the label (0-9), then a 32x32 image as 1,024 red, 1,024 green and 1,024 blue
bytes, row by row. ``batches.meta.txt`` names the classes, one a line. ``load_cifar10`` reads them
straight from the archive (only regular members with those names; nothing is written to disk), or
from a folder holding the ``.bin`` files.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import DatasetError
from layerloom.data.guard import check_size, is_regular, open_regular

SIDE, CHANNELS = 32, 3
RECORD = 1 + CHANNELS * SIDE * SIDE
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MAX_MEMBER = 64 * 1024**2   # a real batch is 30,730,000 bytes; a forged tar cannot make us read more


def load_cifar10(path: Path) -> RawData:
    """The training batches as ``train`` and ``test_batch.bin`` as ``test``; ``path`` is the archive or
    a folder of the ``.bin`` files."""
    path = Path(path)
    members = _folder_members(path) if path.is_dir() else _archive_members(path)
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if name not in members]
    if missing:
        raise DatasetError(f"no {', '.join(missing)} in it: expected CIFAR-10's binary version "
                           "(cifar-10-binary.tar.gz)", str(path))
    check_size(60_000 * (RECORD - 1) * 4, "the CIFAR-10 images", path)
    train = [_records(members[name], name, path) for name in TRAIN_FILES]
    x_train = _floats([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _records(members[TEST_FILE], TEST_FILE, path)
    x_test = _floats([x_test])
    classes = _classes(members.get(META_FILE))
    return RawData(name="cifar10", source=str(path), path=str(path),
                   x={"train": x_train, "test": x_test}, y={"train": y_train, "test": y_test},
                   feature_shape=(CHANNELS, SIDE, SIDE), image=True, value_range=(0.0, 255.0), classes=classes,
                   class_values=np.arange(len(classes), dtype=np.float64),
                   label_names={"train": "data_batch_*.bin", "test": TEST_FILE})


def _archive_members(path: Path) -> dict[str, bytes]:
    wanted = {*TRAIN_FILES, TEST_FILE, META_FILE}
    found: dict[str, bytes] = {}
    try:
        with open_regular(path) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
            for member in archive:   # one pass over the stream: members are read as they come
                name = member.name.rsplit("/", 1)[-1]
                if name not in wanted or name in found or not member.isfile():
                    continue
                if member.size > MAX_MEMBER:
                    raise DatasetError(f"{member.name} declares {member.size:,} bytes; a CIFAR-10 batch holds "
                                       f"{10_000 * RECORD:,}", str(path))
                stream = archive.extractfile(member)
                found[name] = stream.read() if stream is not None else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"not a readable tar.gz archive ({exc})", str(path)) from None
    return found


def _folder_members(folder: Path) -> dict[str, bytes]:
    found = {}
    for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
        file = folder / name
        if not is_regular(file):
            continue
        if file.stat().st_size > MAX_MEMBER:
            raise DatasetError(f"{file.stat().st_size:,} bytes; a CIFAR-10 batch holds {10_000 * RECORD:,}", str(file))
        with open_regular(file) as stream:
            found[name] = stream.read()
    return found


def _records(data: bytes, name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not data or len(data) % RECORD:
        raise DatasetError(f"{name} holds {len(data):,} bytes, not a whole number of {RECORD:,}-byte records "
                           "(a label and a 32x32 colour image)", str(path))
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = rows[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        raise DatasetError(f"{name}: label {int(labels.max())} in record {int(np.argmax(labels >= len(CLASSES)))}; "
                           "CIFAR-10's labels are 0 to 9", str(path))
    return rows[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE), labels


def _floats(batches: list[np.ndarray]) -> np.ndarray:
    """The batches' 8-bit images as one float32 array, each converted into its place (no float32 copy
    of each batch to concatenate)."""
    out = np.empty((sum(len(x) for x in batches), CHANNELS, SIDE, SIDE), dtype=np.float32)
    start = 0
    for x in batches:
        out[start:start + len(x)] = x
        start += len(x)
    return out


def _classes(meta: bytes | None) -> tuple[str, ...]:
    if meta is None:
        return CLASSES
    names = tuple(line.strip() for line in meta.decode("utf-8", "replace").splitlines() if line.strip())
    return names if len(names) == len(CLASSES) else CLASSES
