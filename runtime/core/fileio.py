"""Reading files LayerLoom is given without being fooled by what stands at the path.

A named pipe given as a graph, dataset or run file would block its reader forever, ``/dev/zero`` never
ends, a folder is not a file: every reader opens through ``open_regular``, which opens without
blocking and then checks the open file itself (so the file checked is the file read, even when
something else is put at the path in between). Errors are ``OSError``; each caller turns them into its
own error naming the file (``GraphFileError``, ``DatasetError``, ``CheckpointError``...).
"""

from __future__ import annotations

import os
import stat
from typing import IO


class NotRegularFile(OSError):
    """The path names a folder, a pipe, a socket or a device; ``kind`` says which, for a message."""

    def __init__(self, path: str | os.PathLike, mode: int):
        self.kind = file_kind(mode)
        self.path = str(path)
        super().__init__(f"not a regular file ({self.kind})")


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a message: "a folder", "a named pipe"..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def check_regular(path: str | os.PathLike) -> os.stat_result:
    """``os.stat(path)``, raising ``NotRegularFile`` unless it is a regular file (links are followed)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(path, info.st_mode)
    return info


def open_regular(path: str | os.PathLike, mode: str = "rb", **text) -> IO:
    """``path`` opened for reading (``mode`` "rb" or "r", ``text`` as for ``open``) once it is known to be
    a regular file: opened with ``O_NONBLOCK`` (a pipe with no writer would block ``open`` itself),
    checked with ``fstat``, then switched back to blocking reads."""
    if mode not in ("rb", "r"):
        raise ValueError(f"open_regular reads only ('rb' or 'r'), not {mode!r}")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, info.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, mode, **text)   # the caller's with-block closes it
    except BaseException:
        os.close(fd)
        raise
