"""Run folders and checkpoints: writing them (``records.py`` reads them back and names the files).

A run folder holds everything needed to understand, reproduce and resume a run::

    runs/digits-mlp-20261121-093000/
      config.json          resolved settings, dataset summary and scaling, device, versions, the graph's
                           name and source file, and the resumes ({"from_epoch", "at"}) of a resumed run
      graph.llgraph.json   the graph exactly as it was trained
      metrics.csv          one row per epoch (epoch, step, time_s, train_s, lr, train and validation metrics)
      steps.csv            one row per optimizer step (step, epoch, loss, lr)
      summary.json         the run's outcome so far (rewritten at the start, at most once a second at
                           epoch ends, and at the end)
      evaluation.json      the last validated epoch's details (classification): see below
      checkpoints/last.pt  weights, optimizer and schedule state, RNG state, epoch, graph
      checkpoints/best.pt  the same at the best epoch of the monitored metric

summary.json, at every write::

    status       running, finished, stopped, diverged or failed
    reason       null while running; then completed, early_stopped, stopped, diverged, failed or
                 out_of_memory
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
a checkpoint from elsewhere cannot run code.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..errors import LayerLoomError
from ..graph import Graph
from ..graphfile import graph_from_dict, save_graph
from .records import (CHECKPOINTS_DIR, CONFIG_FILE, EVALUATION_FILE, GRAPH_FILE, METRICS_FILE,  # noqa: F401
                      STEPS_FILE, SUMMARY_FILE)

CHECKPOINT_FORMAT = "layerloom-checkpoint"
CHECKPOINT_VERSION = 1
CONFUSION_MAX_CLASSES = 200   # evaluation.json leaves out a larger confusion matrix (it grows as classes squared)


class CheckpointError(LayerLoomError):
    """A checkpoint or run folder that cannot be read or written; the message names the file."""


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
            raise CheckpointError(f"{path}: cannot create the run folder: {exc.strerror or exc}") from None
    raise CheckpointError(f"{root}: too many runs named {base}")


class RunFolder:
    """Writes a run's files. All writes are atomic or append-only, so a crash never leaves a
    half-written checkpoint or config."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self._columns: list[str] | None = None
        self._steps_handle = None

    # ------------------------------------------------------------- documents
    def write_json(self, name: str, data: dict, indent: int | None = 2) -> None:
        path = self.path / name
        text = json.dumps(data, indent=indent, sort_keys=False, default=str) + "\n"
        try:
            atomic_write(path, text.encode("utf-8"), durable=False)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def read_json(self, name: str) -> dict:
        """A JSON document of the run folder, or {} when it is missing or unreadable."""
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

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
        path = self.path / METRICS_FILE
        if self._columns is None:
            self._columns = _existing_columns(path) or list(row)
            if not path.exists():
                with open(path, "w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle).writerow(self._columns)
        with open(path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([_cell(row.get(c)) for c in self._columns])

    def append_steps(self, rows: list[tuple]) -> None:
        """Rows of (step, epoch, loss, lr); the file stays open until ``close``."""
        if self._steps_handle is None:
            path = self.path / STEPS_FILE
            new = not path.exists()
            self._steps_handle = open(path, "a", newline="", encoding="utf-8")
            if new:
                self._steps_handle.write("step,epoch,loss,lr\n")
        self._steps_handle.write("".join(f"{s},{e},{_cell(loss)},{_cell(lr)}\n" for s, e, loss, lr in rows))

    def flush(self) -> None:
        if self._steps_handle is not None:
            self._steps_handle.flush()

    def close(self) -> None:
        if self._steps_handle is not None:
            self._steps_handle.close()
            self._steps_handle = None

    def truncate_after(self, epoch: int, step: int) -> None:
        """Drop rows written after the checkpoint a resumed run starts from."""
        _filter_csv(self.path / METRICS_FILE, lambda row: _int(row.get("epoch")) <= epoch)
        _filter_csv(self.path / STEPS_FILE, lambda row: _int(row.get("step")) <= step)

    # ------------------------------------------------------------- checkpoints
    def checkpoint_path(self, kind: str) -> Path:
        return self.checkpoints / f"{kind}.pt"

    def save_checkpoint(self, kind: str, payload: dict, durable: bool = False) -> Path:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint_path(kind)
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
            raise CheckpointError(f"{path}: cannot save the checkpoint: {exc.strerror or exc}") from None
        return path


def save_checkpoint(payload: dict, path: str | os.PathLike, durable: bool = False) -> None:
    """Write atomically (temp file + rename). ``durable`` also fsyncs: done for the final checkpoint,
    skipped per epoch where the rename already protects against a crashed process."""
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    try:
        atomic_write(path, lambda handle: torch.save(data, handle), durable=durable)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot save the checkpoint: {exc.strerror or exc}") from None


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint with ``weights_only=True`` onto the CPU; ``CheckpointError`` names the file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINTS_DIR / "last.pt" if (path / CHECKPOINTS_DIR).is_dir() else path / "last.pt"
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if type(exc).__name__ == "UnpicklingError" and found:
            # torch's message suggests weights_only=False: exactly what must not be done with a stranger's file
            raise CheckpointError(f"{path}: refused: the file asks to load Python code ({found.group(1)}), which "
                                  "could run anything; LayerLoom checkpoints hold only tensors and plain data") from None
        if type(exc).__name__ == "UnpicklingError":  # torch's text would suggest weights_only=False: never
            raise CheckpointError(f"{path}: not a readable LayerLoom checkpoint (damaged, or not a checkpoint)") from None
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{path}: not a readable LayerLoom checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a LayerLoom checkpoint")
    version = data.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this LayerLoom reads "
                              f"({CHECKPOINT_VERSION}); update LayerLoom")
    for key in ("weights", "graph", "epoch"):
        if key not in data:
            raise CheckpointError(f"{path}: the checkpoint has no '{key}'")
    return data


def checkpoint_graph(data: dict, path: str | None = None) -> Graph:
    """The graph a checkpoint was trained from."""
    return graph_from_dict(data["graph"], path=path)


def load_weights(module: torch.nn.Module, weights: dict, source: str = "checkpoint") -> None:
    """Copy matching weights into ``module`` (the model or the criterion: they share layer names).
    Every parameter of ``module`` must be in ``weights`` with the same shape."""
    own = module.state_dict()
    missing = [k for k in own if k not in weights]
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if missing or wrong:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if wrong:
            parts.append("different shapes: " + ", ".join(wrong[:5]))
        raise CheckpointError(f"{source}: the weights do not fit this graph ({'; '.join(parts)})")
    module.load_state_dict({k: weights[k] for k in own})


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
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        handle.seek(0)
        header = next(csv.reader(handle), [])
    out = [row for row in rows if keep(row)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(out)
