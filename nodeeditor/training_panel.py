"""The training panel: the graph's ``training`` section as a form, the dataset with a preview, the
device, and Start / Pause / Stop with the run's progress.

The form is generated from the runtime's setting specs (``runtime.training.config``): the same table
that checks graph files and the CLI's options, so ranges, choices and doc lines match everywhere. A
change goes through the undo stack as one ``SetMetaCommand`` and is saved with the graph; a refused
value shows the reason under its field and changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QToolButton,
                               QVBoxLayout, QWidget)

from runtime.data import BUILTINS, DATASET_PARAMS
from runtime.training.config import EARLY_STOPPING_PARAMS, OPTIMIZER_PARAMS, SCHEDULE_PARAMS, TOP_PARAMS, \
    check_training

from .commands import SetMetaCommand
from .param_editors import error_label, param_editor, value_text

NODE_ROLE = Qt.ItemDataRole.UserRole
FILE_CHOICE = "__file__"

# What the form shows first; the rest of each section sits under "More settings".
MAIN = {
    None: ("epochs", "batch_size", "monitor", "device", "precision"),
    "optimizer": ("name", "lr", "weight_decay"),
    "schedule": ("name",),
    "early_stopping": ("enabled", "patience"),
}
SECTION_PARAMS = {None: TOP_PARAMS, "optimizer": OPTIMIZER_PARAMS, "schedule": SCHEDULE_PARAMS,
                  "early_stopping": EARLY_STOPPING_PARAMS, "dataset": DATASET_PARAMS}
TITLES = {None: "Training", "optimizer": "Optimizer", "schedule": "Learning-rate schedule",
          "early_stopping": "Early stopping", "dataset": "Dataset"}


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TrainingPanel(QWidget):
    startRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    previewRequested = Signal()
    problemActivated = Signal(str)   # a node id: select it on the canvas

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self.editors: dict[str, QWidget] = {}     # "optimizer.lr" -> editor
        self.errors: dict[str, QLabel] = {}
        self._run_state = "idle"                  # idle, running, paused
        self.device_label = QLabel("Device: checking…")
        self.device_label.setObjectName("device")
        self.start_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = QLabel("Ready to train.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QListWidget()
        self.problems.setMaximumHeight(110)
        self.problems.hide()
        self.problems.itemClicked.connect(self._problem_clicked)
        self.problems.itemActivated.connect(self._problem_clicked)

        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        top = QVBoxLayout()
        top.addWidget(self.device_label)
        top.addLayout(buttons)
        top.addWidget(self.progress)
        top.addWidget(self.status)
        top.addWidget(self.problems)

        self._body = QWidget()
        self._body_layout = QVBoxLayout(self._body)
        self._body_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form fits the dock
        scroll.setWidget(self._body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview_images = QLabel()
        self.set_run_state("idle")

    # ------------------------------------------------------------------ the form
    def set_document(self, document) -> None:
        self.document = document
        document.bridge.metaChanged.connect(lambda key: key == "training" and self.rebuild())
        self.rebuild()

    def rebuild(self) -> None:
        """The form, from the document's ``training`` section (after any change or undo)."""
        while self._body_layout.count():
            item = self._body_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()   # gone now, deleted later (deferred deletion waits for the event loop)
                item.widget().deleteLater()
        self.editors, self.errors = {}, {}
        if self.document is None:
            return
        raw = self.document.graph.training or {}
        config, problems = check_training(raw)
        self._body_layout.addWidget(self._dataset_group(config.dataset))
        for section in (None, "optimizer", "schedule", "early_stopping"):
            values = _section_values(config, section)
            self._body_layout.addWidget(self._group(section, values))
        for problem in problems:
            self._show_error(problem)
        self._body_layout.addStretch(1)

    def _group(self, section: str | None, values: dict[str, Any]) -> QGroupBox:
        group = QGroupBox(TITLES[section])
        form = QFormLayout(group)
        more = QWidget()
        more_form = QFormLayout(more)
        more_form.setContentsMargins(0, 0, 0, 0)
        main = MAIN.get(section, ())
        for param in SECTION_PARAMS[section]:
            target = form if param.name in main else more_form
            self._add_field(target, section, param, values.get(param.name, param.default))
        if more_form.rowCount():
            form.addRow(_disclosure(more))
            form.addRow(more)
        return group

    def _add_field(self, form: QFormLayout, section: str | None, param, value) -> None:
        key = _key(section, param.name)
        editor = param_editor(param, value, lambda v, s=section, n=param.name: self.apply(s, n, v))
        if isinstance(editor, QComboBox):
            _compact(editor)
        self.editors[key] = editor
        self.errors[key] = error_label()
        form.addRow(param.name.replace("_", " "), editor)
        form.addRow(self.errors[key])

    def _dataset_group(self, values: dict[str, Any]) -> QGroupBox:
        group = QGroupBox("Dataset")
        form = QFormLayout(group)
        combo = QComboBox()
        _compact(combo)
        for info in BUILTINS.values():
            combo.addItem(info.title, info.name)
            combo.setItemData(combo.count() - 1, f"{info.name}: {info.doc}", Qt.ItemDataRole.ToolTipRole)
        combo.addItem("File or folder…", FILE_CHOICE)
        path = values.get("path")
        combo.setCurrentIndex(combo.count() - 1 if path else max(0, combo.findData(values.get("name"))))
        combo.activated.connect(lambda index: self._dataset_chosen(combo.itemData(index)))
        self.editors["dataset.name"] = combo
        self.errors["dataset.name"] = error_label()
        form.addRow("data", combo)
        form.addRow(self.errors["dataset.name"])
        line = QLineEdit(value_text(path))
        line.setPlaceholderText("a CSV, NPZ or IDX file, or a folder of class folders")
        line.editingFinished.connect(lambda: self.apply("dataset", "path", line.text().strip() or None))
        browse = QPushButton("…")
        browse.setToolTip("Choose a dataset file or folder")
        browse.setFixedWidth(32)
        browse.clicked.connect(self.browse_dataset)
        row = QHBoxLayout()
        row.addWidget(line, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.editors["dataset.path"] = line
        self.errors["dataset.path"] = error_label()
        form.addRow("path", holder)
        form.addRow(self.errors["dataset.path"])
        more = QWidget()
        more_form = QFormLayout(more)
        more_form.setContentsMargins(0, 0, 0, 0)
        for param in DATASET_PARAMS:
            if param.name not in ("name", "path"):
                self._add_field(more_form, "dataset", param, values.get(param.name, param.default))
        toggle = _disclosure(more)
        preview = QPushButton("Preview")
        preview.setToolTip("Load the dataset and show its shapes, classes and a few samples")
        preview.clicked.connect(self.previewRequested)
        form.addRow(preview, toggle)
        form.addRow(more)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview_images = QLabel()
        form.addRow(self.preview)
        form.addRow(self.preview_images)
        return group

    def _dataset_chosen(self, name: str) -> None:
        if name == FILE_CHOICE:
            self.browse_dataset()
            return
        raw = copy.deepcopy(self.document.graph.training or {})
        dataset = dict(raw.get("dataset") or {})
        dataset["name"] = name
        dataset.pop("path", None)
        raw["dataset"] = dataset
        self._push(raw)

    def browse_dataset(self) -> None:
        start = str(self.document.path.parent) if self.document and self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Dataset file", start,
                                              "Data (*.csv *.tsv *.npz *.gz *ubyte*);;All files (*)")
        if path:
            self.apply("dataset", "path", path)
        else:
            self.rebuild()  # the combo back on what the graph says

    def apply(self, section: str | None, name: str, value: Any) -> bool:
        """Set one training setting through the undo stack; a refused value shows why."""
        if self.document is None:
            return False
        raw = copy.deepcopy(self.document.graph.training or {})
        target = raw if section is None else raw.setdefault(section, {})
        if target.get(name) == value:
            return True
        target[name] = value
        if section == "dataset" and name == "path" and value is None:
            target.pop("path")
        key = _key(section, name)
        _, problems = check_training(raw)
        mine = [p for p in problems if p.startswith(f"training.{key}:")]
        if mine:
            self._show_error(mine[0])
            return False
        self._push(raw)
        return True

    def _push(self, raw: dict) -> None:
        self.document.undo_stack.push(SetMetaCommand(self.document.graph, "training", raw))

    def _show_error(self, problem: str) -> None:
        key, _, message = problem.partition(": ")
        label = self.errors.get(key.removeprefix("training."))
        if label is not None:
            label.setText(message)
            label.show()

    def show_dataset(self, dataset, count: int = 8) -> None:
        """The preview: the dataset's one-line summary, its classes, and its first training samples
        (pictures for image data, values otherwise)."""
        from .evaluation import crisp_pixmap, image_array, to_qimage

        lines = [dataset.summary()]
        if dataset.classes is not None:
            shown = ", ".join(dataset.classes[:12]) + (" …" if len(dataset.classes) > 12 else "")
            lines.append(f"classes: {shown}")
        self.preview.setText("\n".join(lines))
        pictures = []
        for i in range(min(count, dataset.num_train)):
            pixels = image_array(dataset.x_train[i]) if dataset.image else None
            if pixels is None:
                break
            pictures.append(crisp_pixmap(to_qimage(pixels, dataset.value_range), 36))
        if not pictures:
            values = ", ".join(f"{v:.3g}" for v in list(dataset.x_train[0].reshape(-1))[:8])
            self.preview_images.setText(f"first sample: [{values}{', …' if dataset.x_train[0].size > 8 else ''}]")
            self.preview_images.setPixmap(QPixmap())
            return
        strip = QPixmap(len(pictures) * 40, 36)
        strip.fill(Qt.GlobalColor.transparent)
        painter = QPainter(strip)
        for k, picture in enumerate(pictures):
            painter.drawPixmap(k * 40, 0, picture)
        painter.end()
        self.preview_images.setPixmap(strip)

    # ------------------------------------------------------------------ the run
    def set_device(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

    def set_run_state(self, state: str) -> None:
        """``idle``, ``starting``, ``running`` or ``paused``: which buttons work."""
        self._run_state = state
        active = state != "idle"
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(active)
        self._body.setEnabled(not active)   # the run trains on a snapshot: settings wait for the next run

    def _pause_clicked(self) -> None:
        (self.resumeRequested if self._run_state == "paused" else self.pauseRequested).emit()

    def show_progress(self, step, started) -> None:
        self.progress.setValue(round(step.progress * 1000))
        total_steps = started.epochs * started.steps_per_epoch if started else 0
        epochs = started.epochs if started else "?"
        self.progress.setFormat(f"epoch {step.epoch}/{epochs}  ·  step {step.step:,}/{total_steps:,}")
        self.status.setText(f"loss {step.loss:.4f}  ·  {step.samples_per_s:,.0f} samples/s  ·  "
                            f"ETA {format_duration(step.eta_s)}  ·  lr {step.lr:.3g}")

    def show_message(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e05555;" if error else "")

    def show_problems(self, problems) -> None:
        """Problems that keep the run from starting, each pointing at its node."""
        self.problems.clear()
        for problem in problems:
            item = QListWidgetItem("✖ " + (problem.describe() if hasattr(problem, "describe") else str(problem)))
            item.setData(NODE_ROLE, getattr(problem, "node_id", None))
            self.problems.addItem(item)
        self.problems.setVisible(bool(problems))

    def _problem_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.problemActivated.emit(node_id)


def _disclosure(more: QWidget) -> QToolButton:
    """A "More settings" arrow button that shows and hides ``more`` (hidden at first)."""
    toggle = QToolButton(text="More settings", checkable=True)
    toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toggle.setArrowType(Qt.ArrowType.RightArrow)
    toggle.toggled.connect(lambda on: (more.setVisible(on), toggle.setArrowType(
        Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)))
    more.hide()
    return toggle


def _compact(combo: QComboBox) -> None:
    """A combo box that may be narrower than its longest entry (the dock decides the width)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)


def _key(section: str | None, name: str) -> str:
    return name if section is None else f"{section}.{name}"


def _section_values(config, section: str | None) -> dict[str, Any]:
    if section is None:
        return {param.name: getattr(config, param.name) for param in TOP_PARAMS}
    return getattr(config, section)
