"""Reading what a run folder says about its run: ``RunInfo`` (status and reason, best metric, epochs,
start, end, duration, graph and source), the runs of a folder and of a graph, ``evaluation.json`` and
the ``RunStarted`` a run announced. Import these from ``records.py``.

Never raises: a run that was killed has no final summary and reads as "incomplete" with whatever its
files do tell; a damaged file gives fewer facts. Imports neither torch nor Qt.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerloom.core.fileio import open_regular
from layerloom.training.run_format import (CHECKPOINTS_DIR, COMPLETED, CONFIG_FILE, DIVERGED, EARLY,
                                           EVALUATION_FILE, FAILED, GRAPH_FILE, INCOMPLETE, METRICS_FILE,
                                           NOT_LEARNED, RUN_FILES, RUNNING, STALE_S, STAMP, STATUS_WORDS,
                                           STOPPED, SUMMARY_FILE, finite_number, parse_time, read_json,
                                           whole_number)

_MINIMIZED = ("loss", "mae", "rmse")    # metrics.metric_mode (that module imports torch)


# ------------------------------------------------------------------ one run
@dataclass(frozen=True)
class RunInfo:
    """What the run folder says about a run."""

    path: Path
    graph_name: str = ""
    status: str = INCOMPLETE
    message: str = ""                   # the summary's message, or why the run counts as incomplete
    best_metric: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    epoch: int = 0                      # epochs done
    epochs: int | None = None           # epochs planned
    duration_s: float | None = None     # training time, pauses excluded (older runs: metrics.csv's time_s)
    started: float | None = None        # seconds since the epoch
    live: bool = False                  # reported by the window that trains it
    started_at: str | None = None       # ISO 8601 with offset, as recorded (None: an older run)
    ended_at: str | None = None         # None while running, or when the run never wrote its end
    reason: str | None = None           # completed, early_stopped, stopped, diverged, failed, out_of_memory
    source: str | None = None           # the graph file it was trained from (None: unsaved, or an older run)
    legacy: bool = False                # written before runs recorded their source and times

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def graph_file(self) -> Path | None:
        path = self.path / GRAPH_FILE
        return path if path.is_file() else None

    @property
    def checkpoint(self) -> Path | None:
        """``best.pt``, else ``last.pt``, else None."""
        for kind in ("best", "last"):
            path = self.path / CHECKPOINTS_DIR / f"{kind}.pt"
            if path.is_file():
                return path
        return None

    @property
    def ended_early(self) -> bool:
        """It stopped before its planned epochs (stopped, failed, killed): continuing goes on to them.
        A finished run (completed, stopped early by its patience, did not learn) continues to more."""
        return self.status not in (COMPLETED, EARLY, NOT_LEARNED)

    def cannot_continue(self) -> str | None:
        """Why this run cannot be continued from its last checkpoint (None: it can): one that ended
        before its planned epochs goes on to them, a finished one to more epochs; either needs its
        ``last.pt``."""
        if self.status == RUNNING:
            return "it is still training"
        if self.status == DIVERGED:
            return "it diverged: with the same settings it would again; fine-tune from it with a lower learning rate"
        if not (self.path / CHECKPOINTS_DIR / "last.pt").is_file():
            return "it saved no checkpoint" + (": it stopped in its first epoch" if self.ended_early else "")
        return None

    def best_text(self) -> str:
        if self.best_metric is None or self.best_value is None or not math.isfinite(self.best_value):
            return "–"
        epoch = f" @ {self.best_epoch}" if self.best_epoch else ""
        return f"{self.best_metric} {self.best_value:.3g}{epoch}"

    def epochs_text(self) -> str:
        if not self.epoch and not self.epochs:
            return "–"
        return f"{self.epoch}/{self.epochs if self.epochs else '?'}"

    def started_text(self) -> str:
        return "–" if self.started is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))

    def duration_text(self) -> str:
        return format_duration(self.duration_s)


def format_duration(seconds: float | None) -> str:
    """A run's length as people read it: "0.4 s", "12 s", "1:05", "1:02:05"; "–" when unknown."""
    if seconds is None or seconds != seconds:
        return "–"
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def looks_like_run(path: Path) -> bool:
    """A folder named like ``new_run_dir`` names them, or holding any file a run writes."""
    if not path.is_dir() or path.name.startswith("."):
        return False
    return bool(STAMP.search(path.name)) or any((path / name).exists() for name in RUN_FILES)


def scan_runs(root: str | os.PathLike | None) -> list[RunInfo]:
    """Every run folder directly inside ``root`` (none when it does not exist)."""
    if root is None:
        return []
    try:
        children = list(Path(root).iterdir())
    except OSError:
        return []
    return [read_run(path) for path in children if looks_like_run(path)]


def read_run(path: str | os.PathLike, live_status: str | None = None) -> RunInfo:
    """One run folder as a ``RunInfo``; missing, damaged or half-written files give fewer facts, never an
    error. ``live_status`` (from the window's own run) overrides the status the files tell."""
    path = Path(path)
    summary, config = read_json(path / SUMMARY_FILE), read_json(path / CONFIG_FILE)
    rows = _metric_rows(path / METRICS_FILE)
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    epoch = whole_number(summary.get("epoch")) or (whole_number(rows[-1].get("epoch")) if rows else 0)
    epochs = whole_number(summary.get("epochs")) or whole_number(training.get("epochs")) or None
    best = summary.get("best") if isinstance(summary.get("best"), dict) else None
    if best is None:
        best = _best_of(rows, config.get("monitor"))
    duration = finite_number(summary.get("duration_s"))
    if duration is None and rows:
        duration = finite_number(rows[-1].get("time_s"))
    status, message = _status(path, summary, epoch, epochs, rows)
    if live_status is not None:
        status = STATUS_WORDS.get(live_status, live_status)
        if status == RUNNING:
            message = f"training in this window: {summary.get('message') or 'first epoch'}"
    started_at = _text(summary.get("started_at"))
    started = parse_time(started_at)
    source = _text(summary.get("source")) or _text(config.get("source"))
    graph_name = _graph_name(path / GRAPH_FILE) or _text(summary.get("graph")) or ""
    reason = _text(summary.get("reason"))
    return RunInfo(path, graph_name, status, message,
                   _text(best.get("metric")) if best else None, finite_number(best.get("value")) if best else None,
                   whole_number(best.get("epoch")) if best else None, epoch, epochs, duration,
                   started if started is not None else _started(path), live_status is not None,
                   started_at, _text(summary.get("ended_at")), reason, source,
                   "source" not in summary and "source" not in config)


def read_evaluation(run_dir: str | os.PathLike) -> dict | None:
    """``evaluation.json`` of a run (see ``records.py``): the last validated epoch's ``epoch``, ``metrics``,
    ``classes``, ``per_class`` scores and ``confusion`` matrix (absent for more than 200 classes);
    None when the run has none or the file is damaged."""
    data = read_json(Path(run_dir) / EVALUATION_FILE)
    if not data or not isinstance(data.get("epoch"), int):
        return None
    return data


def evaluation_details(evaluation: dict) -> dict:
    """An ``evaluation.json`` record's details as ``EpochEnd.details`` holds them (the confusion matrix
    as an integer array)."""
    details = {key: evaluation[key] for key in ("confusion", "per_class") if evaluation.get(key) is not None}
    if details.get("confusion") is not None:
        try:
            details["confusion"] = np.asarray(details["confusion"], dtype=np.int64)
        except (TypeError, ValueError):
            del details["confusion"]   # a damaged matrix: the rest still shows
    return details


def best_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The weights a run is tried and exported with: ``best.pt``, else ``last.pt``."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    best = folder / "best.pt"
    return best if best.is_file() else folder / "last.pt"


def read_started(run_dir: str | os.PathLike, steps_per_epoch: int = 0):
    """The ``RunStarted`` a run announced, rebuilt from its ``config.json`` (task, classes, dataset,
    device, epochs); ``steps_per_epoch`` from its curves. None when the file is missing or damaged."""
    from layerloom.training.events import RunStarted

    config = read_json(Path(run_dir) / CONFIG_FILE)
    if not config:
        return None
    dataset, training, device = (config.get(k) if isinstance(config.get(k), dict) else {}
                                 for k in ("dataset", "training", "device"))
    classes = dataset.get("classes") if isinstance(dataset.get("classes"), list) else None
    threads, layout = (device.get(k) if isinstance(device.get(k), dict) else {}
                       for k in ("thread_choice", "memory_format"))
    return RunStarted(str(run_dir), str(device.get("type") or "cpu"), str(device.get("name") or ""),
                      str(device.get("precision") or "fp32"), whole_number(training.get("epochs")), 0,
                      int(steps_per_epoch or 0), whole_number(dataset.get("train")),
                      whole_number(dataset.get("val")), 0, str(dataset.get("task") or "loss"),
                      tuple(str(c) for c in classes) if classes else None, str(dataset.get("summary") or ""),
                      training, threads=whole_number(threads.get("threads", device.get("threads"))),
                      threads_reason=str(threads.get("reason") or ""),
                      memory_format=str(layout.get("memory_format") or ""),
                      memory_format_reason=str(layout.get("reason") or ""))


# ------------------------------------------------------------------ the runs of a graph
def runs_of(root: str | os.PathLike | None, source: str | os.PathLike | None = None,
            graph_name: str | None = None) -> list[RunInfo]:
    """The runs in ``root`` that belong to a graph, newest first.

    ``source`` is the graph's file (None: an unsaved graph). A run that recorded its source belongs to
    the file it names (compared after resolving both paths). A run without one (an unsaved graph's, or
    one older than the field) belongs to an unsaved graph of the same name; an older run, which could
    not record it, also to a saved graph of that name. ``graph_name`` None matches any name."""
    mine = [run for run in scan_runs(root) if belongs(run, source, graph_name)]
    return sorted(mine, key=started_key, reverse=True)


def latest_run(root: str | os.PathLike | None, source: str | os.PathLike | None = None,
               graph_name: str | None = None) -> RunInfo | None:
    """The newest run in ``root`` of that graph (see ``runs_of``), or None."""
    runs = runs_of(root, source, graph_name)
    return runs[0] if runs else None


def belongs(run: RunInfo, source: str | os.PathLike | None, graph_name: str | None) -> bool:
    """Whether ``run`` is a run of the graph saved as ``source`` (None: unsaved) named ``graph_name``
    (None: any name); the rule ``runs_of`` lists by."""
    source = _resolved(source) if source is not None else None
    same_name = graph_name is None or run.graph_name == graph_name
    if run.source is not None:
        return source is not None and _resolved(run.source) == source
    if source is None:
        return same_name
    return run.legacy and graph_name is not None and run.graph_name == graph_name


def _resolved(path: str | os.PathLike) -> str:
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError, ValueError):
        return os.path.abspath(str(path))


def started_key(info: RunInfo) -> str:
    """A sort key, newest last: runs started in the same second keep new_run_dir's -2, -3... order."""
    found = STAMP.search(info.name)
    number = int(found.group(2) or 1) if found else 0
    return f"{info.started or 0:016.3f} {number:05d} {info.name}"


# ------------------------------------------------------------------ status and small readers
def _status(path: Path, summary: dict, epoch: int, epochs: int | None, rows: list) -> tuple[str, str]:
    message = str(summary.get("message") or "")
    status = summary.get("status")
    if status == "finished":
        if "did not learn" in message:   # Finished.warnings, said in its message
            return NOT_LEARNED, message
        reason = summary.get("reason")
        early = reason == "early_stopped" or (reason is None and epochs is not None and epoch < epochs)
        return (EARLY if early else COMPLETED), message
    if status in (STOPPED, DIVERGED, FAILED):
        return status, message
    if status == RUNNING:
        epoch_s = (finite_number(rows[-1].get("time_s")) or 0.0) / max(len(rows), 1) if rows else 0.0
        age = time.time() - _mtime(path / SUMMARY_FILE)
        if age < max(STALE_S, 3 * epoch_s):
            return RUNNING, message or "running in another process"
        return INCOMPLETE, "the run stopped reporting without a final summary (the process was killed?)"
    if (path / SUMMARY_FILE).exists():
        return INCOMPLETE, "summary.json is unreadable"
    return INCOMPLETE, "no summary.json: the run was interrupted, or is in its first epoch in another process"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _graph_name(path: Path) -> str:
    name = read_json(path).get("name")
    return name if isinstance(name, str) else ""


def _metric_rows(path: Path) -> list[dict]:
    """metrics.csv's rows up to the first damaged one (one row per epoch: small)."""
    rows = []
    try:
        with open_regular(path, "r", newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if finite_number(row.get("epoch")) is None:
                    break
                rows.append(row)
    except (OSError, csv.Error):
        pass
    return rows


def _best_of(rows: list[dict], metric: Any) -> dict | None:
    """The monitored metric's best epoch from metrics.csv, for a run without a summary."""
    if not isinstance(metric, str) or not rows:
        return None
    sign = -1.0 if metric.rsplit("_", 1)[-1] in _MINIMIZED else 1.0
    scored = [(sign * v, -whole_number(row.get("epoch")), v) for row in rows
              if (v := finite_number(row.get(metric))) is not None and math.isfinite(v)]
    if not scored:
        return None
    _, epoch, value = max(scored)
    return {"metric": metric, "value": value, "epoch": -epoch}


def _started(path: Path) -> float | None:
    """When an older run (no started_at) began: its folder's time stamp, else config.json's mtime."""
    found = STAMP.search(path.name)
    if found:
        try:
            return time.mktime(time.strptime(found.group(1), "%Y%m%d-%H%M%S"))
        except (ValueError, OverflowError):
            pass
    stamp = _mtime(path / CONFIG_FILE)
    return stamp or None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
