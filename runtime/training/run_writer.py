"""Writing a run folder: ``new_run_dir`` makes it, ``RunFolder`` writes its files (its JSON documents,
the graph, ``evaluation.json``, rows of ``metrics.csv`` and ``steps.csv``, checkpoint copies) and
``write_error`` says why a write failed. Import these from ``records.py``, which describes the files.

Every write is atomic (a temp file renamed over the target) or an append that is rolled back when it
fails, so a full disk leaves the last complete checkpoint, summary and CSV rows. A full disk raises
``DiskFullError`` (saying "disk full" and the folder); temp files an interrupted save left behind
(``.<name>.*.tmp``) are removed at the next save and when a run (re)starts.

Imports neither torch nor Qt: saving a checkpoint's weights is ``runs.save_checkpoint``'s (torch),
imported the first time ``RunFolder.save_checkpoint`` is called.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerloom.core.atomic import atomic_write
from layerloom.core.errors import LayerLoomError
from layerloom.files.graphfile import save_graph
from layerloom.training.run_format import (CHECKPOINTS_DIR, EVALUATION_FILE, GRAPH_FILE, METRICS_FILE,
                                           STEPS_FILE, STEPS_HEADER, read_json, whole_number)

if TYPE_CHECKING:  # pragma: no cover
    from layerloom.model.graph import Graph

CONFUSION_MAX_CLASSES = 200   # evaluation.json leaves out a larger confusion matrix (it grows as classes squared)


class CheckpointError(LayerLoomError):
    """A checkpoint or run folder that cannot be read or written; the message names the file."""


class DiskFullError(CheckpointError):
    """A write into a run folder failed because its disk (or the user's quota) is full: ``folder``."""

    def __init__(self, message: str, folder: str | os.PathLike):
        super().__init__(message)
        self.folder = str(folder)


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def write_error(exc: BaseException, path: str | os.PathLike, what: str = "write") -> CheckpointError:
    """The error to raise for ``exc`` met while writing ``path``: ``DiskFullError`` when the disk or
    quota is full (torch's zip writer reports it as ``RuntimeError: ... unexpected pos``, with the
    ``OSError`` as its context), else a ``CheckpointError`` naming the file."""
    path = Path(path)
    code = _errno_of(exc)
    if code in _FULL or (code is None and isinstance(exc, RuntimeError) and _nearly_full(path.parent)):
        folder = path.parent.parent if path.parent.name == CHECKPOINTS_DIR else path.parent
        return DiskFullError(f"disk full: cannot {what} {path.name} in {folder}", folder)
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
    else:
        detail = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    return CheckpointError(f"{path}: cannot {what}: {detail}")


def _errno_of(exc: BaseException | None) -> int | None:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc.errno
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _nearly_full(folder: Path) -> bool:
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """A fresh folder ``root/<name>-<date>-<time>`` (suffixed ``-2``, ``-3``... when taken)."""
    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{slug(name)}-{stamp}"
    for i in range(1, 1000):
        path = root / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            blocking = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
            if blocking is not None:   # `runs` (or a folder above it) is a file
                raise CheckpointError(f"{blocking}: cannot create the run folder there: {blocking.name!r} is a "
                                      "file, not a folder; move it, or choose another runs folder") from None
            raise CheckpointError(f"{path}: cannot create the run folder: {exc.strerror or exc}") from None
    raise CheckpointError(f"{root}: too many runs named {base}")


class RunFolder:
    """Writes a run's files. All writes are atomic or append-only, so a crash never leaves a
    half-written checkpoint or config."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self._columns: list[str] | None = None
        self._steps_fd: int | None = None
        self._steps_size = 0

    def clean_stray(self) -> list[Path]:
        """Remove the temp files (``.<name>.*.tmp``) that saves interrupted by a crash or a full disk
        left in the folder and its checkpoints; returns them."""
        removed = []
        for folder in (self.path, self.checkpoints):
            try:
                strays = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
            except OSError:
                continue
            for path in strays:
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    pass
        return removed

    # ------------------------------------------------------------- documents
    def write_json(self, name: str, data: dict, indent: int | None = 2, durable: bool = False,
                   last_resort: bool = False) -> None:
        """Write ``name`` atomically (``durable``: fsynced before the rename). ``last_resort``: when the
        disk is full, rewrite the existing file in place instead, if the text fits the space it already
        holds (a run's final summary must still say how it ended); raises ``DiskFullError`` otherwise."""
        path = self.path / name
        text = json.dumps(data, indent=indent, sort_keys=False, default=str) + "\n"
        try:
            atomic_write(path, text.encode("utf-8"), durable=durable)
        except OSError as exc:
            error = write_error(exc, path)
            if last_resort and isinstance(error, DiskFullError):
                compact = json.dumps(data, separators=(",", ":"), default=str) + "\n"
                if _rewrite_in_place(path, compact.encode("utf-8")):
                    return
            raise error from None

    def read_json(self, name: str) -> dict:
        """A JSON document of the run folder, or {} when it is missing or unreadable."""
        return read_json(self.path / name)

    def write_evaluation(self, epoch: int, task: str, metrics: dict, classes, details: dict) -> None:
        """evaluation.json: an epoch's evaluation ``details`` (confusion matrix, per-class scores)."""
        record = {"epoch": epoch, "task": task, "metrics": metrics,
                  "classes": list(classes) if classes is not None else None, **details}
        confusion = record.get("confusion")
        if isinstance(confusion, list) and len(confusion) > CONFUSION_MAX_CLASSES:
            del record["confusion"]
        self.write_json(EVALUATION_FILE, record, indent=None)  # up to 40,000 cells: one line, not one each

    def has_graph(self) -> bool:
        return (self.path / GRAPH_FILE).is_file()

    def write_graph(self, graph: Graph) -> None:
        save_graph(graph, self.path / GRAPH_FILE)

    # ------------------------------------------------------------- metrics
    def append_epoch(self, row: dict[str, Any]) -> None:
        """One row of metrics.csv (its header first when the file is new)."""
        path = self.path / METRICS_FILE
        text = ""
        if self._columns is None:
            self._columns = _existing_columns(path) or list(row)
            if not _size(path):
                text = _csv_line(self._columns)
        text += _csv_line([_cell(row.get(c)) for c in self._columns])
        fd = _open_append(path)
        try:
            _append(fd, text.encode("utf-8"), os.fstat(fd).st_size, path)
        finally:
            os.close(fd)

    def append_steps(self, rows: list[tuple]) -> None:
        """Rows of (step, epoch, loss, lr), written at once (the file stays open until ``close``)."""
        path = self.path / STEPS_FILE
        if self._steps_fd is None:
            self._steps_fd = _open_append(path)
            self._steps_size = os.fstat(self._steps_fd).st_size
            if not self._steps_size:
                header = (",".join(STEPS_HEADER) + "\n").encode("utf-8")
                self._steps_size = _append(self._steps_fd, header, 0, path)
        text = "".join(f"{s},{e},{_cell(loss)},{_cell(lr)}\n" for s, e, loss, lr in rows)
        self._steps_size = _append(self._steps_fd, text.encode("utf-8"), self._steps_size, path)

    def flush(self) -> None:
        """Nothing to do: rows reach the file as they are appended (kept for callers)."""

    def close(self) -> None:
        if self._steps_fd is not None:
            fd, self._steps_fd = self._steps_fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def truncate_after(self, epoch: int, step: int) -> None:
        """Drop rows written after the checkpoint a resumed run starts from."""
        _filter_csv(self.path / METRICS_FILE, lambda row: whole_number(row.get("epoch")) <= epoch)
        _filter_csv(self.path / STEPS_FILE, lambda row: whole_number(row.get("step")) <= step)

    # ------------------------------------------------------------- checkpoints
    def checkpoint_path(self, kind: str) -> Path:
        return self.checkpoints / f"{kind}.pt"

    def save_checkpoint(self, kind: str, payload: dict, durable: bool = False) -> Path:
        """Checkpoint ``kind`` (``last``, ``best``) written atomically by ``runs.save_checkpoint``."""
        from layerloom.training.runs import save_checkpoint   # torch: only once weights are saved

        path = self.checkpoint_path(kind)
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, path, "save the checkpoint") from None
        self.clean_stray()
        save_checkpoint(payload, path, durable=durable)
        return path

    def sync(self, path: Path) -> None:
        """Flush a written file to disk (done once for the final checkpoint)."""
        try:
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        except OSError:
            pass

    def copy_checkpoint(self, source: Path, kind: str) -> Path:
        """``source`` copied atomically as checkpoint ``kind``."""
        path = self.checkpoint_path(kind)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise write_error(exc, path, "save the checkpoint") from None
        return path


# ------------------------------------------------------------------ CSV rows
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else "nan"
    return str(value)


def _existing_columns(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), None)
    except OSError:
        return None


def _filter_csv(path: Path, keep) -> None:
    """Keep the rows ``keep`` accepts, rewriting the file atomically (and not at all when all stay)."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
        handle.seek(0)
        header = next(csv.reader(handle), [])
    out = [row for row in rows if keep(row)]
    if len(out) == len(rows):
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
    try:
        atomic_write(path, buffer.getvalue().encode("utf-8"), durable=False)
    except OSError as exc:
        raise write_error(exc, path) from None


def _csv_line(cells: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


# ------------------------------------------------------------------ appends that a full disk cannot tear
def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _open_append(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise write_error(exc, path) from None


def _append(fd: int, data: bytes, size: int, path: Path) -> int:
    """Append ``data`` to the open file ``fd`` that holds ``size`` bytes; returns the new size. A write
    that fails (a full disk) is undone, so the file never ends in half a row."""
    try:
        _write_all(fd, data)
    except OSError as exc:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        raise write_error(exc, path) from None
    return size + len(data)


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written: where the run folder's appends reach the disk."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _rewrite_in_place(path: Path, data: bytes) -> bool:
    """Overwrite an existing file's bytes with ``data`` without allocating space, for a final record on a
    full disk: only when ``data`` fits the blocks the file already holds (one write, then the length is
    cut). False when it does not fit or fails."""
    try:
        stat = path.stat()
        held = getattr(stat, "st_blocks", 0) * 512
        if not path.is_file() or len(data) > held:
            return False
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.pwrite(fd, data, 0) != len(data):
                return False
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
    except OSError:
        return False
    return True
