"""Atomic file writes: a temporary file in the same folder, then a rename over the target.

A crash, a full disk or an exception while writing leaves the previous file intact. ``durable``
also flushes the data to disk before the rename (for documents the user would hate to lose); the
file keeps the permissions of the one it replaces, and a new one gets the usual ones (umask).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

Content = Union[bytes, Callable[[BinaryIO], None]]


def atomic_write(path: str | os.PathLike, content: Content, durable: bool = True) -> Path:
    """Write ``content`` (bytes, or a function writing to a binary handle) to ``path``.
    Raises ``OSError``; callers turn it into their own error naming the file."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    mode = os.stat(target).st_mode & 0o777 if target.exists() else _default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def _default_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask (mkstemp's own is 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
