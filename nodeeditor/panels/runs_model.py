"""The Runs panel's table: ``RunsModel`` holds one ``RunInfo`` per run folder (columns, sort keys,
status colours and tooltips) and ``GraphFilter`` keeps the rows of one graph's runs. No widgets here:
the panel (``runs_panel.py``) shows them and its actions (``runs_actions.py``) act on the rows.

Rows come from ``layerloom.training.records``, the run folder's one reader.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap

from layerloom.training.records import (COMPLETED, DIVERGED, EARLY, FAILED, INCOMPLETE, NOT_LEARNED, RUNNING,
                                        STATUS_ORDER, STOPPED, RunInfo, belongs, started_key)

STATUS_COLORS = {RUNNING: "#4c8dff", COMPLETED: "#4caf50", EARLY: "#2fa39b", NOT_LEARNED: "#d9a227",
                 STOPPED: "#d9a227",
                 DIVERGED: "#e0605e", FAILED: "#e0605e", INCOMPLETE: "#8a9099"}

COLUMNS = ("Run", "Graph", "Status", "Best", "Epochs", "Duration", "Started")
NAME, GRAPH, STATUS, BEST, EPOCHS, DURATION, STARTED = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
HEADER_TIPS = {DURATION: "Training time as the run recorded it: pauses are left out",
               BEST: "The best value of the monitored metric, and its epoch",
               EPOCHS: "Epochs done / planned"}


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
        return run.duration_text()
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
        return started_key(run)
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


# ------------------------------------------------------------------ one graph's runs
class GraphFilter(QSortFilterProxyModel):
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
