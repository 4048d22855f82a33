"""The Runs panel: every run folder of a runs folder, plus the runs this window trains, in one sortable
list. Select runs to overlay their curves on the charts; the actions (``runs_actions.py``) show a run's
results, open the graph it was trained from, load its checkpoint, show or delete its folder.

A row (``runs_model.py``) is read from the run's own files by ``layerloom.training.records.read_run``,
the run folder's one reader, which never raises: a run that was killed has no final summary and shows
as "incomplete" with whatever its files do tell. Reading a row never imports torch (the editor starts
without it); curves (``steps.csv`` can hold millions of rows) are read off the GUI thread and cached.
The panel watches the runs folder, and the folders of runs still going, for changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import QFileSystemWatcher, QItemSelectionModel, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTreeView, QVBoxLayout, QWidget)

from layerloom.training.events import Failed, Finished, Stopped
from layerloom.training.records import (COMPLETED, DIVERGED, EARLY, FAILED, INCOMPLETE, NOT_LEARNED, RUNNING,
                                        STATUS_WORDS, STOPPED, RunCurves, RunInfo, curves_stamp, read_run, scan_runs)

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.panels.runs_actions import RunActions
from layerloom.nodeeditor.panels.runs_model import COLUMNS, GRAPH, NAME, SORT_ROLE, STARTED, GraphFilter, RunsModel

REFRESH_MS = 400         # file-system changes are coalesced for this long before a rescan
NAME_WIDTH = 150         # the Run column's widest fit (names like digits-mlp-20261205-231302 are long)


class RunsPanel(RunActions, QWidget):
    """The runs of a runs folder and of this window, newest first."""

    overlaysChanged = Signal(list)              # list[RunCurves] of the selected runs, in the list's order
    showRunRequested = Signal(object)           # Path of a run folder: show its results (charts, evaluation)
    openGraphRequested = Signal(object)         # Path of the run's graph file
    loadCheckpointRequested = Signal(object)    # Path of best.pt (last.pt when the run has no best)
    runsDeleted = Signal(list)                  # Paths of the run folders the user deleted

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
        self.proxy = GraphFilter(self)
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
                found[path] = self._read_live(path, status)
        self.model.set_runs(found.values())
        self._fit_columns()
        self._watch(found.values())
        self._sync()

    @staticmethod
    def _read_live(path: Path, status: str) -> RunInfo:
        """A run this window trained, read again: its status is the window's word while it trains; once
        it has ended its files tell (the CLI may have resumed it since), unless they tell nothing (a run
        that failed before writing a summary)."""
        if status == RUNNING:
            return read_run(path, status)
        info = read_run(path)
        return info if info.status != INCOMPLETE else read_run(path, status)

    def add_live(self, run_dir: str | os.PathLike) -> None:
        """A run this window has started: shown as running whatever its files say so far."""
        self.update_live(run_dir, RUNNING)

    def update_live(self, run_dir: str | os.PathLike, status: str) -> None:
        """A live run's status (running, completed, early_stopped, stopped, diverged, failed); its row is
        read again from its files (epochs and best metric so far)."""
        path = Path(run_dir).resolve()
        self._live[path] = STATUS_WORDS.get(status, status)
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
                status = self._live.get(path)
                runs[path] = read_run(path) if status is None else self._read_live(path, status)
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
        stamps = {path: curves_stamp(path) for path in paths}
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
