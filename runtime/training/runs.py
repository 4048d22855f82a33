"""Run folders and checkpoints: writing them (``records.py`` reads them back and names the files).

A run folder holds everything needed to understand, reproduce and resume a run::

    runs/digits-mlp-20261121-093000/
      config.json          resolved settings, dataset summary and scaling, device, versions, the graph's
                           name and source file, and the resumes ({"from_epoch", "at"}) of a resumed run
      graph.llgraph.json   the graph exactly as it was trained
      metrics.csv          one row per epoch (epoch, step, time_s, train_s, lr, train and validation metrics)
      steps.csv            one row per optimizer step (step, epoch, loss, lr)
      summary.json         the run's outcome so far (rewritten atomically at the start, at most once a
                           second at epoch ends, and at the end, that last time flushed to disk)
      evaluation.json      the last validated epoch's details (classification): see below
      checkpoints/last.pt  weights, optimizer and schedule state, RNG state, epoch, graph
      checkpoints/best.pt  the same at the best epoch of the monitored metric

summary.json, at every write::

    status       running, finished, stopped, diverged or failed
    reason       null while running; then completed, early_stopped, stopped, diverged, failed,
                 out_of_memory or disk_full
    message      one sentence for a person ("Stopped at epoch 3, step 84; the last good checkpoint ...")
    graph        the graph's name;  source: the graph file trained (absolute path; null: unsaved graph)
    started_at   when the run began (ISO 8601 local time with UTC offset; a resumed run keeps its first)
    ended_at     when it ended (same format), null while running
    duration_s   training time, pauses excluded, earlier sessions of a resumed run included; at the end
                 exactly the terminal event's duration_s
    epoch, epochs, step, best {metric, value, epoch}, last (metrics of the last epoch), test, updated

evaluation.json, the latest validated epoch of a run whose metrics have details (classification),
written atomically with the first one, then with summary.json (at most once a second) and at the end::

    epoch, task, metrics (the epoch's metrics), classes (class names or null),
    per_class {precision, recall, f1: one value per class},
    confusion (rows: true class, columns: predicted; left out above 200 classes to bound the file)

Checkpoints hold only tensors and plain containers, so ``torch.load(weights_only=True)`` reads them:
a checkpoint from elsewhere cannot run code. ``load_checkpoint`` checks what every reader uses (the
format, the weights as named tensors, the graph, the epoch, the small records) and ``load_weights``
that the weights fit the module and are finite; a damaged file gives a ``CheckpointError`` naming it
and what is wrong, never a traceback.

Faults while writing: every write is atomic (a temp file renamed over the target) or an append that
is rolled back when it fails, so a full disk leaves the last complete checkpoint, summary and CSV rows.
A full disk raises ``DiskFullError`` (saying "disk full" and the folder); temp files an interrupted
save left behind (``.<name>.*.tmp``) are removed at the next save and when a run (re)starts.
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
import warnings
from pathlib import Path
from typing import Any

import torch

from layerloom.core.atomic import atomic_write
from layerloom.core.errors import LayerLoomError
from layerloom.core.fileio import NotRegularFile, open_regular
from layerloom.model.graph import Graph
from layerloom.files.graphfile import graph_from_dict, save_graph
from layerloom.training.records import (CHECKPOINTS_DIR, CONFIG_FILE, EVALUATION_FILE, GRAPH_FILE, METRICS_FILE,  # noqa: F401
                      STEPS_FILE, SUMMARY_FILE, read_json)

CHECKPOINT_FORMAT = "layerloom-checkpoint"
CHECKPOINT_VERSION = 1
CONFUSION_MAX_CLASSES = 200   # evaluation.json leaves out a larger confusion matrix (it grows as classes squared)


class CheckpointError(LayerLoomError):
    """A checkpoint or run folder that cannot be read or written; the message names the file."""


class DiskFullError(CheckpointError):
    """A write into a run folder failed because its disk (or the user's quota) is full: ``folder``."""

    def __init__(self, message: str, folder: str | os.PathLike):
        super().__init__(message)
        self.folder = str(folder)


class Checkpoint(dict):
    """A loaded checkpoint: its payload, and ``path``, the file it was read from (named in errors)."""

    path: str = "checkpoint"


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
                self._steps_size = _append(self._steps_fd, b"step,epoch,loss,lr\n", 0, path)
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
        _filter_csv(self.path / METRICS_FILE, lambda row: _int(row.get("epoch")) <= epoch)
        _filter_csv(self.path / STEPS_FILE, lambda row: _int(row.get("step")) <= step)

    # ------------------------------------------------------------- checkpoints
    def checkpoint_path(self, kind: str) -> Path:
        return self.checkpoints / f"{kind}.pt"

    def save_checkpoint(self, kind: str, payload: dict, durable: bool = False) -> Path:
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


def save_checkpoint(payload: dict, path: str | os.PathLike, durable: bool = False) -> None:
    """Write atomically (temp file + rename). ``durable`` also fsyncs: done for the final checkpoint,
    skipped per epoch where the rename already protects against a crashed process."""
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    try:
        atomic_write(path, lambda handle: torch.save(data, handle), durable=durable)
    except (OSError, RuntimeError) as exc:  # torch's zip writer turns a failed write into RuntimeError
        raise write_error(exc, path, "save the checkpoint") from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True`` onto the CPU and check what every reader of it uses:
    its format and version, ``weights`` (names to tensors), ``graph``, ``epoch`` and the small records
    (``step``, ``config``, ``dataset``, ``metrics``). ``CheckpointError`` names the file and what is
    wrong; ``load_weights`` checks that the weights fit a module and are finite, ``Trainer`` checks the
    state a resume needs (optimizer, schedule, random streams) as it restores it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINTS_DIR / "last.pt" if (path / CHECKPOINTS_DIR).is_dir() else path / "last.pt"
    try:
        with warnings.catch_warnings(), open_regular(path) as handle:
            warnings.simplefilter("ignore")   # e.g. "Detected pickle protocol 4": the error below says what matters
            data = torch.load(handle, map_location="cpu", weights_only=True)
    except NotRegularFile as exc:
        raise CheckpointError(f"{path}: not a checkpoint file: {exc}") from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: a folder, not a checkpoint file") from None
    except (PermissionError, TimeoutError) as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        raise CheckpointError(f"{path}: {_unreadable(exc, path)}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a LayerLoom checkpoint")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: the checkpoint's version {version!r} is not a version number (damaged file)")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this LayerLoom reads "
                              f"({CHECKPOINT_VERSION}); update LayerLoom")
    for key in ("weights", "graph", "epoch"):
        if key not in data:
            raise CheckpointError(f"{path}: the checkpoint has no '{key}' (damaged, or not written by LayerLoom)")
    problem = _payload_problem(data)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {problem}")
    checkpoint = Checkpoint(data)
    checkpoint.path = str(path)
    return checkpoint


def _unreadable(exc: Exception, path: Path) -> str:
    """Why ``torch.load`` could not read a file, in words (never torch's advice to drop weights_only)."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if type(exc).__name__ == "UnpicklingError" and found:
        return (f"refused: the file asks to load Python code ({found.group(1)}), which could run anything; "
                "LayerLoom checkpoints hold only tensors and plain data")
    if type(exc).__name__ == "UnpicklingError":   # torch's text would suggest weights_only=False: never
        if _head(path, 1) == b"\x80":   # a bare pickle (a checkpoint is a zip archive)
            return ("refused: a bare Python pickle, not a LayerLoom checkpoint (such a file can run code when "
                    "loaded; LayerLoom checkpoints hold only tensors and plain data)")
        return "not a readable LayerLoom checkpoint (damaged, or not a checkpoint)"
    size = _size(path)
    if size == 0:
        return "the file is empty (a save that was interrupted?)"
    if isinstance(exc, (EOFError, OSError)) or "central directory" in text or "zip archive" in text \
            or "truncat" in text:
        return "the file is truncated or damaged (a save that was interrupted, or a partial copy)"
    first = text.splitlines()[0] if text else ""
    return f"not a readable LayerLoom checkpoint ({type(exc).__name__}: {first[:200]})"


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _payload_problem(data: dict) -> str:
    """What is wrong with the parts of a checkpoint every reader uses ("" when nothing is)."""
    weights = data["weights"]
    if not isinstance(weights, dict):
        return f"'weights' should map parameter names to tensors, not be a {type(weights).__name__}"
    for name, value in weights.items():
        if not isinstance(name, str):
            return f"'weights' has a key {name!r} that is not a parameter name"
        if not isinstance(value, torch.Tensor):
            return f"weights '{name}' is a {type(value).__name__}, not a tensor"
    if not isinstance(data["graph"], dict):
        return f"'graph' should be a graph (a JSON object), not a {type(data['graph']).__name__}"
    if not _is_int(data["epoch"]) or data["epoch"] < 0:
        return f"'epoch' should be a whole number of epochs, not {_show(data['epoch'])}"
    if data.get("step") is not None and (not _is_int(data["step"]) or data["step"] < 0):
        return f"'step' should be a whole number of steps, not {_show(data['step'])}"
    for key in ("config", "dataset", "metrics"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' should be a JSON object, not a {type(data[key]).__name__}"
    dataset = data.get("dataset") or {}
    classes = dataset.get("classes")
    if classes is not None and (not isinstance(classes, (list, tuple)) or
                                not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)):
        return "dataset 'classes' should be a list of class names"
    scaling = dataset.get("scaling")
    if scaling is not None and not isinstance(scaling, dict):
        return f"dataset 'scaling' should be a JSON object, not a {type(scaling).__name__}"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def checkpoint_graph(data: dict, path: str | None = None) -> Graph:
    """The graph a checkpoint was trained from; a damaged one raises ``CheckpointError`` naming the file."""
    from layerloom.core.errors import LocatedError

    path = path or getattr(data, "path", None)
    try:
        return graph_from_dict(data["graph"], path=path)
    except LocatedError as exc:
        where = f"{exc.location}: " if exc.location else ""
        raise CheckpointError(f"{path or 'checkpoint'}: the graph stored in the checkpoint cannot be read: "
                              f"{where}{exc.detail}") from None
    except LayerLoomError as exc:
        raise CheckpointError(f"{path or 'checkpoint'}: the graph stored in the checkpoint cannot be read: "
                              f"{exc}") from None


def checkpoint_config(data: dict, path: str | None = None):
    """The training settings a checkpoint recorded (``TrainingConfig``; the defaults when it has none);
    damaged ones raise ``CheckpointError`` naming the file."""
    from layerloom.training.config import TrainingConfig

    path = path or getattr(data, "path", None) or "checkpoint"
    raw = data.get("config") or {}
    try:
        return TrainingConfig.from_dict(raw)
    except LayerLoomError as exc:
        raise CheckpointError(f"{path}: the training settings stored in the checkpoint are damaged: "
                              f"{str(exc).removeprefix('bad training settings:').strip()}") from None


def load_weights(module: torch.nn.Module, weights: dict, source: str = "checkpoint") -> None:
    """Copy matching weights into ``module`` (the model or the criterion: they share layer names).
    Every parameter of ``module`` must be in ``weights``: a tensor of the same shape holding no NaN
    (nor, for a parameter, an infinity). ``source`` names the weights in the ``CheckpointError``."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{source}: the weights should map parameter names to tensors, "
                              f"not be a {type(weights).__name__}")
    own = module.state_dict()
    missing = [k for k in own if k not in weights]
    foreign = [f"{k} is a {type(weights[k]).__name__}" for k in own
               if k in weights and not isinstance(weights[k], torch.Tensor)]
    if foreign:
        raise CheckpointError(f"{source}: damaged weights, not tensors: {', '.join(foreign[:5])}")
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if missing or wrong:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if wrong:
            parts.append("different shapes: " + ", ".join(wrong[:5]))
        raise CheckpointError(f"{source}: the weights do not fit this graph ({'; '.join(parts)})")
    parameters = {name for name, _ in module.named_parameters()}
    bad = _not_finite({k: weights[k] for k in own}, parameters)
    if bad:
        raise CheckpointError(f"{source}: the weights hold {bad}: the run had diverged when they were saved, "
                              "or the file is damaged; use an earlier checkpoint")
    module.load_state_dict({k: weights[k] for k in own})


def _not_finite(weights: dict, parameters: set[str]) -> str:
    """Which tensor holds NaN (or, for a parameter, an infinity) and how many values; "" if none."""
    for name, tensor in weights.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
            continue
        nan = int(torch.isnan(tensor).sum())
        inf = int(torch.isinf(tensor).sum()) if name in parameters else 0
        if nan or inf:
            what = " and ".join(t for t in (f"{nan:,} NaN" if nan else "", f"{inf:,} infinite" if inf else "") if t)
            return f"{what} value{'s' if nan + inf > 1 else ''} in '{name}'"
    return ""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else "nan"
    return str(value)


def _int(text: Any) -> int:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return 0


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


# ------------------------------------------------------------------ appends that a full disk cannot tear
def _csv_line(cells: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


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
