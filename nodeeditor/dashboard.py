"""The training dashboard: the docks around the canvas that train, chart, evaluate and try a model.

``Dashboard`` owns the training panel, the live charts, the evaluation panel and the Try it panel,
and the lifecycle of one run at a time: it snapshots the current graph into a runtime
``TrainingSession`` (editing during the run cannot touch it), follows the run through a ``RunBridge``
(the worker thread never touches a widget), redraws the charts from its own timer at a bounded rate,
and, when the run ends, builds a ``Predictor`` from the trained model off the GUI thread for the
misclassified gallery and the Try it panel.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMessageBox, QScrollArea

from runtime.training.events import Failed, Finished, Stopped

from .background import run_in_background
from .charts import TrainingCharts
from .evaluation import EvaluationPanel
from .run_bridge import RunBridge
from .runs_panel import RunsPanel
from .training_panel import TrainingPanel, format_duration
from .tryit import TryItPanel

# Events are buffered as they arrive and painted at a fixed, modest rate: a pyqtgraph chart takes
# 15-25 ms to paint here, so the event loop never waits long (benchmarks/bench_gui_training.py).
REDRAW_MS = 250
BRIDGE_MS = 100
STOP_TIMEOUT_S = 2.0
GALLERY_SIZE = 24


def _scrolled(widget) -> QScrollArea:
    """A panel in a scroll area: a short dock scrolls it instead of forcing the dock area taller."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


def runs_root(document, fallback: str | None = None) -> Path:
    """Where a document's runs go: ``runs/`` beside its file; for an unsaved graph, ``fallback`` (the
    ``runs_dir`` setting) or the per-user data folder."""
    if document is not None and document.path is not None:
        return document.path.parent / "runs"
    if fallback:
        return Path(fallback)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerloom") / "runs"


class Dashboard(QObject):
    runStarted = Signal()
    runEnded = Signal(object)        # the terminal event
    resultsReady = Signal(object)    # the Predictor of the finished run (None: it could not be built)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel = TrainingPanel()
        self.charts = TrainingCharts(window.theme)
        self.evaluation = EvaluationPanel()
        self.tryit = TryItPanel()
        self.runs_panel = RunsPanel()
        self.checkpoint: Path | None = None   # weights loaded into the current graph from the Runs list
        self.bridge: RunBridge | None = None
        self.session = None
        self.predictor = None
        self._classes = None
        self._dirty = False
        self.status = QLabel()
        window.statusBar().addWidget(self.status)
        self.docks = {
            "training": window._dock("Training", "training", self.panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "charts": window._dock("Charts", "charts", _scrolled(self.charts), Qt.DockWidgetArea.BottomDockWidgetArea),
            "evaluation": window._dock("Evaluation", "evaluation", _scrolled(self.evaluation),
                                       Qt.DockWidgetArea.BottomDockWidgetArea),
            "tryit": window._dock("Try it", "tryit", _scrolled(self.tryit), Qt.DockWidgetArea.BottomDockWidgetArea),
            "runs": window._dock("Runs", "runs", self.runs_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.runs_panel.overlaysChanged.connect(self._overlay)
        self.runs_panel.openGraphRequested.connect(
            lambda path: window.open_path(path, remember=False, as_template=True))  # a copy: the run keeps its record
        self.runs_panel.loadCheckpointRequested.connect(self.load_checkpoint)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self.panel.startRequested.connect(self.start)
        self.panel.pauseRequested.connect(self.pause)
        self.panel.resumeRequested.connect(self.resume)
        self.panel.stopRequested.connect(self.stop)
        self.panel.problemActivated.connect(window.select_node)
        self.panel.previewRequested.connect(self.preview_dataset)

    def arrange_below(self) -> None:
        """The charts, evaluation, Try it and Runs as tabs beside Problems. Done before the window
        shows: side by side, their minimum widths would add up to a window wider than a laptop's
        screen."""
        window = self.window
        problems = window.findChild(QDockWidget, "problems")
        for name in ("charts", "evaluation", "tryit", "runs"):
            window.tabifyDockWidget(problems, self.docks[name])
        problems.raise_()

    def arrange_beside(self) -> None:
        """Training as a tab beside the Inspector. Done once the window shows: tabifying docks in a
        second area of a hidden window leaves a stray tab bar on screen (Qt 6.11)."""
        inspector = self.window.findChild(QDockWidget, "inspector")
        self.window.tabifyDockWidget(inspector, self.docks["training"])
        inspector.raise_()

    def show_charts(self) -> None:
        """Bring the charts up, tall enough to read (a run started)."""
        dock = self.docks["charts"]
        dock.show()
        dock.raise_()
        if dock.height() < self.window.height() * 0.3:
            self.window.resizeDocks([dock], [int(self.window.height() * 0.42)], Qt.Orientation.Vertical)

    def actions(self) -> list[QAction]:
        """Train, Pause and Stop for the Run menu and the toolbar."""
        window = self.window
        menu = window.menuBar().addMenu("&Run")
        self.train_action = window._action(menu, "&Train", self.start, QKeySequence("F5"), icon="train")
        self.pause_action = window._action(menu, "&Pause / Resume", self.toggle_pause, QKeySequence("F6"),
                                           icon="pause")
        self.stop_action = window._action(menu, "&Stop", self.stop, QKeySequence("Shift+F5"), icon="stop")
        menu.addSeparator()
        self.export_action = window._action(menu, "&Export…", self.export, QKeySequence("Ctrl+E"), icon="export")
        self._sync_actions()
        return [self.train_action, self.pause_action, self.stop_action, self.export_action]

    # ------------------------------------------------------------------ documents
    def set_document(self, document) -> None:
        self.panel.set_document(document)
        self.checkpoint = None
        self.runs_panel.set_root(runs_root(document, self.window.settings.value("runs_dir")))

    def probe_device(self) -> None:
        """Name the device a run would use (imports torch, so off the GUI thread)."""
        def probe():
            from runtime.training.device import choose_device

            return choose_device("auto").name
        run_in_background(probe, self.panel.set_device,
                          lambda exc: self.panel.set_device(f"unavailable ({exc})"), name="device-probe")

    # ------------------------------------------------------------------ the run
    @property
    def running(self) -> bool:
        return self.bridge is not None and self.bridge.result is None

    def start(self) -> bool:
        """Train the current graph (a snapshot of it) with its training settings."""
        if self.running:
            return False
        document = self.window.document
        errors = document.bridge.reanalyze().errors
        if errors:
            self.panel.show_problems(errors)
            self.panel.show_message("Fix the problems above to train: click one to see its node.", error=True)
            self.window.statusBar().showMessage("Cannot train: the graph has problems", 6000)
            return False
        from runtime.training.process import ProcessSession

        self.panel.show_problems([])
        self.panel.show_message("Preparing: loading the dataset and compiling the graph…")
        base_dir = document.path.parent if document.path else None
        root = runs_root(document, self.window.settings.value("runs_dir"))
        # a child process, not a thread: the window's painting never competes with the training loop
        # for the interpreter lock (runtime/training/process.py has the measurements)
        self.session = ProcessSession(document.graph, run_root=root, base_dir=base_dir)
        self.bridge = RunBridge(self.session, interval_ms=BRIDGE_MS, parent=self)
        self.bridge.started.connect(self._started)
        self.bridge.steps.connect(self._steps)
        self.bridge.epochEnded.connect(self._epoch)
        self.bridge.paused.connect(lambda _: self._set_state("paused"))
        self.bridge.resumed.connect(lambda _: self._set_state("running"))
        self.bridge.finished.connect(self._finished)
        self.predictor = None
        self.tryit.set_predictor(None)
        self._set_state("starting")
        self.status.setText(f"● Training {document.graph.name or 'untitled'}: preparing")
        self.bridge.start()
        self.redraw_timer.start()
        self.show_charts()
        self.runStarted.emit()
        return True

    def pause(self) -> None:
        if self.running:
            self.bridge.pause()

    def resume(self) -> None:
        if self.running:
            self.bridge.resume()

    def toggle_pause(self) -> None:
        if self.running:
            (self.resume if self.session.paused else self.pause)()

    def stop(self) -> None:
        if self.running:
            self.panel.show_message("Stopping at the next step…")
            self.bridge.stop()

    def stop_and_wait(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the run and wait for its thread (closing the window). True when it ended in time."""
        if not self.running:
            return True
        return self.bridge.stop_and_wait(timeout)

    def confirm_close(self) -> bool:
        """Closing the window during a run asks first, then stops the run cleanly."""
        if not self.running:
            return True
        answer = QMessageBox.question(
            self.window, "Training in progress",
            "A training run is in progress. Stop it and close? (The run folder keeps what it has so far.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.stop_and_wait()
        return True

    # ------------------------------------------------------------------ events (GUI thread)
    def _started(self, started) -> None:
        self._classes = started.classes
        if started.run_dir:
            self.runs_panel.add_live(started.run_dir)
        self.charts.reset(started)
        self.panel.set_device(started.device_name + (f", {started.precision}" if started.precision != "fp32" else ""))
        self._set_state("running")
        notes = "; ".join(started.notes)
        self.panel.show_message(f"{started.dataset}\n{started.parameters:,} parameters"
                                + (f"\n{notes}" if notes else ""))

    def _steps(self, steps) -> None:
        for step in steps:
            self.charts.add_step(step)
        self._dirty = True   # painted by the redraw timer

    def _epoch(self, end) -> None:
        self.charts.add_epoch(end)
        self._dirty = True
        if end.details.get("confusion") is not None:
            self.evaluation.update_epoch(end, self._classes)

    def _redraw(self) -> None:
        """The timer's paint: charts and progress, only when something new arrived."""
        if not self._dirty or self.bridge is None:
            return
        # one chart per tick (each paint costs 15-25 ms): the rest follow on the next ticks
        self.charts.redraw(limit=1)
        self._dirty = self.charts.pending
        last, started = self.bridge.last_step, self.bridge.run_started
        if last is not None:
            self.panel.show_progress(last, started)
            self.status.setText(f"● Training: epoch {last.epoch}/{started.epochs if started else '?'}")

    def _finished(self, result) -> None:
        self.redraw_timer.stop()
        self._dirty = True
        self._redraw()
        self.charts.redraw(force=True)
        self._set_state("idle")
        self.runs_panel.end_live(result)
        self.checkpoint = None   # the new run's weights take over
        self.status.setText("")
        if isinstance(result, Finished):
            best = result.best or {}
            text = f"Finished in {format_duration(result.duration_s)}"
            if best.get("metric"):
                text += f": best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}"
            self.panel.show_message(text + (f"\nRun folder: {result.run_dir}" if result.run_dir else ""))
        elif isinstance(result, Stopped):
            self.panel.show_message(f"Stopped at epoch {result.epoch}, step {result.step}. {result.message}".strip())
        elif isinstance(result, Failed):
            self.panel.show_message(f"Training failed ({result.kind}): {result.message}", error=True)
            self.panel.show_problems(list(result.problems))
            self.docks["training"].raise_()
        self.window.statusBar().showMessage((self.panel.status.text().splitlines() or [""])[0], 8000)
        if not isinstance(result, Failed) or result.kind == "diverged":
            self._build_predictor()
        self.runEnded.emit(result)

    def _build_predictor(self) -> None:
        session = self.session
        if session is None or not session.run_dir:
            return
        run_dir, base_dir = session.run_dir, session.base_dir

        def ready(result) -> None:
            if session is not self.session:
                return  # a newer run started meanwhile
            self._show_predictor(*result)
            self.resultsReady.emit(result[0])

        def failed(exc) -> None:
            self.window.statusBar().showMessage(f"Cannot try the model: {exc}", 8000)
            self.resultsReady.emit(None)

        run_in_background(lambda: _predictor(run_dir, None, base_dir), ready, failed, name="predictor")

    def _set_state(self, state: str) -> None:
        self.panel.set_run_state(state)
        self._sync_actions()

    def _sync_actions(self) -> None:
        if not hasattr(self, "train_action"):
            return
        self.train_action.setEnabled(not self.running)
        self.pause_action.setEnabled(self.running)
        self.stop_action.setEnabled(self.running)

    def preview_dataset(self) -> None:
        """Load the dataset the settings describe (off the GUI thread) and show what it holds."""
        document = self.window.document
        settings = dict((document.graph.training or {}).get("dataset") or {})
        base_dir = document.path.parent if document.path else None
        self.panel.preview.setText("Loading…")

        def load():
            from runtime.data import load_dataset

            return load_dataset(settings, base_dir=base_dir)

        def shown(dataset) -> None:
            self.panel.show_dataset(dataset)

        run_in_background(load, shown, lambda exc: self.panel.preview.setText(f"✖ {exc}"), name="dataset-preview")

    # ------------------------------------------------------------------ runs, checkpoints, export
    def _overlay(self, runs) -> None:
        live = self.bridge.run_started.run_dir if self.bridge and self.bridge.run_started else None
        self.charts.set_overlays([r for r in runs if not live or Path(live).name != r.name])

    def load_checkpoint(self, path) -> None:
        """Use a checkpoint's weights with the current graph (Try it, the gallery, Export). Refused,
        with the reason, when they do not fit the graph."""
        document = self.window.document
        graph, base_dir = document.graph.copy(), document.path.parent if document.path else None

        def loaded(result) -> None:
            self.checkpoint = Path(path)
            self._show_predictor(*result)
            self.window.statusBar().showMessage(f"Loaded {path} into the current graph", 6000)
            self.docks["tryit"].raise_()

        def refused(exc) -> None:
            QMessageBox.warning(self.window, "Cannot load checkpoint", f"{path}:\n{exc}")

        run_in_background(lambda: _predictor(path, graph, base_dir), loaded, refused, name="load-checkpoint")

    def _show_predictor(self, predictor, mistakes) -> None:
        """A model to try: the Try it panel, and its most confident mistakes in the gallery."""
        self.predictor = predictor
        self.tryit.set_predictor(predictor)
        if predictor.is_classifier:
            self.evaluation.set_misclassified(mistakes[:GALLERY_SIZE], predictor.classes, predictor.value_range,
                                              predictor.image_shape, total=len(mistakes))

    def export_source(self):
        """What Export exports: the graph and the weights that belong to it. The last run's graph and
        weights while the document still describes the same network (moving nodes does not count);
        a checkpoint loaded from the Runs list; else the document's graph, untrained."""
        document = self.window.document
        if self.checkpoint is not None:
            return document.graph, self.checkpoint
        session = self.session
        if session is not None and session.run_dir and not self.running and _same_network(session.graph, document.graph):
            folder = Path(session.run_dir) / "checkpoints"
            best = folder / "best.pt"   # the weights Try it shows: the best epoch's
            return session.graph, best if best.is_file() else folder / "last.pt"
        return document.graph, None

    def export(self) -> None:
        from .export_dialog import ExportDialog

        document = self.window.document
        graph, checkpoint = self.export_source()
        base_dir = document.path.parent if document.path else None
        default = base_dir or Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation) or Path.home()) / "LayerLoom"
        dialog = ExportDialog(graph, checkpoint, base_dir, default / "export", parent=self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog = dialog
        dialog.show()


def _predictor(checkpoint, graph, base_dir):
    """Off the GUI thread: a Predictor for a checkpoint or run folder (with ``graph``, or the one it
    trained) and its mistakes on the validation split."""
    from runtime.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint, graph=graph, base_dir=base_dir)
    return predictor, predictor.misclassified() if predictor.has_samples else []


def _same_network(a, b) -> bool:
    """Two graphs with the same nodes, parameters and wires (positions aside)."""
    from runtime.graphfile import graph_to_dict

    def network(graph) -> dict:
        data = graph_to_dict(graph)
        for node in data.get("nodes", []):
            node.pop("ui", None)
        return data

    return network(a) == network(b)
