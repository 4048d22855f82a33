"""The Runs panel: every run folder of a runs folder, plus the runs this window trains, in one sortable
list. Select runs to overlay their curves on the charts, open the graph a run was trained from, load
its checkpoint, show or delete its folder.

A row is read from the run's own files (``summary.json``, ``config.json``, ``metrics.csv``, the graph
file: see ``runtime/training/runs.py``) by ``layerloom.training.records.read_run``, which never raises:
a run that was killed has no final summary and shows as "incomplete" with whatever its files do tell.
Reading a row never imports torch (the editor starts without it); curves (``steps.csv`` can hold
millions of rows) are read off the GUI thread and cached.
"""

from __future__ import annotations

import math
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import (QAbstractTableModel, QEvent, QFile, QFileSystemWatcher, QItemSelectionModel, QModelIndex,
                            QSize, QSortFilterProxyModel, Qt, QTimer, QUrl, Signal)
from PySide6.QtGui import QAction, QColor, QDesktopServices, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox,
                               QPushButton, QToolBar, QTreeView, QVBoxLayout, QWidget)

from layerloom.training.events import Failed, Finished, Stopped
from layerloom.training.records import (COMPLETED, DIVERGED, EARLY, FAILED, GRAPH_FILE, INCOMPLETE,  # noqa: F401
                                      NOT_LEARNED, RUN_FILES, RUNNING, STALE_S, STAMP, STATUS_ORDER, STOPPED, RunCurves,
                                      RunInfo, belongs, looks_like_run, read_run, scan_runs)
from layerloom.training.records import STATUS_WORDS as _STATUS_WORDS
from layerloom.training.records import curves_stamp as _curves_stamp
from layerloom.training.records import started_key as _sort_started

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.panels.training_panel import format_duration

REFRESH_MS = 400         # file-system changes are coalesced for this long before a rescan
NAME_WIDTH = 150         # the Run column's widest fit (names like digits-mlp-20261205-231302 are long)

STATUS_COLORS = {RUNNING: "#4c8dff", COMPLETED: "#4caf50", EARLY: "#2fa39b", NOT_LEARNED: "#d9a227",
                 STOPPED: "#d9a227",
                 DIVERGED: "#e0605e", FAILED: "#e0605e", INCOMPLETE: "#8a9099"}

COLUMNS = ("Run", "Graph", "Status", "Best", "Epochs", "Duration", "Started")
NAME, GRAPH, STATUS, BEST, EPOCHS, DURATION, STARTED = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
HEADER_TIPS = {DURATION: "Training time as the run recorded it: pauses are left out",
               BEST: "The best value of the monitored metric, and its epoch",
               EPOCHS: "Epochs done / planned"}


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
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
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
class _GraphFilter(QSortFilterProxyModel):
    """Rows of one graph's runs (``layerloom.training.records.runs_of`` decides what belongs to it)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._source: str | None = None
        self._name = ""
        self._made: set[Path] = set()
        self._enabled = False

    def set_graph(self, source, name: str, made, enabled: bool) -> None:
        self._source = str(source) if source is not None else None
        self._name, self._made = name, {Path(p).resolve() for p in made}
        self._enabled = enabled
        self._refilter()

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self._refilter()

    def _refilter(self) -> None:
        if hasattr(self, "beginFilterChange"):   # Qt 6.9+ (invalidateFilter is deprecated there)
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802 - Qt override
        if not self._enabled:
            return True
        run = self.sourceModel().run(row)
        if run.path.resolve() in self._made:
            return True
        # an unsaved graph's runs: those trained from it in this window, and those of the unsaved graph
        # of its name (an example opened again); a new graph's "untitled" is nobody's name
        if self._source is None and self._name in ("", "untitled"):
            return False
        return belongs(run, self._source, self._name)


class RunsPanel(QWidget):
    """The runs of a runs folder and of this window, newest first."""

    overlaysChanged = Signal(list)              # list[RunCurves] of the selected runs, in the list's order
    showRunRequested = Signal(object)           # Path of a run folder: show its results (charts, evaluation)
    openGraphRequested = Signal(object)         # Path of the run's graph file
    loadCheckpointRequested = Signal(object)    # Path of best.pt (last.pt when the run has no best)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._root: Path | None = None
        self._graph: tuple[str | None, str] | None = None   # (file, name) whose runs are listed; None: all
        self._live: dict[Path, str] = {}
        self._curves: dict[Path, tuple[tuple, RunCurves]] = {}
        self._generation = 0
        self._fitted = False
        self._tasks: dict = {}                  # curve readers still running, by token
        self.model = RunsModel(self)
        self.proxy = _GraphFilter(self)
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
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.all_check = QCheckBox("All runs in the folder")
        self.all_check.setToolTip("Also list the runs of other graphs kept in this runs folder")
        self.all_check.toggled.connect(self._show_all)
        self.open_folder_button = QPushButton("Open Folder")
        self.open_folder_button.setToolTip("Open the runs folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_root)
        footer = QHBoxLayout()
        footer.addWidget(self.all_check)
        footer.addStretch(1)
        footer.addWidget(self.open_folder_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._make_buttons())
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        layout.addLayout(footer)
        self._sync()

    # ------------------------------------------------------------- building
    def _make_view(self) -> QTreeView:
        view = QTreeView(self)
        view.setModel(self.proxy)
        view.setRootIsDecorated(False)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)   # a run's date and time are at its name's end
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
        view.doubleClicked.connect(lambda index: self.show_run(self._run_at(index)))
        view.selectionModel().selectionChanged.connect(self._selection_changed)
        view.selectionModel().currentChanged.connect(lambda *_: self._sync())
        return view

    def _make_actions(self) -> None:
        def action(text: str, slot) -> QAction:
            act = QAction(text, self)
            act.triggered.connect(lambda: slot())
            return act

        self.refresh_action = action("Refresh", self.refresh)
        self.show_action = action("Show results", self.show_run)
        self.show_action.setToolTip("Show the run's charts, evaluation and Try it (double-click, Return)")
        self.open_action = action("Open graph", self.open_graph)
        self.checkpoint_action = action("Load checkpoint", self.load_checkpoint)
        self.folder_action = action("Show folder", self.show_folder)
        self.delete_action = action("Delete run…", self.delete_runs)
        # Keys, not action shortcuts: the window's Delete (delete nodes) and F5 (train) would make a
        # shortcut of the same key ambiguous, and then neither fires.
        self._keys = {Qt.Key.Key_Return: self.show_action, Qt.Key.Key_Enter: self.show_action,
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

    def _make_buttons(self) -> QToolBar:
        """The actions as a tool bar: in a narrow dock the last ones fold into its » menu (a row of
        push buttons made the dock 570 px wide at least)."""
        bar = QToolBar(self)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.setIconSize(QSize(16, 16))
        self.buttons = {}
        for act in (self.show_action, self.open_action, self.checkpoint_action, None, self.folder_action,
                    self.delete_action, None, self.refresh_action):
            if act is None:
                bar.addSeparator()
                continue
            bar.addAction(act)
            self.buttons[act.text()] = bar.widgetForAction(act)
        self.toolbar = bar
        return bar

    # ------------------------------------------------------------- the list
    def set_root(self, path: str | os.PathLike | None) -> None:
        """Show the runs of ``path`` (a runs folder; it need not exist yet) and watch it for new runs."""
        self._root = Path(path).resolve() if path is not None else None
        self.refresh()

    def set_graph(self, source: str | os.PathLike | None, name: str, made: Iterable[str | os.PathLike] = ()) -> None:
        """List this graph's runs (all of the folder's on request): a saved graph's are the runs that
        recorded its file (older runs: its name); an unsaved graph's are the runs this window trained
        from it (``made``)."""
        graph = (str(source) if source is not None else None, name)
        if graph != self._graph:
            self.view.horizontalScrollBar().setValue(0)   # another graph: its list from the first column
        self._graph = graph
        self.proxy.set_graph(source, name, made, not self.all_check.isChecked())
        self._sync()

    def _show_all(self, on: bool) -> None:
        if self._graph is not None:
            self.proxy.set_enabled(not on)
        self._sync()

    def open_root(self) -> None:
        """The runs folder in the desktop's file manager (made first, when no run has made it yet)."""
        if self._root is None:
            return
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.info.setText(f"Cannot create {self._root}: {exc.strerror or exc}")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._root)))

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
        if isinstance(event, Finished) and event.warnings:
            status = NOT_LEARNED
        elif isinstance(event, Finished):
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
            if column == NAME:   # a long run name is elided (its tooltip has it): the rest stays in view
                needed = min(needed, NAME_WIDTH)
            if needed > self.view.columnWidth(column):
                self.view.setColumnWidth(column, needed)

    def _sync(self) -> None:
        run, selected = self.current_run(), self.selected_runs()
        self.open_action.setEnabled(run is not None and run.graph_file is not None)
        self.checkpoint_action.setEnabled(run is not None and run.checkpoint is not None)
        self.folder_action.setEnabled(run is not None and run.path.is_dir())
        self.delete_action.setEnabled(any(not (r.live and r.status == RUNNING) for r in selected))
        self.show_action.setEnabled(run is not None and run.path.is_dir())
        count = self.proxy.rowCount()
        where = str(self._root) if self._root is not None else "this window"
        exists = self._root is not None and self._root.is_dir()
        self.open_folder_button.setEnabled(self._root is not None)
        filtered = self._graph is not None and not self.all_check.isChecked()
        whose = f" of “{self._graph[1]}”" if filtered else ""
        self.all_check.setVisible(self._graph is not None)
        self.view.setColumnHidden(GRAPH, filtered)   # one graph's runs: its name on every row says nothing
        listed = {self._run_at(self.proxy.index(row, 0)).path for row in range(count)}
        others = sum(1 for run in self.model.runs() if run.path.parent == self._root and run.path not in listed)
        more = f" {others} other run{'s' if others != 1 else ''} in the folder: tick “All runs”." \
            if filtered and others else ""
        saved = f"Runs are saved in {where}" + ("" if exists else " (the first run creates it)") + "."
        if count == 0:
            self.info.setText(f"No runs{whose} yet. {saved}{more}")
        elif len(selected) > 1:
            self.info.setText(f"{len(selected)} of {count} runs selected: their curves are drawn on the charts.")
        else:
            self.info.setText(f"{count} run{'s' if count != 1 else ''}{whose}: double-click one to show it, "
                              f"select several to compare their curves. {saved}{more}")

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
        for act in (self.show_action, self.open_action, self.checkpoint_action, self.folder_action):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.addSeparator()
        menu.addAction(self.refresh_action)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu = menu  # tests reach the open menu here

    def show_run(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.path.is_dir():
            self.showRunRequested.emit(run.path)

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
