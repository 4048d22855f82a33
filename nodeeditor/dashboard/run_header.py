"""The head of the Train workspace: which run of which graph the views below show, its state, its
controls and progress, and a banner where a failure (or another graph's run) is said in plain sight.

The header only shows what the dashboard tells it; it keeps no run state of its own beyond what is on
screen. Its states, in a run's order::

    idle -> starting (set-up stages named as they happen) -> running <-> paused -> stopping
         -> finished | warned (finished, but it did not learn) | stopped | failed
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from layerloom.training.records import format_duration


IDLE, STARTING, RUNNING, PAUSED, STOPPING, FINISHED, WARNED, STOPPED, FAILED = (
    "idle", "starting", "running", "paused", "stopping", "finished", "warned", "stopped", "failed")
ACTIVE = (STARTING, RUNNING, PAUSED, STOPPING)
# What the state pill says, and its colour (the Runs list's colours for the same outcomes).
PILLS = {IDLE: ("Not trained", "#8a9099"), STARTING: ("Preparing", "#4c8dff"), RUNNING: ("Running", "#4c8dff"),
         PAUSED: ("Paused", "#d9a227"), STOPPING: ("Stopping", "#d9a227"), FINISHED: ("Finished", "#4caf50"),
         WARNED: ("Did not learn", "#d9a227"),
         STOPPED: ("Stopped", "#d9a227"), FAILED: ("Failed", "#e0605e")}
ETA_AFTER = 0.03   # share of the run done before the header guesses when it ends
BANNER_COLORS = {"error": "#e0605e", "info": "#4c8dff", "warning": "#d9a227"}


def _bold(label: QLabel, scale: float = 1.0) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


class RunHeader(QWidget):
    startRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    nodeRequested = Signal(str)        # the banner's "Show node": a node id to select on the canvas
    bannerAction = Signal(str)         # the banner's extra button (its key)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runHeader")
        self.state = IDLE
        self._banner_node: str | None = None
        self._banner_key: str | None = None
        self.graph_label = _bold(QLabel(), 1.25)
        self.graph_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label = QLabel()
        self.run_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.pill = QLabel()
        self.pill.setObjectName("statePill")
        self.pill.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.device_label = QLabel("Device: checking…")
        self.device_label.setObjectName("device")
        self.device_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        title = QHBoxLayout()
        title.setSpacing(10)
        title.addWidget(self.graph_label)
        title.addWidget(self.pill)
        title.addWidget(self.run_label, 1)

        self.start_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.start_button.setToolTip("Train this graph with its training settings (F5)")
        self.pause_button.setToolTip("Pause or resume the run (F6)")
        self.stop_button.setToolTip("Stop the run at the next step; its folder keeps what it has (Shift+F5)")
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        # room for "epoch 3000/3000  ·  step 69,000/69,000" on one line (the text wrapped and lost its commas)
        self.progress.setMinimumWidth(self.progress.fontMetrics().horizontalAdvance(
            "epoch 3000/3000  ·  step 690,000/690,000") + 24)
        self.eta_label = QLabel()
        self.eta_label.setMinimumWidth(110)
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        controls = QHBoxLayout()
        controls.setSpacing(6)
        for button in (self.start_button, self.pause_button, self.stop_button):
            controls.addWidget(button)
        controls.addSpacing(6)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.eta_label)
        controls.addSpacing(10)
        controls.addWidget(self.device_label)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # two lines always: a message that grows a line would push the charts down
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        self.banner = QFrame()
        self.banner.setObjectName("runBanner")
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.banner_node_button = QPushButton("Show node")
        self.banner_node_button.clicked.connect(self._show_node)
        self.banner_button = QPushButton()
        self.banner_button.clicked.connect(lambda: self._banner_key and self.bannerAction.emit(self._banner_key))
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Hide this message")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide_banner)
        self.banner_close = close
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.banner_text, 1)
        row.addWidget(self.banner_node_button)
        row.addWidget(self.banner_button)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(6)
        layout.addLayout(title)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.banner)
        self.show_identity("", None)
        self.set_state(IDLE)

    # ------------------------------------------------------------------ what is shown
    def show_identity(self, graph_name: str, run_name: str | None, note: str = "") -> None:
        """The graph, and the run of it the views show (None: no run yet)."""
        self.graph_label.setText(graph_name or "untitled")
        text = f"run {run_name}" if run_name else "no run yet"
        self.run_label.setText(text + (f" · {note}" if note else ""))
        self.run_label.setToolTip(self.run_label.text())

    def run_text(self) -> str:
        return self.run_label.text()

    def set_device(self, text: str, detail: str = "") -> None:
        self.device_label.setText(f"Device: {text}")
        self.device_label.setToolTip(detail)

    def set_state(self, state: str, detail: str = "") -> None:
        """Which buttons work, what the pill says; ``detail`` replaces the pill's word (e.g. "Diverged")."""
        self.state = state
        active = state in ACTIVE
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state in (RUNNING, PAUSED))
        self.pause_button.setText("Resume" if state == PAUSED else "Pause")
        self.stop_button.setEnabled(state in (STARTING, RUNNING, PAUSED))
        word, color = PILLS.get(state, PILLS[IDLE])
        self.pill.setText(f" {detail or word} ")
        if self.pill.property("color") != color:   # a style sheet costs milliseconds: set it on change
            self.pill.setProperty("color", color)
            self.pill.setStyleSheet(f"QLabel#statePill {{ background: {color}; color: white; border-radius: 8px;"
                                    " padding: 1px 8px; font-weight: bold; }")
        if state == STARTING:
            self.progress.setRange(0, 0)   # busy: the set-up has no known length
            self.eta_label.setText("")
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        if state == PAUSED:
            self.eta_label.setText("ETA: paused")
            shown = self.progress.format()
            if shown and not shown.startswith("Paused"):   # short: the bar's width holds it on one line
                self.progress.setFormat("Paused · " + shown.split("  ·  ")[0])

    def reset_progress(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.eta_label.setText("")

    def show_stage(self, text: str) -> None:
        """A set-up stage, as the run reports it ("Loading the dataset digits…")."""
        self.status.setText(text)
        self.status.setStyleSheet("")

    def show_progress(self, step, started) -> None:
        """A Step event: where the run is, how fast, and when it should end."""
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self.progress.setValue(round(step.progress * 1000))
        total = started.epochs * started.steps_per_epoch if started else 0
        epochs = started.epochs if started else "?"
        text = f"epoch {step.epoch}/{epochs}  ·  step {step.step:,}/{total:,}"
        self.progress.setFormat(f"Paused · epoch {step.epoch}/{epochs}" if self.state == PAUSED else text)
        # the first steps of a run are slower than the rest (caches warm up): no guess before 3%
        eta = format_duration(step.eta_s) if step.progress >= ETA_AFTER else "…"
        self.eta_label.setText("ETA: paused" if self.state == PAUSED else f"ETA {eta}")
        self.status.setText(f"loss {step.loss:.4g}  ·  {step.samples_per_s:,.0f} samples/s  ·  lr {step.lr:.3g}")
        self.status.setStyleSheet("")

    def show_done(self, fraction: float, text: str) -> None:
        """A run that is over (or read from its folder): the bar at where it ended."""
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(text)
        self.eta_label.setText("")

    def show_message(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e05555;" if error else "")

    # ------------------------------------------------------------------ the banner
    def show_banner(self, text: str, kind: str = "error", node_id: str | None = None,
                    action: tuple[str, str] | None = None) -> None:
        """A message that stays until dismissed or replaced: a failure (``kind`` "error", with the node
        it names), or a notice ("info"). ``action``: (key, button text) for an extra button."""
        color = BANNER_COLORS.get(kind, BANNER_COLORS["info"])
        self.banner.setStyleSheet(f"QFrame#runBanner {{ border: 1px solid {color}; border-left: 4px solid {color};"
                                  " border-radius: 4px; }")
        self.banner.setProperty("kind", kind)
        self.banner_text.setText(text)
        self._banner_node = node_id
        self.banner_node_button.setVisible(node_id is not None)
        self._banner_key = action[0] if action else None
        self.banner_button.setVisible(action is not None)
        if action:
            self.banner_button.setText(action[1])
        self.banner.show()

    def hide_banner(self) -> None:
        self.banner.hide()
        self.banner.setProperty("kind", None)
        self._banner_node = self._banner_key = None

    def banner_kind(self) -> str | None:
        """The banner's kind while it shows ("error", "info", "warning"), else None."""
        return self.banner.property("kind") if not self.banner.isHidden() else None

    def _show_node(self) -> None:
        if self._banner_node:
            self.nodeRequested.emit(self._banner_node)

    def _pause_clicked(self) -> None:
        (self.resumeRequested if self.state == PAUSED else self.pauseRequested).emit()
