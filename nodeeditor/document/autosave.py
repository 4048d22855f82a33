"""Autosave and crash recovery.

While a document has unsaved changes, its graph is written every 30 seconds to a recovery copy
(atomic, like any save) beside a small record of where it belongs. A clean exit, a save or a
discard removes it.

Each copy belongs to the window that wrote it, as in Blender, VS Code or LibreOffice: before its
first copy the window takes a lock file beside it (``QLockFile``: the owner's pid, program name,
host and boot id) and holds it as long as the copy exists. Another LayerLoom (a second window, a
second process) that finds the copy at start-up tries that lock: while the owner runs, the copy is
neither offered nor touched; once the owner is gone (a crash, a kill), Qt sees its lock as stale and
the copy is offered, claimed by the finder's own lock so no third start offers it at the same time.
Qt tells a reused pid from its owner by the program's name; the record also keeps the owner's start
time (Linux), which tells one Python process from another that got the same pid later.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QLockFile, QSysInfo

from layerloom import LayerLoomError, load_graph, save_graph
from layerloom.core.atomic import atomic_write
from layerloom.core.fileio import open_regular

INTERVAL_MS = 30_000
SUFFIX = ".recovery.llgraph.json"


@dataclass
class Recovered:
    graph_path: Path           # the recovery copy
    original: Path | None      # the file it belongs to (None: never saved)
    saved_at: str
    lock: QLockFile | None = field(default=None, repr=False)   # held while this process handles the copy


def _lock_path(copy: Path) -> Path:
    return copy.with_suffix(".lock")


def _meta_path(copy: Path) -> Path:
    return copy.with_suffix(".meta")


def _odd(path: Path) -> bool:
    """True when ``path`` exists but is no regular file (a pipe, a link, a folder): Qt would block
    reading a pipe as a lock file, so such a lock is left alone, and its copy with it."""
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _new_lock(path: Path) -> QLockFile:
    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)   # never stale by age: a window may keep unsaved work for days
    return lock


def process_started(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None elsewhere or
    when there is no such process. With the boot id in Qt's lock, (pid, start) names one process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]   # field 22; the name in (...) may hold spaces
    except (OSError, IndexError):
        return None


class Autosaver:
    """Writes and finds recovery copies in ``folder`` (one per open document)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.token = uuid.uuid4().hex[:12]
        self._lock: QLockFile | None = None   # held from the first copy until it is discarded

    @property
    def path(self) -> Path:
        return self.folder / f"{self.token}{SUFFIX}"

    def save(self, graph, original: Path | None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._own()
        save_graph(graph, self.path)
        pid = os.getpid()
        record = {"original": str(original) if original else None, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "owner": {"pid": pid, "started": process_started(pid)}}
        atomic_write(_meta_path(self.path), json.dumps(record).encode("utf-8"))
        return self.path

    def _own(self) -> None:
        """Take this window's lock before its copy exists, so nobody ever sees the copy unowned."""
        if self._lock is not None and self._lock.isLocked():
            return
        lock = _new_lock(_lock_path(self.path))
        if not lock.tryLock(0):
            raise OSError(f"cannot lock the recovery copy {self.path} ({lock.error().name})")
        self._lock = lock

    def discard(self) -> None:
        for path in (self.path, _meta_path(self.path)):
            path.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.unlock()   # removes the lock file
            self._lock = None

    def found(self) -> list[Recovered]:
        """Recovery copies whose window is gone (a crash, a kill), each claimed by a lock of this
        process until ``remove`` or ``release``. Copies of running windows (this one's, another
        window's, another process's) are left alone."""
        out = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []:
            if path == self.path:
                continue
            record = _read_record(_meta_path(path))
            lock = _claim(path, record)
            if lock is None:
                continue
            if not path.is_file():   # its owner discarded it after we listed it
                lock.unlock()
                continue
            original = record.get("original")
            original = Path(original) if isinstance(original, str) and original else None
            out.append(Recovered(path, original, str(record.get("saved_at", "?")), lock))
        self._sweep_locks()
        return out

    def _sweep_locks(self) -> None:
        """Remove lock files left by windows that crashed before writing their first copy."""
        for path in self.folder.glob("*.recovery.llgraph.lock") if self.folder.is_dir() else []:
            if path.with_suffix(".json").exists() or path == _lock_path(self.path) or _odd(path):
                continue
            lock = _new_lock(path)
            if lock.tryLock(0):
                lock.unlock()

    @staticmethod
    def release(recovered: Recovered) -> None:
        """Leave the copy for a later start (its claim ends)."""
        if recovered.lock is not None:
            recovered.lock.unlock()
            recovered.lock = None

    @staticmethod
    def remove(recovered: Recovered) -> None:
        for path in (recovered.graph_path, _meta_path(recovered.graph_path)):
            path.unlink(missing_ok=True)
        Autosaver.release(recovered)

    @staticmethod
    def load(recovered: Recovered):
        try:
            return load_graph(recovered.graph_path)
        except LayerLoomError:
            return None


def _read_record(meta: Path) -> dict:
    try:
        with open_regular(meta, "r", encoding="utf-8") as handle:   # never a pipe
            record = json.loads(handle.read(1 << 16))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}   # a damaged or foreign record: the copy is still offered


def _claim(copy: Path, record: dict) -> QLockFile | None:
    """The copy's lock, taken by this process when its owner is gone; None while the owner runs.
    A copy from before owners were recorded has no lock file: it is claimed as an orphan."""
    if _odd(_lock_path(copy)):
        return None
    lock = _new_lock(_lock_path(copy))
    if lock.tryLock(0):
        return lock
    if lock.error() == QLockFile.LockError.LockFailedError and _pid_reused(lock, record):
        # fails while any process still holds the file's native lock (flock): a live owner keeps it
        if lock.removeStaleLockFile() and lock.tryLock(0):
            return lock
    return None


def _pid_reused(lock: QLockFile, record: dict) -> bool:
    """True when the lock's pid now belongs to another process than the one that wrote the copy
    (same host, same program name, a different start time)."""
    pid, host, _app = lock.getLockInfo()   # (0, "", "") when unreadable
    owner = record.get("owner")
    if not pid or not isinstance(owner, dict) or host != QSysInfo.machineHostName():
        return False
    started = owner.get("started")
    if owner.get("pid") != pid or not isinstance(started, str):
        return False
    now = process_started(pid)
    return now is not None and now != started
