"""The Train workspace's centre, and the run it shows.

``TrainView`` is the header above the live charts (or an empty state that says why there are none).
``LiveRun`` is the run this window trains: its document, every event so far (the charts are rebuilt
from them when its graph is shown again), and how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from layerloom.training.events import RunStarted

from layerloom.nodeeditor.dashboard.charts import TrainingCharts
from layerloom.nodeeditor.adapters.run_bridge import RunBridge
from layerloom.nodeeditor.dashboard.run_header import STARTING, RunHeader


def unsaved_runs_dir(fallback: str | None = None) -> Path:
    """Where the runs of a graph that has no file go: the ``runs_dir`` setting, else
    ``Documents/LayerLoom/runs`` (a folder the user can find, not a hidden data folder)."""
    if fallback:
        return Path(fallback)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents or Path.home()) / "LayerLoom" / "runs"


def runs_root(document, fallback: str | None = None) -> Path:
    """Where a document's runs go: ``runs/`` beside its file; for an unsaved graph, or a file LayerLoom ships
    (an example opened by its path: the installed package is no place for runs), ``unsaved_runs_dir``."""
    if document is not None and document.path is not None and not _shipped(document.path):
        return document.path.parent / "runs"
    return unsaved_runs_dir(fallback)


def _shipped(path: Path) -> bool:
    from layerloom.files.resources import resource_root

    try:
        return Path(path).resolve().is_relative_to(resource_root().resolve())
    except OSError:
        return False


@dataclass
class LiveRun:
    """The run this window trains: its document, its events so far, and how it ended."""

    document: Any                       # the Document it was started from (it may have been closed since)
    source: Path | None                 # that document's file when the run started
    graph_name: str
    session: Any
    bridge: RunBridge
    started: RunStarted | None = None
    stage: str = "Starting the training process…"
    steps: list = field(default_factory=list)      # every Step event: the charts are rebuilt from them
    epochs: list = field(default_factory=list)     # every EpochEnd
    notes: list = field(default_factory=list)      # every Note's text, oldest first
    previous: Any = None                           # a continued run's history before it (RunCurves), or None
    state: str = STARTING
    result: Any = None

    @property
    def run_dir(self) -> str | None:
        return (self.started.run_dir if self.started else None) or self.session.run_dir

    @property
    def run_name(self) -> str | None:
        return Path(self.run_dir).name if self.run_dir else None

    @property
    def active(self) -> bool:
        return self.result is None

    def belongs_to(self, document) -> bool:
        if document is None:
            return False
        if self.document is document:
            return True
        return document.path is not None and self.source is not None and same_file(document.path, self.source)


class TrainView(QWidget):
    """The Train workspace's centre: the run header above the live charts (or an empty state)."""

    def __init__(self, header: RunHeader, charts: TrainingCharts, parent: QWidget | None = None):
        super().__init__(parent)
        self.header = header
        self.charts = charts
        self.empty = QLabel()
        self.empty.setObjectName("chartsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(40, 0, 40, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(charts)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.stack, 1)

    def show_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)

    def show_charts(self) -> None:
        self.stack.setCurrentWidget(self.charts)

    @property
    def showing_charts(self) -> bool:
        return self.stack.currentWidget() is self.charts


def same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)
