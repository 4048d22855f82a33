"""Which LayerLoom window has a graph file open, so a second one opening it can say so first.

Two windows editing one file lose work: the last to save wins, silently. Each window holds a claim on
the file it shows (a ``QLockFile`` named after the file's resolved path, in the recovery folder's
``open/``: the owner's pid, program and host, released when the window shows another file or closes;
a window that crashed leaves a claim Qt sees is stale, since its pid is gone). ``holder(path)`` says
whether another window, in this process or another, has ``path`` open.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QLockFile

from layerloom.nodeeditor.document.autosave import _new_lock, _odd


def _claim_path(folder: Path, path: Path) -> Path:
    key = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:20]
    return folder / "open" / f"{key}.lock"


class FileClaim:
    """One window's claim on the file it shows (``take`` a path, or None for an untitled graph)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path: Path | None = None
        self._lock: QLockFile | None = None

    def take(self, path: str | Path | None) -> None:
        """Claim ``path`` (releasing the previous one); a file another window holds is left to it."""
        path = Path(path).resolve() if path is not None else None
        if path == self.path and self._lock is not None:
            return
        self.release()
        self.path = path
        if path is None:
            return
        lock_path = _claim_path(self.folder, path)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return   # no claim: the warning is a courtesy, opening the file is what matters
        if _odd(lock_path):
            return
        lock = _new_lock(lock_path)
        if lock.tryLock(0):
            self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.unlock()   # removes the lock file
            self._lock = None
        self.path = None

    def holds(self, path: str | Path) -> bool:
        return self._lock is not None and self.path == Path(path).resolve()


def holder(folder: str | Path, path: str | Path) -> int | None:
    """The pid of the process whose window has ``path`` open (this process's own pid for another window
    of it), or None when no live window has."""
    lock_path = _claim_path(Path(folder), Path(path))
    if not lock_path.exists() or _odd(lock_path):
        return None
    lock = _new_lock(lock_path)
    if lock.tryLock(0):   # free, or left by a window that is gone (Qt removes a dead owner's claim)
        lock.unlock()
        return None
    pid, _host, _app = lock.getLockInfo()
    return pid or os.getpid()
