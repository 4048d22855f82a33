"""The training side of the window: the Train workspace's header and charts, and the training,
evaluation, Try it and runs docks, for one run at a time.

Results belong to a graph and a run. ``Dashboard`` shows exactly one of:

- the **live run**: the run this window is training now (or has just trained), fed by its events;
- a **finished run read from its folder**: the latest run of the document's graph (``runs/`` beside
  its file), shown when the document opens;
- **nothing**: a graph that has no run yet.

Opening or creating another document shows that document's run or an empty state, never another
graph's numbers; a run still training for a document that is no longer open carries on in the
background and is said so (the status bar, a notice in the Train workspace). Every results view says
which run of which graph it shows.

A run that cannot start, or stops with an error, is reported where the user is looking: the status bar,
the Train workspace's banner, the Problems list and the badge of the node it names.

The run trains a snapshot of the graph in a child process (``layerloom.training.process``); a
``RunBridge`` brings its events to the GUI thread; the charts redraw from their own timer at a bounded
rate; a ``Predictor`` for Try it and the mistakes gallery is built off the GUI thread, only when the
Train workspace is on screen (it imports torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QScrollArea

from layerloom.training.events import Failed, Finished, Stopped
from layerloom.files.graphfile import load_graph, same_network
from layerloom.training.records import best_checkpoint, evaluation_details, latest_run, read_run, read_started
from layerloom.training.tasks import expected_task

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.dashboard.charts import TrainingCharts
from layerloom.nodeeditor.dashboard.evaluation import EvaluationPanel
from layerloom.nodeeditor.adapters.run_bridge import RunBridge
from layerloom.nodeeditor.dashboard.run_header import IDLE, PAUSED, RUNNING, STARTING, STOPPING, RunHeader
from layerloom.nodeeditor.dashboard.run_texts import (failure_text, first_line, folder_text, header_state, learning_warning, outcome_text,
                        pill_word, plain, run_note, run_problem, state_of)
from layerloom.nodeeditor.panels.runs_panel import RunsPanel
from layerloom.nodeeditor.dashboard.train_view import LiveRun, TrainView, runs_root
from layerloom.nodeeditor.panels.training_panel import TrainingPanel
from layerloom.nodeeditor.dashboard.tryit import TryItPanel

# Events are buffered as they arrive and painted at a fixed, modest rate: a pyqtgraph chart takes
# 15-25 ms to paint here, so the event loop never waits long (benchmarks/bench_gui_training.py).
REDRAW_MS = 250
BRIDGE_MS = 50
STOP_TIMEOUT_S = 2.0
GALLERY_SIZE = 24
SWITCH_ON_TRAIN = "train/switch_workspace"   # setting: F5 shows the Train workspace
UNTITLED = "untitled"                         # a new graph's name
PRELOAD_DELAY_MS = 600                        # settings unchanged this long: the warm process loads the data
READY = "Ready to train. The settings are in the Training tab on the right."
BLOCKED = "Not ready: fix what the banner names, then press Train (F5)."


def _scrolled(widget) -> QScrollArea:
    """A panel in a scroll area: a short dock scrolls it instead of forcing the dock area taller."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


class Dashboard(QObject):
    runStarted = Signal()
    runEnded = Signal(object)        # the terminal event
    resultsReady = Signal(object)    # the Predictor of the shown run (None: it could not be built)
    shownChanged = Signal()          # the run the views show changed (another document, a new run)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel = TrainingPanel()
        self.header = RunHeader()
        self.charts = TrainingCharts(window.theme)
        self.view = TrainView(self.header, self.charts)
        self.evaluation = EvaluationPanel()
        self.evaluation.regression.set_theme(window.theme)
        self.tryit = TryItPanel()
        self.runs_panel = RunsPanel()
        self.document = None
        self.live: LiveRun | None = None        # this window's run (active, or the last one it trained)
        self.shown: Any = None                  # what the views show: a LiveRun, a RunInfo (a folder), or None
        self.checkpoint: Path | None = None     # weights loaded into the current graph from the Runs list
        self.predictor = None
        self._predictor_for: Any = None         # the run the predictor belongs to (built or being built)
        self._dirty = False
        self._shown_step = None                 # the Step the header last showed
        self._refusal_shown = False             # the banner says a typed value was refused
        self._errors_refused = False            # the banner and status bar say the graph's problems refused F5
        self._run_graph: tuple = (None, None)   # (graph file, its graph) of the shown run folder
        self._token = object()                  # changes whenever the shown run does: late results are dropped
        self.status = QLabel()
        self.status.setObjectName("runStatus")
        self.status.setContentsMargins(0, 0, 10, 0)   # apart from the node count that follows
        window.statusBar().insertPermanentWidget(0, self.status)
        self.docks = {
            "training": window._dock("Training", "training", self.panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "evaluation": window._dock("Evaluation", "evaluation", _scrolled(self.evaluation),
                                       Qt.DockWidgetArea.RightDockWidgetArea),
            "tryit": window._dock("Try it", "tryit", _scrolled(self.tryit), Qt.DockWidgetArea.RightDockWidgetArea),
            "runs": window._dock("Runs", "runs", self.runs_panel, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        for name in ("tryit", "evaluation"):
            self.docks[name].visibilityChanged.connect(lambda visible: visible and self._want_predictor())
        self.runs_panel.overlaysChanged.connect(self._overlay)
        self.runs_panel.openGraphRequested.connect(self._open_run_graph)
        self.runs_panel.loadCheckpointRequested.connect(self.load_checkpoint)
        self.runs_panel.showRunRequested.connect(self.show_run_folder)
        self._preload_timer = QTimer(self, singleShot=True, interval=PRELOAD_DELAY_MS)
        self._preload_timer.timeout.connect(window.preload_warm)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        header = self.header
        header.startRequested.connect(self.start)
        header.pauseRequested.connect(self.pause)
        header.resumeRequested.connect(self.resume)
        header.stopRequested.connect(self.stop)
        header.nodeRequested.connect(self._show_node)
        header.bannerAction.connect(self._banner_action)
        self.panel.previewRequested.connect(self.preview_dataset)

    def actions(self) -> list[QAction]:
        """Train, Pause and Stop for the Run menu and the toolbar."""
        window = self.window
        menu = window.menuBar().addMenu("&Run")
        self.train_action = window._action(menu, "&Train", self.start, QKeySequence("F5"), icon="train")
        self.pause_action = window._action(menu, "&Pause / Resume", self.toggle_pause, QKeySequence("F6"),
                                           icon="pause")
        self.stop_action = window._action(menu, "&Stop", self.stop, QKeySequence("Shift+F5"), icon="stop")
        menu.addSeparator()
        self.switch_action = window._action(menu, "Show the Train &Workspace When Training Starts",
                                            self._set_switch, checkable=True)
        self.switch_action.setChecked(window.settings.value(SWITCH_ON_TRAIN, True, type=bool))
        menu.addSeparator()
        self.export_action = window._action(menu, "&Export…", self.export, QKeySequence("Ctrl+E"), icon="export")
        self._sync_actions()
        return [self.train_action, self.pause_action, self.stop_action, self.export_action]

    def _set_switch(self, on: bool) -> None:
        self.window.settings.setValue(SWITCH_ON_TRAIN, bool(on))

    # ------------------------------------------------------------------ documents
    def set_document(self, document) -> None:
        """Show ``document``'s training: its settings, and its own latest run or nothing."""
        self.document = document
        self.panel.set_document(document)
        self.checkpoint = None
        root = runs_root(document, self.window.settings.value("runs_dir"))
        self.runs_panel.set_root(root)
        self.runs_panel.set_graph(document.path, document.graph.name, self._runs_made(document))
        document.bridge.metaChanged.connect(self._meta_changed)
        document.bridge.runProblemsCleared.connect(self._run_problems_cleared)
        document.bridge.analyzed.connect(lambda analysis, d=document: self._analyzed(d, analysis))
        self._errors_refused = False
        self._preload_timer.start()
        live = self.live
        if live is not None and live.belongs_to(document) and (live.active or live.started is not None):
            self._show_live()
            return
        if live is None or not live.active:
            self._set_status("")   # the status bar spoke of another graph's run
        self._show_latest()

    def document_saved(self, document) -> None:
        """The document got a (new) file: its runs now go beside it; a run that is training for it
        keeps its folder. The Runs list follows."""
        root = runs_root(document, self.window.settings.value("runs_dir"))
        self.runs_panel.set_root(root)
        self.runs_panel.set_graph(document.path, document.graph.name, self._runs_made(document))
        if self.live is None or not self.live.active:
            self._set_status("")
        self._show_identity()

    def _run_problems_cleared(self) -> None:
        """The user changed what a failed run complained about: its failure is old news."""
        live = self.live
        if live is None or live.active or not isinstance(live.result, Failed) or not live.belongs_to(self.document):
            return
        self._set_status("")
        if self.shown is live or self.header.banner_kind() == "error":
            self._show_latest()

    def _analyzed(self, document, analysis) -> None:
        """The graph that F5 refused for its problems has none left: "Cannot train" is no longer true."""
        if not self._errors_refused or document is not self.document or analysis.errors:
            return
        self._errors_refused = False
        if self.header.banner_kind() == "error":
            self.header.hide_banner()
            if self.header.state == IDLE:
                self.header.show_message(READY)
        self._set_status("")

    def _show_latest(self) -> None:
        """The document's latest run read from its folder, or nothing."""
        latest = self._latest_run(self.document)
        if latest is not None:
            self.show_run_folder(latest.path)
        else:
            self._show_nothing()

    def _meta_changed(self, key: str) -> None:
        if key == "name":
            self._show_identity()
        elif key == "training":
            self._preload_timer.start()   # the warm process loads the new dataset while the user reads
            if self._refusal_shown:        # the field was corrected: its refusal is old news
                self._refusal_shown = False
                self.header.hide_banner()
                self._set_status("")

    def _runs_made(self, document) -> list[str]:
        """The run folders this window trained for ``document`` (an unsaved graph has no other record)."""
        return list(getattr(document, "run_dirs", []))

    def _latest_run(self, document):
        made = [Path(p) for p in self._runs_made(document) if Path(p).is_dir()]
        if made:
            return read_run(made[-1])
        name = document.graph.name
        if document.path is None and (not name or name == UNTITLED):
            return None   # a new graph: another unsaved "untitled" graph's runs are not its own
        return latest_run(runs_root(document, self.window.settings.value("runs_dir")), source=document.path,
                          graph_name=name)

    def probe_device(self) -> None:
        """Name the device a run would use (imports torch, so off the GUI thread)."""
        def probe():
            from layerloom.training.device import choose_device

            import re

            # the threads of this process say nothing of a run's: those show when a run starts
            return re.sub(r",? \d+ threads?", "", choose_device("auto").name)
        run_in_background(probe, self.header.set_device,
                          lambda exc: self.header.set_device(f"unavailable ({exc})"), name="device-probe")

    # ------------------------------------------------------------------ what the views show
    def _change_shown(self, shown) -> None:
        self.shown = shown
        self._token = object()
        self.predictor = None
        self._predictor_for = None
        self.shownChanged.emit()

    def _graph_name(self) -> str:
        return (self.document.graph.name if self.document is not None else "") or "untitled"

    def _show_nothing(self) -> None:
        """The document has no run: every results view empty, and says so."""
        self._change_shown(None)
        name = self._graph_name()
        self.charts.reset(None)
        self.charts.set_overlays([])
        self.view.show_empty(f"No run of “{name}” yet.\n\nPress Train (F5) to train it: its loss and scores "
                             "are drawn here as it learns.")
        self.header.hide_banner()
        self.header.reset_progress()
        self.header.set_state(IDLE)
        self.header.show_message(READY)
        self.evaluation.clear(f"No run of “{name}” yet: its evaluation appears after the first validated epoch.")
        self.tryit.set_predictor(None, f"No run of “{name}” yet: train it, then ask the model here about "
                                       "samples of the validation split.")
        self._show_identity()
        self._show_background_run()
        self._sync_actions()

    def _show_identity(self) -> None:
        """Say which run of which graph every view shows."""
        name = self._graph_name()
        shown = self.shown
        run_name, note = None, ""
        if isinstance(shown, LiveRun):
            run_name = shown.run_name
            if shown.graph_name != name:
                note = f"trained as “{shown.graph_name}”"
        elif shown is not None:
            run_name = shown.name
            note = run_note(shown)
            if shown.graph_name and shown.graph_name != name:   # from "All runs": another graph's run
                note += f" · not the open graph (“{name}”)"
                name = shown.graph_name
            elif self.document is not None and not self._same_network_as_document(shown):
                note = (note + " · " if note else "") + "an earlier version of this graph"
        self.header.show_identity(name, run_name, note)
        caption = f"{name} · run {run_name}" if run_name else f"{name} · no run yet"
        if self.checkpoint is not None:
            caption = f"{name} · weights loaded from {self.checkpoint}"
        self.evaluation.set_caption(caption)
        self.tryit.set_caption(caption)
        self.runs_panel.set_graph(self.document.path if self.document else None, self._graph_name(),
                                  self._runs_made(self.document) if self.document else [])

    def _same_network_as_document(self, info) -> bool:
        graph_file = getattr(info, "graph_file", None)
        if graph_file is None or self.document is None:
            return True
        if self._run_graph[0] != graph_file:   # read once per shown run, not at every identity refresh
            try:
                self._run_graph = (graph_file, load_graph(graph_file))
            except Exception:  # noqa: BLE001 - an unreadable graph file: nothing to compare
                self._run_graph = (graph_file, None)
        graph = self._run_graph[1]
        return graph is None or same_network(graph, self.document.graph)

    def _show_live(self) -> None:
        """The live run on every view, rebuilt from its events so far."""
        live = self.live
        self._change_shown(live)
        self.header.hide_banner()
        self.charts.set_overlays([])
        self.evaluation.clear("Evaluation appears after the first validated epoch.")
        self.tryit.set_predictor(None, "Try it opens when the run has finished (or is stopped).")
        if live.started is not None:
            self.charts.reset(live.started)
            for step in live.steps:
                self.charts.add_step(step)
            for end in live.epochs:
                self.charts.add_epoch(end)
            self.charts.redraw(force=True)
            self.view.show_charts()
            if live.epochs:
                self._show_epoch_details(live.epochs[-1])
        else:   # the run prepares: its charts, empty, are ready for its first step
            self.charts.expect(expected_task(live.session.graph))
            self.view.show_charts()
        self._show_identity()
        if live.active:
            self.header.set_state(live.state)
            if live.steps:
                self.header.show_progress(live.steps[-1], live.started)
            else:
                self.header.reset_progress()
                self.header.set_state(live.state)
                self.header.show_stage(live.stage)
        else:
            self._show_outcome(live.result)
            if isinstance(live.result, Failed):   # said again where it was said: its banner
                node = next((p.node_id for p in live.result.problems if p.node_id), None)
                self.header.show_banner(failure_text(live.graph_name, live.result), "error", node_id=node)
            self._want_predictor()
        self._sync_actions()

    def show_run_folder(self, path) -> None:
        """A finished (or foreign) run read from its folder: its curves, its last evaluation, its
        outcome; Try it from its checkpoint once the Train workspace shows."""
        info = read_run(path)
        self._change_shown(info)
        token = self._token
        self.header.hide_banner()
        self.charts.set_overlays([])
        self.charts.reset(None)
        self.view.show_empty(f"Reading run {info.name}…")
        self.evaluation.clear(f"Run {info.name} has no evaluation on record.")
        self.tryit.set_predictor(None, f"Loading run {info.name}…" if info.checkpoint else
                                 f"Run {info.name} saved no weights to try.")
        self._show_identity()
        self.header.set_state(header_state(info.status, info.message), pill_word(info.status, info.message))
        fraction = info.epoch / info.epochs if info.epochs else 0.0
        self.header.show_done(fraction, f"epoch {info.epoch}/{info.epochs or '?'}")
        self.header.show_message(folder_text(info), error=info.status in ("failed", "diverged"))
        self._show_background_run()
        self._sync_actions()

        def load():
            from layerloom.training.records import RunCurves, read_evaluation

            curves = RunCurves.from_run_dir(info.path)
            return curves, read_evaluation(info.path), read_started(info.path, curves.steps_per_epoch)

        def loaded(result) -> None:
            if token is not self._token:
                return   # the user moved on meanwhile
            curves, evaluation, started = result
            self.charts.reset(started, previous=curves)
            self.charts.redraw(force=True)
            if len(curves.steps) or curves.epochs:
                self.view.show_charts()
            else:
                self.view.show_empty(f"Run {info.name} recorded no steps.")
            if evaluation:
                classes = evaluation.get("classes") or (started.classes if started else None)
                self.evaluation.show_epoch(int(evaluation.get("epoch") or 0), evaluation.get("metrics") or {},
                                           evaluation_details(evaluation), classes,
                                           evaluation.get("task") or (started.task if started else None))
            elif started is not None and started.task == "regression":
                last = {name: values[-1] for name, values in curves.metrics.items() if values}
                self.evaluation.show_epoch(info.epoch, last, {}, None, "regression")
            self._want_predictor()

        run_in_background(load, loaded, lambda exc: token is self._token and self.view.show_empty(
            f"Cannot read run {info.name}: {exc}"), name="read-run")

    def _show_background_run(self) -> None:
        """A run of another graph still training in this window: said in the Train workspace."""
        live = self.live
        if live is None or not live.active or live.belongs_to(self.document):
            return
        self.header.show_banner(f"“{live.graph_name}” is still training in this window ({self._live_where()}). "
                                "One run trains at a time: stop it to train this graph.", "info",
                                action=("stop", "Stop it"))
        self.header.show_message(f"Train is available when “{live.graph_name}” ends (or Stop it).")

    def _live_where(self) -> str:
        live = self.live
        if live is None:
            return ""
        if live.steps and live.started:
            return f"epoch {live.steps[-1].epoch}/{live.started.epochs}"
        return live.stage.rstrip("…").lower()

    def _banner_action(self, key: str) -> None:
        if key == "stop":
            self.stop()

    def _open_run_graph(self, graph_file) -> None:
        """The Runs list's Open Graph: a copy of the graph the run trained (the run keeps its record),
        shown with that very run."""
        if self.window.open_path(graph_file, remember=False, as_template=True):
            self.show_run_folder(Path(graph_file).parent)

    def _show_node(self, node_id: str) -> None:
        from layerloom.nodeeditor.panels.workspaces import DESIGN

        self.window.workspaces.switch(DESIGN)
        self.window.select_node(node_id)

    # ------------------------------------------------------------------ the run
    @property
    def running(self) -> bool:
        return self.live is not None and self.live.active

    @property
    def session(self):
        return self.live.session if self.live is not None else None

    @property
    def bridge(self) -> RunBridge | None:
        return self.live.bridge if self.live is not None else None

    def start(self) -> bool:
        """Train the current graph (a snapshot of it) with its training settings."""
        window, document = self.window, self.window.document
        if self.running:
            if not self.live.belongs_to(document):
                window.statusBar().showMessage(f"“{self.live.graph_name}” is still training: stop it first "
                                               "(Shift+F5)", 6000)
            return False
        # a value typed but not yet entered is what the user sees: it is what the run must use, or,
        # refused, the run does not start on the value the field gave up
        for form in (self.panel, window.inspector):
            key = form.commit_pending()
            if key and form.fields.refused(key):
                text = form.fields.problem(key)
                self.header.show_banner(f"Cannot train: {text}.", "error")
                self._set_status(f"✖ Cannot train: {text}", error=True)
                self._refusal_shown = True
                self._say_blocked()
                return False
        if document.bridge.run_problems:
            document.bridge.set_run_problems([])   # the last run's verdict: this run will say anew
        errors = document.bridge.current().errors
        if errors:
            self._refuse(errors)
            return False
        from layerloom.training.process import ProcessSession

        base_dir = document.path.parent if document.path else None
        root = runs_root(document, window.settings.value("runs_dir"))
        # a child process, not a thread: the window's painting never competes with the training loop
        # for the interpreter lock (runtime/training/process.py has the measurements)
        session = ProcessSession(document.graph, run_root=root, base_dir=base_dir,
                                 source=str(document.path) if document.path else None, warm=self._take_warm())
        bridge = RunBridge(session, interval_ms=BRIDGE_MS, parent=self)
        self.live = live = LiveRun(document, document.path, document.graph.name or "untitled", session, bridge)
        bridge.preparing.connect(lambda event: self._preparing(live, event))
        bridge.started.connect(lambda event: self._started(live, event))
        bridge.steps.connect(lambda steps: self._steps(live, steps))
        bridge.epochEnded.connect(lambda end: self._epoch(live, end))
        bridge.paused.connect(lambda _: self._set_live_state(live, PAUSED))
        bridge.resumed.connect(lambda _: self._set_live_state(live, RUNNING))
        bridge.finished.connect(lambda result: self._finished(live, result))
        bridge.start()   # first: the run prepares in its process while this window updates itself
        self.checkpoint = None
        self._errors_refused = False
        self.panel.fields.forget_refusals()
        if self.switch_action.isChecked():
            from layerloom.nodeeditor.panels.workspaces import TRAIN

            window.workspaces.switch(TRAIN)
        self._show_live()
        self._set_status(f"● Training {live.graph_name}: starting")
        self.redraw_timer.start()
        self.runStarted.emit()
        return True

    def _refuse(self, errors) -> None:
        """The graph has problems: say so where the user is (status bar, Problems list, the banner),
        without starting anything."""
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        text = f"Cannot train: {first.describe()}{more}"
        self.header.show_banner(text + ". Fix it to train (the Problems list of the Design workspace has "
                                "them all).", "error", node_id=first.node_id)
        self._set_status("✖ " + text, error=True)
        self._errors_refused = True
        self._say_blocked()
        self.window.show_problems()

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
        live = self.live
        if live is not None and live.active:
            live.state = STOPPING
            if self.shown is live:
                self.header.set_state(STOPPING)
                self.header.show_message("Stopping at the next step…")
            self._set_status(f"● Stopping {live.graph_name}…")
            live.bridge.stop()

    def stop_and_wait(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the run and wait for its process (closing the window). True when it ended in time."""
        if not self.running:
            return True
        return self.bridge.stop_and_wait(timeout)

    def close(self) -> None:
        """The window is closing: results still being read or built are dropped when they arrive."""
        self._token = object()
        self.redraw_timer.stop()

    def confirm_close(self) -> bool:
        """Closing the window during a run asks first, then stops the run cleanly."""
        if not self.running:
            return True
        answer = QMessageBox.question(
            self.window, "Training in progress",
            f"“{self.live.graph_name}” is training. Stop it and close? (The run folder keeps what it has so far.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.stop_and_wait()
        return True

    # ------------------------------------------------------------------ events (GUI thread)
    def _preparing(self, live: LiveRun, event) -> None:
        live.stage = event.text
        if self.shown is live and live.started is None:
            self.header.show_stage(event.text)
        self._set_status(f"● Training {live.graph_name}: {event.text[:1].lower()}{event.text[1:]}")

    def _started(self, live: LiveRun, started) -> None:
        live.started = started
        live.state = RUNNING if live.state == STARTING else live.state
        if started.run_dir and live.document is not None:
            made = getattr(live.document, "run_dirs", None)
            if made is not None:
                made.append(started.run_dir)
            self.runs_panel.add_live(started.run_dir)
        self.header.set_device(started.device_name + (f", {started.precision}" if started.precision != "fp32" else ""))
        self._sync_actions()   # Pause works from now on
        if self.shown is not live:
            return
        self.charts.begin(started)
        self.view.show_charts()
        self.header.set_state(live.state)
        self._show_identity()
        notes = "; ".join(started.notes)
        self.header.show_message(f"{started.dataset} · {started.parameters:,} parameters"
                                 + (f"\n{notes}" if notes else ""))

    def _steps(self, live: LiveRun, steps) -> None:
        first = not live.steps
        live.steps.extend(steps)
        if self.shown is live:
            for step in steps:
                self.charts.add_step(step)
            self._dirty = True   # painted by the redraw timer
            if first:   # the first step is shown at once, on every chart: the run is going
                self.charts.redraw()
                self._dirty = False
                self._redraw()

    def _epoch(self, live: LiveRun, end) -> None:
        if live.epochs and live.epochs[-1].details:
            # only the newest epoch's details (a confusion matrix) are needed: keep memory flat
            previous = live.epochs[-1]
            live.epochs[-1] = type(previous)(**{**previous.__dict__, "details": {}})
        live.epochs.append(end)
        if self.shown is live:
            self.charts.add_epoch(end)
            self._dirty = True
            self._show_epoch_details(end)

    def _show_epoch_details(self, end) -> None:
        live = self.live
        started = live.started if live is not None else None
        task = started.task if started else None
        if end.details.get("confusion") is not None or task == "regression" or "val_loss" in end.metrics:
            self.evaluation.update_epoch(end, started.classes if started else None, task)

    def _set_live_state(self, live: LiveRun, state: str) -> None:
        if not live.active:
            return
        live.state = state
        where = self._live_where()
        if state == PAUSED:
            self._set_status(f"Paused: {live.graph_name} at {where}")
        else:
            self._set_status(f"● Training {live.graph_name}: {where}")
        if self.shown is live:
            if state == PAUSED and live.steps:   # the steps flushed before the pause: the bar ends there
                self._shown_step = live.steps[-1]
                self.header.show_progress(live.steps[-1], live.started)
            self.header.set_state(state)
            if state == PAUSED:
                self.header.show_message(f"Paused at {where}. Resume (F6) to go on, or Stop (Shift+F5).")
        self._sync_actions()

    def _redraw(self) -> None:
        """The timer's paint: charts and progress, only when something new arrived."""
        live = self.live
        if live is None:
            return
        if self.shown is live and self._dirty:
            # one chart per tick (each paint costs 15-25 ms): the rest follow on the next ticks
            self.charts.redraw(limit=1)
            self._dirty = self.charts.pending
        if live.steps and live.active and live.state == RUNNING and live.steps[-1] is not self._shown_step:
            self._shown_step = last = live.steps[-1]
            if self.shown is live:
                self.header.show_progress(last, live.started)
            elif self.header.banner_kind() == "info":
                self._show_background_run()   # "still training (epoch 304/2000)" keeps counting
            self._set_status(f"● Training {live.graph_name}: {self._live_where()}")

    def _finished(self, live: LiveRun, result) -> None:
        live.result = result
        live.state = state_of(result)
        self.redraw_timer.stop()
        self.runs_panel.end_live(result)
        if self.shown is live and isinstance(result, Failed) and live.started is None:
            self._show_latest()   # it never began: the views keep what the graph had before
            self._report_failure(live, result)
        elif self.shown is live:
            self.charts.redraw(force=True)
            self._dirty = False
            self._show_outcome(result)
            if isinstance(result, Failed):
                self._report_failure(live, result)
            else:
                self.checkpoint = None   # the new run's weights take over
                self._want_predictor()
        elif isinstance(result, Failed):
            self._report_failure(live, result)
        self._set_status(self._outcome_status(live, result), error=isinstance(result, Failed))
        if not live.belongs_to(self.document) and self.header.banner_kind() == "info":
            self.header.hide_banner()   # the notice about it is moot now
            if self.shown is None:
                self.header.show_message(READY)
        self._sync_actions()
        self.refill_warm()
        self.runEnded.emit(result)

    def _show_outcome(self, result) -> None:
        """The header after a run of the shown graph ended."""
        live = self.live
        state = state_of(result)
        self.header.set_state(state, "Diverged" if isinstance(result, Failed) and result.kind == "diverged" else "")
        started = live.started if live is not None else None
        last = live.steps[-1] if live is not None and live.steps else None
        if last is not None and started is not None:
            self.header.show_done(last.progress, f"epoch {last.epoch}/{started.epochs}  ·  step {last.step:,}")
        else:
            self.header.show_done(0.0, "")
        self.header.show_message(outcome_text(result), error=isinstance(result, Failed))
        if isinstance(result, Finished) and result.warnings:
            self.header.show_banner(learning_warning(live.graph_name if live else self._graph_name(), result),
                                    "warning")
        self._show_identity()

    def _outcome_status(self, live: LiveRun, result) -> str:
        name = live.graph_name
        if isinstance(result, Finished) and result.warnings:
            return f"⚠ {name}: finished, but it did not learn (see the Train workspace)"
        if isinstance(result, Finished):
            return f"✔ {name}: {outcome_text(result).splitlines()[0]}"
        if isinstance(result, Stopped):
            return f"■ {name}: {result.message or 'stopped'}"
        if result.kind == "setup":
            return f"✖ {name} could not start: {plain(first_line(result.message.removeprefix('cannot train:')))}"
        return f"✖ {name}: training failed: {plain(first_line(result.message))}"

    def _report_failure(self, live: LiveRun, result: Failed) -> None:
        """A run that could not start or stopped with an error, said where the user is looking: the
        banner, the status bar, the Problems list and the node's badge."""
        problems = list(result.problems)
        node = next((p.node_id for p in problems if p.node_id), None)
        if live.belongs_to(self.document):
            self.document.bridge.set_run_problems(problems or [run_problem(result)])
            self.header.show_banner(failure_text(live.graph_name, result), "error", node_id=node)
            self._say_blocked()
            self.window.show_problems()
        else:
            self.window.statusBar().showMessage(f"“{live.graph_name}” (no longer open) failed: "
                                                f"{first_line(result.message)}", 15000)

    def _say_blocked(self) -> None:
        """Under a banner that says why the graph cannot train, the header no longer says "Ready"."""
        if self.header.state == IDLE:
            self.header.show_message(BLOCKED)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet("color: #e05555;" if error else "")

    def _sync_actions(self) -> None:
        running = self.running
        mine = running and self.live.belongs_to(self.document)
        self.panel.set_running(mine)
        if not hasattr(self, "train_action"):
            return
        self.train_action.setEnabled(not running)
        self.pause_action.setEnabled(mine and self.live.state in (RUNNING, PAUSED))
        self.stop_action.setEnabled(running)
        if running and not mine:
            self.header.start_button.setEnabled(False)
            self.header.start_button.setToolTip(f"“{self.live.graph_name}” is training: one run at a time")
        else:
            self.header.start_button.setEnabled(not mine)
            self.header.start_button.setToolTip("Train this graph with its training settings (F5)")

    # ------------------------------------------------------------------ warm processes
    def _take_warm(self):
        """A training process already started (torch imported), or None to start one now."""
        return self.window.warm_pool.take()

    def refill_warm(self) -> None:
        """Start the next warm process once the window is idle again."""
        self.window.warm_later()

    # ------------------------------------------------------------------ Try it and the gallery
    def workspace_changed(self, name: str) -> None:
        self._want_predictor()

    def _want_predictor(self) -> None:
        """Build the shown run's predictor when the Train workspace (or its Try it or Evaluation tab)
        is on screen; a predictor imports torch, which the Design workspace never waits for."""
        shown = self.shown
        if shown is None or self._predictor_for is shown or self.checkpoint is not None:
            return
        if isinstance(shown, LiveRun) and (shown.active or not shown.run_dir):
            return
        from layerloom.nodeeditor.panels.workspaces import TRAIN

        if self.window.workspaces.current != TRAIN and not any(
                self.docks[n].isVisible() for n in ("tryit", "evaluation")):
            return
        run_dir = shown.run_dir if isinstance(shown, LiveRun) else shown.path
        if isinstance(shown, LiveRun):
            base_dir = shown.session.base_dir
        else:
            base_dir = self.document.path.parent if self.document is not None and self.document.path else None
        if not (Path(run_dir) / "checkpoints").is_dir():
            self.tryit.set_predictor(None, "This run saved no weights to try.")
            return
        self._predictor_for = shown
        token = self._token
        self.tryit.set_predictor(None, "Loading the model…")

        def ready(result) -> None:
            if token is not self._token:
                return  # another run is shown now
            self._show_predictor(*result)
            self.resultsReady.emit(result[0])

        def failed(exc) -> None:
            if token is not self._token:
                return
            self.tryit.set_predictor(None, f"Cannot try this run's model: {exc}")
            self.window.statusBar().showMessage(f"Cannot try the model: {exc}", 8000)
            self.resultsReady.emit(None)

        run_in_background(lambda: _predictor(run_dir, None, base_dir), ready, failed, name="predictor")

    def _show_predictor(self, predictor, mistakes, regression=None) -> None:
        """A model to try: the Try it panel, and its most confident mistakes in the gallery (or its
        predicted against true values for a regression)."""
        self.predictor = predictor
        self.tryit.set_predictor(predictor)
        if predictor.weights_epoch is not None:   # the best epoch's weights, which Export takes too
            self.tryit.set_caption(f"{self.tryit.caption.text()} · weights of epoch {predictor.weights_epoch}")
        unavailable = None if predictor.has_samples else (predictor.note or "no dataset samples")
        if predictor.is_classifier:
            self.evaluation.set_misclassified(mistakes[:GALLERY_SIZE], predictor.classes, predictor.value_range,
                                              predictor.image_shape, total=len(mistakes),
                                              epoch=predictor.weights_epoch, unavailable=unavailable)
        elif regression is not None:
            self.evaluation.set_regression_points(*regression)
        elif unavailable:   # no samples to predict: no points of an earlier run stay, and the plot says why
            self.evaluation.regression.set_points([], [], note=f"No points: {unavailable}")

    def preview_dataset(self) -> None:
        """Load the dataset the settings describe (off the GUI thread) and show what it holds."""
        document = self.window.document
        settings = dict((document.graph.training or {}).get("dataset") or {})
        base_dir = document.path.parent if document.path else None
        self.panel.preview.setText("Loading…")

        def load():
            from layerloom.data import load_dataset

            return load_dataset(settings, base_dir=base_dir)

        def shown(dataset) -> None:
            if self.window.document is document:
                self.panel.show_dataset(dataset)

        def failed(exc) -> None:
            text = str(exc).replace("training.dataset.", "dataset ").replace("training.", "")
            self.panel.preview.setText(f"✖ {text}")

        run_in_background(load, shown, failed, name="dataset-preview")

    # ------------------------------------------------------------------ runs, checkpoints, export
    def _overlay(self, runs) -> None:
        shown = self.shown
        current = shown.run_dir if isinstance(shown, LiveRun) else (shown.path if shown is not None else None)
        self.charts.set_overlays([r for r in runs if not current or Path(current).name != r.name])
        if runs and not self.view.showing_charts:
            self.view.show_charts()

    def load_checkpoint(self, path) -> None:
        """Use a checkpoint's weights with the current graph (Try it, the gallery, Export). Refused,
        with the reason, when they do not fit the graph."""
        document = self.window.document
        graph, base_dir = document.graph.copy(), document.path.parent if document.path else None

        def loaded(result) -> None:
            if self.window.document is not document:
                return
            self.checkpoint = Path(path)
            self._show_predictor(*result)
            self._show_identity()
            self.window.statusBar().showMessage(f"Loaded {path} into the current graph", 6000)
            self.docks["tryit"].raise_()

        def refused(exc) -> None:
            text = str(exc)   # the checkpoint's own errors name the file already
            QMessageBox.warning(self.window, "Cannot load checkpoint", text if str(path) in text else f"{path}:\n{text}")

        run_in_background(lambda: _predictor(path, graph, base_dir), loaded, refused, name="load-checkpoint")

    def export_source(self):
        """What Export exports: the graph and the weights that belong to it. A checkpoint loaded
        from the Runs list; the shown run's graph and best weights while the document still describes
        the same network (moving nodes does not count); else the document's graph, untrained."""
        document = self.window.document
        if self.checkpoint is not None:
            return document.graph, self.checkpoint
        shown = self.shown
        if isinstance(shown, LiveRun) and not shown.active and shown.run_dir \
                and same_network(shown.session.graph, document.graph):
            return shown.session.graph, best_checkpoint(Path(shown.run_dir))
        if shown is not None and not isinstance(shown, LiveRun) and shown.graph_file is not None:
            from layerloom import load_graph

            try:
                graph = load_graph(shown.graph_file)
            except Exception:  # noqa: BLE001 - an unreadable run graph: export the document untrained
                graph = None
            if graph is not None and same_network(graph, document.graph) and shown.checkpoint is not None:
                return graph, best_checkpoint(shown.path)
        return document.graph, None

    def export(self) -> None:
        from layerloom.nodeeditor.panels.export_dialog import ExportDialog

        document = self.window.document
        graph, checkpoint = self.export_source()
        base_dir = document.path.parent if document.path else None
        default = base_dir or Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation) or Path.home()) / "LayerLoom"
        dialog = ExportDialog(graph, checkpoint, base_dir, default / "export", parent=self.window,
                              warm=self.window.warm_pool if self.window._warm_wanted else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog = dialog
        dialog.show()


# ---------------------------------------------------------------------- helpers
def _predictor(checkpoint, graph, base_dir):
    """Off the GUI thread: a Predictor for a checkpoint or run folder (with ``graph``, or the one it
    trained), its mistakes on the validation split, and for a regression its (true, predicted) values."""
    import numpy as np

    from layerloom.training.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint, graph=graph, base_dir=base_dir)
    mistakes = predictor.misclassified() if predictor.has_samples else []
    regression = None
    if predictor.task == "regression" and predictor.has_samples:
        samples = predictor.validation_samples(limit=2000)
        predicted = predictor.outputs(samples.x)
        regression = (np.asarray(samples.y, np.float64).reshape(-1), np.asarray(predicted, np.float64).reshape(-1))
    return predictor, mistakes, regression
