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

``Dashboard`` is one object written in four modules: this one builds it (the widgets, docks, the Run
menu) and follows the open document; ``shown_run`` decides what the views show; ``run_lifecycle``
starts, pauses and stops the run and follows its events; ``results`` builds the predictor for Try it
and the gallery, loads checkpoints and opens Export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QScrollArea

from layerloom.training.events import Failed

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.adapters.run_bridge import RunBridge
from layerloom.nodeeditor.dashboard.charts import TrainingCharts
from layerloom.nodeeditor.dashboard.evaluation import EvaluationPanel
from layerloom.nodeeditor.dashboard.results import RunResults
from layerloom.nodeeditor.dashboard.run_header import ACTIVE, IDLE, PAUSED, RUNNING, RunHeader
from layerloom.nodeeditor.dashboard.run_lifecycle import REDRAW_MS, RunLifecycle
from layerloom.nodeeditor.dashboard.run_texts import ADD_LOSS
from layerloom.nodeeditor.dashboard.shown_run import BLOCKED, READY, ShownRun
from layerloom.nodeeditor.dashboard.train_view import LiveRun, TrainView, runs_root
from layerloom.nodeeditor.dashboard.tryit import TryItPanel
from layerloom.nodeeditor.panels.runs_panel import RunsPanel
from layerloom.nodeeditor.panels.training_panel import TrainingPanel

SWITCH_ON_TRAIN = "train/switch_workspace"   # setting: F5 shows the Train workspace
PRELOAD_DELAY_MS = 600                        # settings unchanged this long: the warm process loads the data


def _scrolled(widget) -> QScrollArea:
    """A panel in a scroll area: a short dock scrolls it instead of forcing the dock area taller."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


class Dashboard(ShownRun, RunLifecycle, RunResults, QObject):
    """The Train workspace and its docks for one run at a time. The window builds it, puts
    ``actions()`` in its Run menu and toolbar, and calls ``set_document`` whenever its document
    changes."""

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
        self.machine_device = ""               # the device a run would use here ("CPU (x86_64)"), once probed
        self.shown: Any = None                  # what the views show: a LiveRun, a RunInfo (a folder), or None
        self.checkpoint: Path | None = None     # weights loaded into the current graph from the Runs list
        self.predictor = None
        self._predictor_for: Any = None         # the run the predictor belongs to (built or being built)
        self._dirty = False
        self._shown_step = None                 # the Step the header last showed
        self._refusal_shown = False             # the banner says a typed value was refused
        self._errors_refused = False            # the banner and status bar say the graph's problems refused F5
        self._run_graph: tuple = (None, None)   # (graph file, its graph) of the shown run folder
        self._identity_shown: tuple = ()        # (graph, run, note) the header says it shows
        self._epoch_due = None                  # the live epoch the evaluation shows at the next redraw tick
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
        self.runs_panel.fineTuneRequested.connect(self._fine_tune_from)
        self.runs_panel.continueRequested.connect(self.continue_run)
        self.runs_panel.showRunRequested.connect(self.show_run_folder)
        self.runs_panel.runsDeleted.connect(self._runs_deleted)
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
        self.add_loss_action = window._action(menu, "Add a &Loss for Training", self.add_loss)
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
        """The graph changed: the shown run's "an earlier version of this graph" follows it; and where F5
        refused the graph for its problems and none are left, "Cannot train" is no longer true."""
        if document is not self.document:
            return
        self._follow_edits()
        if not self._errors_refused or analysis.errors:
            return
        self._errors_refused = False
        if self.header.banner_kind() == "error":
            self.header.hide_banner()
            if self.header.state == IDLE:
                self.header.show_message(READY)
        self._set_status("")

    def _meta_changed(self, key: str) -> None:
        if key == "name":
            self._show_identity()
        elif key == "training":
            self._preload_timer.start()   # the warm process loads the new dataset while the user reads
            if self.shown is None and self.header.state == IDLE:   # no run shown: its start weights may change
                self._show_start_weights()
            if self._refusal_shown:        # the field was corrected: its refusal is old news
                self._refusal_shown = False
                self.header.hide_banner()
                self._set_status("")

    def _runs_made(self, document) -> list[str]:
        """The run folders this window trained for ``document`` (an unsaved graph has no other record)."""
        return list(getattr(document, "run_dirs", []))

    def probe_device(self) -> None:
        """Name the device a run would use (imports torch, so off the GUI thread)."""
        def probe():
            from layerloom.training.device import choose_device

            import re

            # the threads of this process say nothing of a run's: those show when a run starts
            return re.sub(r",? \d+ threads?", "", choose_device("auto").name)
        def show(text: str) -> None:
            self.machine_device = text
            if self.header.state not in ACTIVE and self.shown is None:   # a run shown names its own device
                self.header.set_device(text)

        run_in_background(probe, show, lambda exc: show(f"unavailable ({exc})"), name="device-probe")

    # ------------------------------------------------------------------ requests from the header and the Runs list
    def _banner_action(self, key: str) -> None:
        if key == "stop":
            self.stop()
        elif key == ADD_LOSS:
            self.add_loss()

    def add_loss(self) -> bool:
        """Run > Add a Loss for Training (and the banner's button when F5 found none): a Target and the
        loss the task needs, wired to the prediction (``loss_fix``); the Design workspace shows them."""
        from layerloom.nodeeditor.dashboard.loss_fix import add_loss

        added, text, node_ids = add_loss(self.window.document)
        if added:
            self.header.hide_banner()
            self.document.bridge.set_run_problems([])   # the no-loss verdict is answered
            self._show_node(node_ids[-1])   # the Design workspace, centred on the new loss, selected
        self.window.statusBar().showMessage(text if added else f"Cannot add a loss: {text}", 10000)
        return added

    def _open_run_graph(self, graph_file) -> None:
        """The Runs list's Open Graph: a copy of the graph the run trained (the run keeps its record),
        shown with that very run."""
        if self.window.open_path(graph_file, remember=False, as_template=True):
            self.show_run_folder(Path(graph_file).parent)

    def _fine_tune_from(self, checkpoint) -> None:
        """The Runs list's Fine-tune: the weights setting made, and said where the user looks."""
        from pathlib import Path

        run = Path(checkpoint).parent.parent.name
        if self.panel.fine_tune_from(checkpoint):
            self.window.statusBar().showMessage(f"The next run starts from {run}'s weights (the Training tab's "
                                                "Start from weights): press F5 to train (Ctrl+Z undoes it)", 10000)
        else:
            self.window.statusBar().showMessage(f"The next run already starts from {run}'s weights", 6000)

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

    # ------------------------------------------------------------------ the status bar and the actions
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
