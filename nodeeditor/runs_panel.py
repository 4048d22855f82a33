"""The Runs panel: every run folder of a runs folder, plus the runs this window trains, in one sortable
list. Select runs to overlay their curves on the charts, open the graph a run was trained from, load
its checkpoint, show or delete its folder.

A row is read from the run's own files (``summary.json``, ``config.json``, ``metrics.csv``, the graph
file: see ``runtime/training/runs.py``) by ``read_run``, which never raises: a run that was killed has
no final summary and shows as "incomplete" with whatever its files do tell. Reading a row never
imports torch (the editor starts without it); curves (``steps.csv`` can hold millions of rows) are read
off the GUI thread and cached.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from PySide6.QtCore import (QAbstractTableModel, QEvent, QFile, QFileSystemWatcher, QItemSelectionModel, QModelIndex,
                            QSortFilterProxyModel, Qt, QTimer, QUrl, Signal)
from PySide6.QtGui import QAction, QColor, QDesktopServices, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox,
                               QPushButton, QTreeView, QVBoxLayout, QWidget)

from runtime.graphfile import SUFFIX
from runtime.training.events import Failed, Finished, Stopped

from .background import run_in_background
from .charts import RunCurves
from .training_panel import format_duration

GRAPH_FILE = "graph" + SUFFIX            # runtime.training.runs.GRAPH_FILE (that module imports torch)
RUN_FILES = ("summary.json", "config.json", "metrics.csv", "steps.csv", GRAPH_FILE, "checkpoints")
STAMP = re.compile(r"-(\d{8}-\d{6})(?:-(\d+))?$")   # new_run_dir: <slug>-<YYYYmmdd>-<HHMMSS>[-N]
STALE_S = 600.0          # a "running" summary this much older than an epoch takes is a killed run
REFRESH_MS = 400         # file-system changes are coalesced for this long before a rescan

RUNNING, COMPLETED, EARLY, STOPPED, DIVERGED, FAILED, INCOMPLETE = (
    "running", "completed", "early stopped", "stopped", "diverged", "failed", "incomplete")
STATUS_ORDER = (RUNNING, COMPLETED, EARLY, STOPPED, DIVERGED, FAILED, INCOMPLETE)
STATUS_COLORS = {RUNNING: "#4c8dff", COMPLETED: "#4caf50", EARLY: "#2fa39b", STOPPED: "#d9a227",
                 DIVERGED: "#e0605e", FAILED: "#e0605e", INCOMPLETE: "#8a9099"}
_STATUS_WORDS = {"running": RUNNING, "completed": COMPLETED, "early_stopped": EARLY, "early stopped": EARLY,
                 "stopped": STOPPED, "diverged": DIVERGED, "failed": FAILED, "incomplete": INCOMPLETE}
_MINIMIZED = ("loss", "mae", "rmse")    # runtime.training.metrics.metric_mode (that module imports torch)

COLUMNS = ("Run", "Graph", "Status", "Best", "Epochs", "Duration", "Started")
NAME, GRAPH, STATUS, BEST, EPOCHS, DURATION, STARTED = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class RunInfo:
    """What the list shows of one run folder."""

    path: Path
    graph_name: str = ""
    status: str = INCOMPLETE
    message: str = ""                   # the summary's message, or why the run counts as incomplete
    best_metric: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    epoch: int = 0                      # epochs done
    epochs: int | None = None           # epochs planned
    duration_s: float | None = None     # training time, pauses excluded
    started: float | None = None        # seconds since the epoch
    live: bool = False                  # reported by this window's dashboard

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
            path = self.path / "checkpoints" / f"{kind}.pt"
            if path.is_file():
                return path
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


# ------------------------------------------------------------------ reading run folders (no Qt)
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
    error. ``live_status`` (from this window's own run) overrides the status the files tell."""
    path = Path(path)
    summary, config = _json(path / "summary.json"), _json(path / "config.json")
    rows = _metric_rows(path / "metrics.csv")
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    epoch = _int(summary.get("epoch")) or (_int(rows[-1].get("epoch")) if rows else 0)
    epochs = _int(summary.get("epochs")) or _int(training.get("epochs")) or None
    best = summary.get("best") if isinstance(summary.get("best"), dict) else None
    if best is None:
        best = _best_of(rows, config.get("monitor"))
    duration = _number(summary.get("duration_s"))
    if duration is None and rows:
        duration = _number(rows[-1].get("time_s"))
    status, message = _status(path, summary, epoch, epochs, rows)
    if live_status is not None:
        status = _STATUS_WORDS.get(live_status, live_status)
        if status == RUNNING:
            message = f"training in this window: {summary.get('message') or 'first epoch'}"
    return RunInfo(path, _graph_name(path / GRAPH_FILE), status, message,
                   best.get("metric") if best else None, _number(best.get("value")) if best else None,
                   _int(best.get("epoch")) if best else None, epoch, epochs, duration, _started(path),
                   live_status is not None)


def _status(path: Path, summary: dict, epoch: int, epochs: int | None, rows: list) -> tuple[str, str]:
    message = str(summary.get("message") or "")
    status = summary.get("status")
    if status == "finished":
        reason = summary.get("reason")
        early = reason == "early_stopped" or (reason is None and epochs is not None and epoch < epochs)
        return (EARLY if early else COMPLETED), message
    if status in (STOPPED, DIVERGED, FAILED):
        return status, message
    if status == RUNNING:
        epoch_s = (_number(rows[-1].get("time_s")) or 0.0) / max(len(rows), 1) if rows else 0.0
        age = time.time() - _mtime(path / "summary.json")
        if age < max(STALE_S, 3 * epoch_s):
            return RUNNING, message or "running in another process"
        return INCOMPLETE, "the run stopped reporting without a final summary (the process was killed?)"
    if (path / "summary.json").exists():
        return INCOMPLETE, "summary.json is unreadable"
    return INCOMPLETE, "no summary.json: the run was interrupted, or is in its first epoch in another process"


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _graph_name(path: Path) -> str:
    name = _json(path).get("name")
    return name if isinstance(name, str) else ""


def _metric_rows(path: Path) -> list[dict]:
    """metrics.csv's rows up to the first damaged one (one row per epoch: small)."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if _number(row.get("epoch")) is None:
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
    scored = [(sign * v, -_int(row.get("epoch")), v) for row in rows
              if (v := _number(row.get(metric))) is not None and math.isfinite(v)]
    if not scored:
        return None
    _, epoch, value = max(scored)
    return {"metric": metric, "value": value, "epoch": -epoch}


def _started(path: Path) -> float | None:
    found = STAMP.search(path.name)
    if found:
        try:
            return time.mktime(time.strptime(found.group(1), "%Y%m%d-%H%M%S"))
        except (ValueError, OverflowError):
            pass
    stamp = _mtime(path / "config.json")
    return stamp or None


def _sort_started(info: RunInfo) -> str:
    """Newest first must hold for runs started in the same second: new_run_dir numbers those -2, -3..."""
    found = STAMP.search(info.name)
    number = int(found.group(2) or 1) if found else 0
    return f"{info.started or 0:016.3f} {number:05d} {info.name}"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _curves_stamp(path: Path) -> tuple:
    return tuple((s.st_mtime_ns, s.st_size) if (s := _stat(path / n)) else None for n in ("steps.csv", "metrics.csv"))


def _stat(path: Path):
    try:
        return path.stat()
    except OSError:
        return None


def move_to_trash(path: Path) -> bool:
    """True when the desktop's trash took the folder (Qt's answer differs between versions)."""
    result = QFile.moveToTrash(str(path))
    return bool(result[0] if isinstance(result, tuple) else result)


# ------------------------------------------------------------------ the model
class RunsModel(QAbstractTableModel):
    """Run rows keyed by folder; ``set_runs`` updates rows in place so selections survive a rescan."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._runs: list[RunInfo] = []

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def run(self, row: int) -> RunInfo:
        return self._runs[row]

    def runs(self) -> list[RunInfo]:
        return list(self._runs)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run, column = self._runs[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(run, column)
        if role == SORT_ROLE:
            return _sort_key(run, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(run, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            return QColor(STATUS_COLORS.get(run.status, STATUS_COLORS[INCOMPLETE]))
        if role == Qt.ItemDataRole.DecorationRole and column == STATUS:
            return _dot(run.status)  # the colour stays visible on a selected row
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (EPOCHS, DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_runs(self, runs: Iterable[RunInfo]) -> None:
        fresh = {run.path: run for run in runs}
        for row in reversed(range(len(self._runs))):
            if self._runs[row].path not in fresh:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._runs[row]
                self.endRemoveRows()
        for row, old in enumerate(self._runs):
            new = fresh.pop(old.path)
            if new != old:
                self._runs[row] = new
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if fresh:
            self.beginInsertRows(QModelIndex(), len(self._runs), len(self._runs) + len(fresh) - 1)
            self._runs.extend(fresh.values())
            self.endInsertRows()


def _display(run: RunInfo, column: int) -> str:
    if column == NAME:
        return run.name
    if column == GRAPH:
        return run.graph_name or "–"
    if column == STATUS:
        return run.status
    if column == BEST:
        return run.best_text()
    if column == EPOCHS:
        return run.epochs_text()
    if column == DURATION:
        return format_duration(run.duration_s)
    return run.started_text()


def _sort_key(run: RunInfo, column: int):
    """One type per column (Qt compares variants of one type): text, or a float with missing = -inf."""
    if column == STATUS:
        return float(STATUS_ORDER.index(run.status)) if run.status in STATUS_ORDER else 99.0
    if column == BEST:
        return run.best_value if run.best_value is not None else -math.inf
    if column == EPOCHS:
        return float(run.epoch)
    if column == DURATION:
        return run.duration_s if run.duration_s is not None else -math.inf
    if column == STARTED:
        return _sort_started(run)
    return _display(run, column).lower()


@lru_cache(maxsize=None)
def _dot(status: str) -> QPixmap:
    pixmap = QPixmap(10, 10)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(STATUS_COLORS.get(status, STATUS_COLORS[INCOMPLETE])))
    painter.drawEllipse(1, 1, 8, 8)
    painter.end()
    return pixmap


def _tooltip(run: RunInfo, column: int) -> str:
    if column == NAME:
        return str(run.path)
    if column == STATUS:
        return run.message or run.status
    if column == BEST and run.best_metric:
        return f"best {run.best_metric} of the run, at epoch {run.best_epoch}"
    return ""


# ------------------------------------------------------------------ the panel
class RunsPanel(QWidget):
    """The runs of a runs folder and of this window, newest first."""

    overlaysChanged = Signal(list)              # list[RunCurves] of the selected runs, in the list's order
    openGraphRequested = Signal(object)         # Path of the run's graph file
    loadCheckpointRequested = Signal(object)    # Path of best.pt (last.pt when the run has no best)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._root: Path | None = None
        self._live: dict[Path, str] = {}
        self._curves: dict[Path, tuple[tuple, RunCurves]] = {}
        self._generation = 0
        self._fitted = False
        self._tasks: dict = {}                  # curve readers still running, by token
        self.model = RunsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(True)
        self.view = self._make_view()
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._folder_changed)
        self._changed: set[Path | None] = set()      # run folders to read again (None: the whole runs folder)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._apply_changes)
        self._make_actions()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._make_buttons())
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        self._sync()

    # ------------------------------------------------------------- building
    def _make_view(self) -> QTreeView:
        view = QTreeView(self)
        view.setModel(self.proxy)
        view.setRootIsDecorated(False)
        view.setUniformRowHeights(True)
        view.setAlternatingRowColors(True)
        view.setAllColumnsShowFocus(True)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setSortingEnabled(True)
        view.sortByColumn(STARTED, Qt.SortOrder.DescendingOrder)
        view.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        view.header().setStretchLastSection(True)
        view.header().setResizeContentsPrecision(200)  # fitting the columns reads at most 200 rows
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._context_menu)
        view.doubleClicked.connect(lambda index: self.open_graph(self._run_at(index)))
        view.selectionModel().selectionChanged.connect(self._selection_changed)
        view.selectionModel().currentChanged.connect(lambda *_: self._sync())
        return view

    def _make_actions(self) -> None:
        def action(text: str, slot) -> QAction:
            act = QAction(text, self)
            act.triggered.connect(lambda: slot())
            return act

        self.refresh_action = action("Refresh", self.refresh)
        self.open_action = action("Open graph", self.open_graph)
        self.checkpoint_action = action("Load checkpoint", self.load_checkpoint)
        self.folder_action = action("Show folder", self.show_folder)
        self.delete_action = action("Delete run…", self.delete_runs)
        # Keys, not action shortcuts: the window's Delete (delete nodes) and F5 (train) would make a
        # shortcut of the same key ambiguous, and then neither fires.
        self._keys = {Qt.Key.Key_Return: self.open_action, Qt.Key.Key_Enter: self.open_action,
                      Qt.Key.Key_Delete: self.delete_action}
        self.view.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if watched is self.view and kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) \
                and event.key() in self._keys:
            event.accept()      # ShortcutOverride accepted: the key comes here, not to a window shortcut
            if kind == QEvent.Type.KeyPress and self._keys[event.key()].isEnabled():
                self._keys[event.key()].trigger()
            return True
        return super().eventFilter(watched, event)

    def _make_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(4)
        self.buttons = {}
        for act in (self.refresh_action, self.open_action, self.checkpoint_action, self.folder_action,
                    self.delete_action):
            button = QPushButton(act.text())
            button.clicked.connect(act.trigger)
            act.changed.connect(lambda b=button, a=act: b.setEnabled(a.isEnabled()))
            self.buttons[act.text()] = button
            row.addWidget(button)
            if act is self.refresh_action:
                row.addSpacing(8)
        row.addStretch(1)
        return row

    # ------------------------------------------------------------- the list
    def set_root(self, path: str | os.PathLike | None) -> None:
        """Show the runs of ``path`` (a runs folder; it need not exist yet) and watch it for new runs."""
        self._root = Path(path).resolve() if path is not None else None
        self.refresh()

    def root(self) -> Path | None:
        return self._root

    def refresh(self) -> None:
        """Read the runs folder again; rows update in place, the selection stays."""
        self._refresh_timer.stop()
        self._changed.clear()
        found = {run.path: run for run in scan_runs(self._root)}
        for path, status in self._live.items():
            if path.is_dir():  # a live run's folder deleted behind our back leaves no ghost row
                found[path] = read_run(path, status)
        self.model.set_runs(found.values())
        self._fit_columns()
        self._watch(found.values())
        self._sync()

    def add_live(self, run_dir: str | os.PathLike) -> None:
        """A run this window has started: shown as running whatever its files say so far."""
        self.update_live(run_dir, RUNNING)

    def update_live(self, run_dir: str | os.PathLike, status: str) -> None:
        """A live run's status (running, completed, early_stopped, stopped, diverged, failed); its row is
        read again from its files (epochs and best metric so far)."""
        path = Path(run_dir).resolve()
        self._live[path] = _STATUS_WORDS.get(status, status)
        runs = {run.path: run for run in self.model.runs()}
        runs[path] = read_run(path, self._live[path])
        self.model.set_runs(runs.values())
        self._fit_columns()
        self._sync()

    def end_live(self, event) -> None:
        """A terminal event of a live run (``Finished``, ``Stopped``, ``Failed``): its final status."""
        if getattr(event, "run_dir", None) is None:
            return
        if isinstance(event, Finished):
            status = EARLY if event.reason == "early_stopped" else COMPLETED
        elif isinstance(event, Stopped):
            status = STOPPED
        elif isinstance(event, Failed):
            status = DIVERGED if event.kind == "diverged" else FAILED
        else:
            return
        self.update_live(event.run_dir, status)

    def runs(self) -> list[RunInfo]:
        """Every row, in the order shown."""
        return [self._run_at(self.proxy.index(row, 0)) for row in range(self.proxy.rowCount())]

    def selected_runs(self) -> list[RunInfo]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [self._run_at(self.proxy.index(row, 0)) for row in rows]

    def current_run(self) -> RunInfo | None:
        """The run the actions apply to: the current row when selected, else the first selected."""
        index = self.view.currentIndex()
        if index.isValid() and self.view.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return self._run_at(index)
        selected = self.selected_runs()
        return selected[0] if selected else None

    def select_runs(self, paths: Iterable[str | os.PathLike]) -> None:
        wanted = {Path(p).resolve() for p in paths}
        selection = self.view.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self._run_at(index).path in wanted:
                selection.select(index, flags)

    def _run_at(self, index: QModelIndex) -> RunInfo | None:
        if not index.isValid():
            return None
        return self.model.run(self.proxy.mapToSource(index).row())

    def _watch(self, runs: Iterable[RunInfo]) -> None:
        """The runs folder (new and deleted runs) and the folders of runs still going (their summaries)."""
        wanted = {str(run.path) for run in runs if run.status == RUNNING}
        if self._root is not None and self._root.is_dir():
            wanted.add(str(self._root))
        watched = set(self.watcher.directories())
        if watched - wanted:
            self.watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self.watcher.addPaths(sorted(wanted - watched))

    def _folder_changed(self, path: str) -> None:
        """A run appeared or went (the runs folder changed), or a running run rewrote its summary."""
        self._changed.add(None if self._root is not None and Path(path) == self._root else Path(path))
        self._refresh_timer.start()

    def _apply_changes(self) -> None:
        """A full rescan only when runs came or went: a running run's folder changes every epoch, and
        rereading hundreds of runs each time would take the training thread's time (they share the GIL)."""
        if None in self._changed:
            self.refresh()
            return
        runs = {run.path: run for run in self.model.runs()}
        for path in self._changed:
            if path in runs and path.is_dir():
                runs[path] = read_run(path, self._live.get(path))
        self._changed.clear()
        self.model.set_runs(runs.values())
        self._watch(runs.values())
        self._sync()

    def _fit_columns(self) -> None:
        """Columns grow to fit their text (a live run's row fills in as it finishes); they never
        shrink, so a width the user chose stays."""
        if not self.model.rowCount():
            return
        self._fitted = True
        for column in range(len(COLUMNS) - 1):
            needed = max(self.view.sizeHintForColumn(column), self.view.header().sectionSizeHint(column))
            if needed > self.view.columnWidth(column):
                self.view.setColumnWidth(column, needed)

    def _sync(self) -> None:
        run, selected = self.current_run(), self.selected_runs()
        self.open_action.setEnabled(run is not None and run.graph_file is not None)
        self.checkpoint_action.setEnabled(run is not None and run.checkpoint is not None)
        self.folder_action.setEnabled(run is not None and run.path.is_dir())
        self.delete_action.setEnabled(any(not (r.live and r.status == RUNNING) for r in selected))
        count = self.model.rowCount()
        where = str(self._root) if self._root is not None else "this window"
        if count == 0:
            self.info.setText(f"No runs yet in {where}.")
        elif len(selected) > 1:
            self.info.setText(f"{len(selected)} of {count} runs selected: their curves are drawn on the charts.")
        else:
            self.info.setText(f"{count} run{'s' if count != 1 else ''} in {where}. "
                              "Select several to compare their curves.")

    # ------------------------------------------------------------- overlays
    def _selection_changed(self, *_) -> None:
        self._sync()
        self._generation += 1
        paths = [run.path for run in self.selected_runs()]
        stamps = {path: _curves_stamp(path) for path in paths}
        missing = [p for p in paths if p not in self._curves or self._curves[p][0] != stamps[p]]
        if not missing:
            self.overlaysChanged.emit([self._curves[p][1] for p in paths])
            return
        token, generation = object(), self._generation

        def load():  # worker thread: reads files only
            return token, generation, paths, {p: (stamps[p], RunCurves.from_run_dir(p)) for p in missing}

        # Bound methods: Qt drops the result if the panel is gone by then. The task is held here until
        # its result arrives: a task nobody holds is deleted with its remaining slots uncalled.
        self._tasks[token] = run_in_background(load, self._curves_loaded, self._curves_failed, name="run-curves")

    def _curves_loaded(self, result) -> None:
        token, generation, paths, curves = result
        self._tasks.pop(token, None)
        self._curves.update(curves)
        if generation == self._generation:
            self.overlaysChanged.emit([self._curves[p][1] for p in paths if p in self._curves])

    def _curves_failed(self, exc: BaseException) -> None:
        self._tasks = {token: task for token, task in self._tasks.items() if task.thread.is_alive()}
        self.info.setText(f"Cannot read the runs' curves: {exc}")

    # ------------------------------------------------------------- actions
    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.view.setCurrentIndex(index)  # right-click on an unselected row acts on that row alone
        self._sync()
        menu = QMenu(self)
        for act in (self.open_action, self.checkpoint_action, self.folder_action):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.addSeparator()
        menu.addAction(self.refresh_action)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu = menu  # tests reach the open menu here

    def open_graph(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.graph_file is not None:
            self.openGraphRequested.emit(run.graph_file)

    def load_checkpoint(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.checkpoint is not None:
            self.loadCheckpointRequested.emit(run.checkpoint)

    def show_folder(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def delete_runs(self, runs: list[RunInfo] | None = None) -> int:
        """Ask, then move the runs' folders to the trash (or, when there is none and after asking
        again, delete them). A run this window is still training is never deleted. Returns how many
        folders went."""
        runs = [r for r in (self.selected_runs() if runs is None else runs) if not (r.live and r.status == RUNNING)]
        if not runs:
            return 0
        what = f"the run “{runs[0].name}”" if len(runs) == 1 else f"{len(runs)} runs"
        answer = QMessageBox.question(
            self, "Delete runs", f"Delete {what}?\n\nThe folder (checkpoints, metrics, saved graph) is moved "
            "to the trash.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return 0
        left, errors = [run for run in runs if not move_to_trash(run.path)], []
        if left and QMessageBox.question(
                self, "Delete runs", f"The trash cannot take {len(left)} of them here. Delete "
                f"{'it' if len(left) == 1 else 'them'} permanently? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) == QMessageBox.StandardButton.Yes:
            for run in left:
                try:
                    shutil.rmtree(run.path)
                except OSError as exc:
                    errors.append(f"{run.name}: {exc.strerror or exc}")
        left = [run for run in runs if run.path.exists()]
        for run in runs:
            if not run.path.exists():
                self._live.pop(run.path, None)
                self._curves.pop(run.path, None)
        self.refresh()
        if errors:
            self.info.setText("Not deleted: " + "; ".join(errors[:3]))
        return len(runs) - len(left)
