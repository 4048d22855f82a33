"""What every dataset loader does before it reads: open only regular files, and check the size a file
declares against the data limit before allocating it.

A named pipe, a device or a socket given as a dataset would block a reader forever (or never end), so
``open_regular`` opens without blocking and refuses anything but a regular file. Compressed formats
(NPZ, gzipped IDX, PNG) declare sizes in their headers that can be thousands of times the file's own
size; loaders call ``check_size`` with the bytes the loaded data will take in memory, before
allocating, so a small file cannot take the machine's memory.

The limit: ``LAYERLOOM_DATA_LIMIT_MB`` (mebibytes) when set, otherwise ``DEFAULT_LIMIT`` (4 GiB) or half
of the machine's memory, whichever is smaller. 4 GiB of float32 holds every classic benchmark that
trains on a CPU many times over (MNIST 0.2 GiB, CIFAR-10 0.6 GiB) while a forged header that declares
tens of gigabytes is refused; half of the memory leaves room for the copies training makes. A limit
that belongs to the machine, not to an experiment, so it is an environment variable, not a setting
saved in graph files.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from layerloom.core import fileio as files
from layerloom.core.fileio import file_kind
from layerloom.data.base import DatasetError

LIMIT_ENV = "LAYERLOOM_DATA_LIMIT_MB"
DEFAULT_LIMIT = 4 * 1024**3
MIB = 1024**2
FLOAT32_MAX = float(np.finfo(np.float32).max)


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def data_limit() -> int:
    """Bytes a loaded dataset may take in memory (see the module docstring)."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if text:
        try:
            megabytes = float(text)
        except ValueError:
            megabytes = math.nan
        if not (math.isfinite(megabytes) and megabytes > 0):
            raise DatasetError(f"{text!r} is not a positive number of megabytes (MiB), such as 8192",
                               location=LIMIT_ENV)
        return int(megabytes * MIB)
    memory = physical_memory()
    return DEFAULT_LIMIT if memory is None else min(DEFAULT_LIMIT, memory // 2)


def size_text(nbytes: int) -> str:
    """``nbytes`` for people: ``"512 bytes"``, ``"1.5 MiB"``, ``"74.5 GiB"``."""
    if nbytes < 1024:
        return f"{nbytes} bytes"
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", MIB)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:.1f} KiB"


def check_size(nbytes: int, what: str, path: str | Path | None, location: str | None = None) -> None:
    """Refuse ``what`` (a phrase such as ``"the header declares 60,000 images of 28x28"``) when the
    ``nbytes`` it would take in memory exceed the data limit."""
    limit = data_limit()
    if nbytes <= limit:
        return
    needed = math.ceil(nbytes / MIB)
    raise DatasetError(f"{what}: {size_text(nbytes)} in memory, above the data limit of {size_text(limit)}. "
                       f"If the file is right and this machine has the memory, raise the limit: set the "
                       f"environment variable {LIMIT_ENV}={needed} (megabytes)",
                       None if path is None else str(path), location)


def not_regular(path: str | Path, mode: int) -> DatasetError:
    return DatasetError(f"is {file_kind(mode)}, not a regular file; give the path of a dataset file", str(path))


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading in binary once it is known to be a regular file (see
    ``layerloom.core.fileio.open_regular``); ``DatasetError`` otherwise."""
    try:
        return files.open_regular(path)
    except files.NotRegularFile as exc:
        raise DatasetError(f"is {exc.kind}, not a regular file; give the path of a dataset file", str(path)) from None
    except OSError as exc:
        raise DatasetError(f"cannot open: {exc.strerror or exc}", str(path)) from None


def is_regular(path: Path) -> bool:
    """True for a regular file (following links); False for anything else, or an unreadable entry."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def first_nonfinite(x: np.ndarray, rows: int = 4096) -> tuple[tuple[int, ...], float] | None:
    """The index and value of the first element of ``x`` that is not finite as float32 (NaN, infinite,
    or beyond float32's range), or None. Reads ``x`` in slices of ``rows`` so the check needs little
    memory."""
    if x.dtype.kind not in "fc" or x.size == 0:
        return None
    if x.ndim == 0:
        x = x.reshape(1)
    for start in range(0, len(x), rows):
        chunk = x[start:start + rows]
        if chunk.dtype != np.float32:  # float64 beyond float32's range turns infinite here
            with np.errstate(over="ignore", invalid="ignore"):
                chunk = chunk.astype(np.float32)
        finite = np.isfinite(chunk)
        if not finite.all():
            index = np.unravel_index(int(np.argmin(finite)), chunk.shape)
            index = (start + int(index[0]),) + tuple(int(i) for i in index[1:])
            return index, float(x[index])
    return None


def nonfinite_text(value: float) -> str:
    """Why ``value`` cannot be a float32 training value, in words."""
    if math.isnan(value):
        return "is NaN (a missing value)"
    if math.isinf(value):
        return "is infinite"
    return f"is {value:g}, beyond the range of the 32-bit floats training uses (±3.4e38)"
