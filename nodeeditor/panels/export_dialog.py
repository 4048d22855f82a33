"""The Export dialog: ONNX (optionally int8), PyTorch source, a ``torchrun`` folder and a copy of the
checkpoint, each proved by the runtime's own verification and reported in the dialog.

The work runs in a child process (``run_in_process``; a warm one when the window hands the dialog a
``layerloom.training.worker.WarmPool`` or ``WarmProcess``) through the same runtime calls and defaults as
``layerloom-cli export``; the dialog only gathers the choices into an ``ExportRequest`` and shows the
``ExportResult``. A verification that fails is shown as FAILED, an export that cannot be made shows
the runtime's message (which names the node at fault); neither closes the dialog. Cancel (or Escape)
while exporting kills the child at once: the files are written atomically, so each target is the
previous file or none, never half of one.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QSizePolicy, QSpinBox, QTextBrowser,
                               QVBoxLayout, QWidget)

from layerloom.export.defaults import DEFAULT_OPSET, MIN_OPSET
from layerloom.export.jobs import (BADGES, FAILED, PASSED, SKIPPED, WRITTEN, ExportOutcome, ExportRequest,  # noqa: F401
                                 ExportResult, checkpoint_file, child_main, file_stem, remove_leftovers,
                                 request_payload, run_export)
from layerloom.model.graph import Graph

from layerloom.nodeeditor.adapters.background import run_in_background, run_in_process
from layerloom.nodeeditor.theme.icons import themed_icon
from layerloom.nodeeditor.theme.style import DARK, LIGHT

MAX_OPSET = 23   # the newest opset layerloom.export.onnx_export accepts (its range check)
QUANTIZATION = (("None", None),
                ("Dynamic int8", "dynamic"),
                ("Static int8 (calibrated on the dataset)", "static"))

def _with_request(result: ExportResult, request: ExportRequest) -> ExportResult:
    result.request = request   # the child sent it back without the graph
    return result


class _StageRelay(QObject):
    """Carries the worker's step names to the GUI thread (a queued connection: it lives there)."""
    stage = Signal(str)

    def emit(self, text: str) -> None:
        try:
            self.stage.emit(text)
        except RuntimeError:
            pass  # the dialog is gone


def _is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("role", "muted")
    return label


class ExportDialog(QDialog):
    """Choose what to export, export it off the GUI thread, and read the verification report.

    ``warm``: the window's ``layerloom.training.worker.WarmPool`` (a child is taken for each export and the pool
    refilled after it) or one ``WarmProcess``; None spawns a fresh child per export.
    ``finished(result)`` carries the ``ExportResult`` (it stands in for ``QDialog.finished(int)``,
    which this dialog does not use); ``cancelled()`` says an export was stopped."""

    finished = Signal(object)
    cancelled = Signal()      # an export was cancelled (nothing new was written)

    def __init__(self, graph: Graph, checkpoint: str | Path | None, base_dir: Path | None, default_dir: Path,
                 parent: QWidget | None = None, *, warm=None):
        super().__init__(parent)
        self._graph = graph                  # read only, copied when an export starts
        self.warm = warm                     # a WarmPool or WarmProcess; None: a fresh child per export
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        # absolute: the folder field shows the default folder, and a relative text in it is read against it
        self.base_dir = Path(base_dir).absolute() if base_dir is not None else None
        self.default_dir = Path(default_dir).absolute()
        self.stem = file_stem(graph.name or "model")
        self.result: ExportResult | None = None
        self.task = None
        self._busy = False
        self._relay = _StageRelay(self)
        self.in_process = True   # export in a child process (False: on a thread of this process)
        self._relay.stage.connect(self._on_stage)
        self.setWindowTitle(f"Export “{graph.name or 'model'}”")
        self.setMinimumWidth(620)
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().height() - 80 if screen is not None else 720   # a title bar, a panel
        self.resize(680, max(480, min(720, room)))
        dark = _is_dark(self)
        self._muted_color = DARK.muted if dark else LIGHT.muted
        self._warning_color = "#e0a030" if dark else "#a15c00"
        self._error_color = DARK.error if dark else LIGHT.error

        self.weights_label = self._weights_banner(dark)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.weights_label)
        layout.addWidget(self._formats_box())
        layout.addWidget(self._output_box())

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)           # busy: no known end
        self.progress.setTextVisible(False)
        self.progress.setFixedSize(160, 8)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)     # the layout does not jump when it shows
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self.status_label = QLabel("Ready.")
        self.status_label.setProperty("role", "muted")
        self.report_view = QTextBrowser()
        self.report_view.setOpenLinks(False)
        self.report_view.setMinimumHeight(200)
        self.report_view.setPlaceholderText("The verification report appears here after the export.")
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.progress)
        layout.addLayout(status)
        layout.addWidget(self.report_view, 1)

        self.show_folder_button = QPushButton("Show in Folder")
        self.show_folder_button.setEnabled(False)
        self.show_folder_button.clicked.connect(self.show_in_folder)
        self.export_button = QPushButton("Export")
        self.export_button.setIcon(themed_icon("export", DARK if dark else LIGHT))
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_now)
        self.close_button = QPushButton("Cancel")
        self.close_button.clicked.connect(self.reject)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the export now (Esc); files already there are kept as they were")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.cancel_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_folder_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.setStyleSheet(f'QLabel[role="muted"] {{ color: {self._muted_color}; }}')
        self._sync()

    # ------------------------------------------------------------------ building
    def _weights_banner(self, dark: bool) -> QLabel:
        training = self._graph.training if isinstance(self._graph.training, dict) else {}
        imported = training.get("weights") if self.checkpoint is None else None
        if isinstance(imported, str) and imported:
            text = (f"<b>Imported weights</b> from {html.escape(imported)} (the graph's start weights: "
                    "no run has trained it here). Tensors that do not fit the graph are named after the export.")
            colors = ("#1f2d24", "#9fd8a8", "#2f5a3a") if dark else ("#e8f5e9", "#1b5e20", "#a5d6a7")
            role = "imported"
        elif self.checkpoint is None:
            text = ("⚠  <b>Untrained weights.</b> No checkpoint was given, so the export holds the graph's "
                    "random initial weights. Train the model first to export what it learned.")
            colors = ("#3d3214", "#f5c542", "#7a6320") if dark else ("#fff4d6", "#7a5200", "#e0b54a")
            role = "warning"
        else:
            text = f"<b>Trained weights</b> from {html.escape(str(self.checkpoint))}"
            colors = ("#1f2d24", "#9fd8a8", "#2f5a3a") if dark else ("#e8f5e9", "#1b5e20", "#a5d6a7")
            role = "trained"
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setProperty("role", role)
        background, foreground, border = colors
        label.setStyleSheet(f"QLabel {{ background: {background}; color: {foreground}; border: 1px solid {border}; "
                            "border-radius: 4px; padding: 8px 10px; }")
        return label

    def _weights_unreadable(self, error: str) -> None:
        """The checkpoint could not be read: the weights banner says so, in the error's colours."""
        dark = _is_dark(self)
        background, foreground, border = ("#3a1d1d", "#f08080", "#7a2e2e") if dark else ("#fdecea", "#8a1c1c", "#e0a0a0")
        label = self.weights_label
        label.setText(f"✖  <b>Unreadable weights.</b> {html.escape(error)}")
        label.setProperty("role", "error")
        label.setStyleSheet(f"QLabel {{ background: {background}; color: {foreground}; border: 1px solid {border}; "
                            "border-radius: 4px; padding: 8px 10px; }")

    def _formats_box(self) -> QGroupBox:
        box = QGroupBox("Formats")
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        grid.setHorizontalSpacing(18)
        self.onnx_check = QCheckBox("ONNX model (.onnx)")
        self.onnx_check.setChecked(True)
        self.opset_spin = QSpinBox()
        self.opset_spin.setRange(MIN_OPSET, MAX_OPSET)
        self.opset_spin.setValue(DEFAULT_OPSET)
        self.opset_spin.setToolTip(f"ONNX opset {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
        self.quantize_combo = QComboBox()
        for text, mode in QUANTIZATION:
            self.quantize_combo.addItem(text, mode)
        self.quantize_combo.setToolTip(
            "Also write an int8 copy (.int8.onnx) and report the validation accuracy before and after.\n"
            "Dynamic: int8 weights, activations quantized on the fly (MLPs, LSTMs).\n"
            "Static: activation ranges fixed from dataset samples (convolutions).")
        onnx_options = QHBoxLayout()
        onnx_options.setContentsMargins(0, 0, 0, 0)
        onnx_options.addStretch(1)
        onnx_options.addWidget(QLabel("Opset"))
        onnx_options.addWidget(self.opset_spin)
        onnx_options.addSpacing(16)
        onnx_options.addWidget(QLabel("Quantization"))
        onnx_options.addWidget(self.quantize_combo)
        self.onnx_options = QWidget()
        self.onnx_options.setLayout(onnx_options)
        self.raw_check = QCheckBox("Include input preprocessing (the model takes raw samples)")
        self.raw_check.setChecked(True)
        self.raw_check.setToolTip(_preprocessing_tip(self._graph))
        self.python_check = QCheckBox("PyTorch source (model.py + weights)")
        self.ddp_check = QCheckBox("torchrun training folder (DistributedDataParallel)")
        self.checkpoint_check = QCheckBox("Copy of the checkpoint (.pt)")
        tips = {
            self.onnx_check: "One self-contained file with a dynamic batch size and the classes and preprocessing "
                             "in its metadata;\nverified in onnxruntime against PyTorch.",
            self.python_check: "A readable nn.Module that needs only PyTorch, and its weights;\n"
                               "checked against the compiled graph.",
            self.ddp_check: "A folder that trains the graph on many GPUs or machines without LayerLoom:\n"
                            "train_ddp.py, model.py, the starting weights and the dataset.",
            self.checkpoint_check: "The checkpoint (weights and graph), to resume training in LayerLoom.",
        }
        for check, tip in tips.items():
            check.setToolTip(tip)
            check.toggled.connect(self._sync)
        if self.checkpoint is None:
            self.checkpoint_check.setToolTip("No checkpoint: train the model first")
        grid.addWidget(self.onnx_check, 0, 0)
        grid.addWidget(self.onnx_options, 0, 1)
        indented = QHBoxLayout()
        indented.setContentsMargins(22, 0, 0, 0)   # an option of the ONNX model, under it
        indented.addWidget(self.raw_check)
        indented.addStretch(1)
        grid.addLayout(indented, 1, 0, 1, 2)
        for row, check in enumerate((self.python_check, self.ddp_check, self.checkpoint_check), start=2):
            grid.addWidget(check, row, 0, 1, 2)
        grid.addWidget(_muted("Each export is checked before it is reported: ONNX in onnxruntime against "
                              "PyTorch and, on raw dataset samples, against the app's own predictions; the "
                              "source against the compiled graph."), 5, 0, 1, 2)
        self.quantize_combo.currentIndexChanged.connect(self._sync)
        return box

    def _output_box(self) -> QGroupBox:
        box = QGroupBox("Output folder")
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(self.default_dir / self.stem))
        self.path_edit.textChanged.connect(self._sync)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.files_label = _muted()
        self.files_label.setTextFormat(Qt.TextFormat.RichText)
        self.files_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.files_label.setMinimumHeight(2 * self.files_label.fontMetrics().lineSpacing() + 2)  # wraps in place
        layout.addLayout(row)
        layout.addWidget(self.files_label)
        return box

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        return self._busy

    def folder(self) -> Path | None:
        text = self.path_edit.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.default_dir / path

    def request(self) -> ExportRequest | None:
        """The export the choices describe (with a copy of the graph), or None when there is none."""
        folder = self.folder()
        request = self._choices(self._graph.copy(), folder) if folder is not None else None
        return request if request is not None and request.targets() else None

    def _choices(self, graph: Graph, folder: Path) -> ExportRequest:
        return ExportRequest(graph, self.checkpoint, self.base_dir, folder, self.stem,
                             onnx=self.onnx_check.isChecked(), opset=self.opset_spin.value(),
                             raw_inputs=self.raw_check.isChecked(),
                             quantize=self.quantize_combo.currentData(), python=self.python_check.isChecked(),
                             ddp=self.ddp_check.isChecked(), copy_checkpoint=self.checkpoint_check.isChecked())

    def _sync(self, *_) -> None:
        idle = not self._busy
        for widget in (self.onnx_check, self.python_check, self.ddp_check, self.path_edit, self.browse_button):
            widget.setEnabled(idle)
        self.checkpoint_check.setEnabled(idle and self.checkpoint is not None)
        self.onnx_options.setEnabled(idle and self.onnx_check.isChecked())
        self.raw_check.setEnabled(idle and self.onnx_check.isChecked())
        self.close_button.setEnabled(idle)
        self.close_button.setVisible(idle)
        self.cancel_button.setVisible(not idle)
        self.cancel_button.setEnabled(not idle and self.in_process)
        self.close_button.setText("Close" if self.result is not None else "Cancel")
        self.show_folder_button.setEnabled(idle and self.result is not None and self.result.request.folder.is_dir()
                                           and any(o.paths for o in self.result.outcomes))
        folder = self.folder()
        targets = self._choices(self._graph, folder).targets() if folder is not None else {}
        self.export_button.setEnabled(idle and bool(targets))
        if folder is None:
            self.files_label.setText("Choose a folder.")
        elif not targets:
            self.files_label.setText("Choose at least one format.")
        else:
            names = [p.name + ("/" if kind == "ddp" else "") for kind, p in targets.items()]
            text = "Writes " + ", ".join(f"<b>{html.escape(n)}</b>" for n in names)
            if any(p.exists() for p in targets.values()):
                text += f" — <span style='color:{self._warning_color}'>existing files are replaced</span>"
            self.files_label.setText(text)

    # ------------------------------------------------------------------ actions
    def browse(self) -> None:
        start = self.folder() or self.default_dir
        while not start.exists() and start.parent != start:
            start = start.parent
        chosen = QFileDialog.getExistingDirectory(self, "Export to folder", str(start))
        if chosen:
            self.path_edit.setText(chosen)

    def export_now(self) -> bool:
        """Start the export in the background; False when busy or there is nothing to export."""
        if self._busy:
            return False
        request = self.request()
        if request is None:
            return False
        self._busy = True
        self.progress.show()
        self.status_label.setText("Starting…")
        self.report_view.clear()
        self._sync()
        if self.in_process:   # a child process: the window stays smooth while the export runs
            self.task = run_in_process(child_main, request_payload(request), lambda result: self._done(
                _with_request(result, request)), lambda exc: self._failed(request, exc), self._relay.emit,
                name="export", warm=self.warm, on_cancel=lambda: self._cancelled(request))
            if self.task.warm_used:
                self.status_label.setText("Starting (PyTorch already loaded)…")
        else:                 # a thread (tests that patch the runtime in this process)
            relay = self._relay
            self.task = run_in_background(lambda: run_export(request, relay.emit), self._done,
                                          lambda exc: self._failed(request, exc), name="export")
        return True

    def cancel_export(self) -> bool:
        """Stop the running export now (the child is killed); False when none runs or it cannot be
        stopped (an export on a thread of this process)."""
        if not self._busy or self.task is None or not hasattr(self.task, "cancel"):
            return False
        return self.task.cancel()

    def _cancelled(self, request: ExportRequest) -> None:
        self._busy = False
        removed = remove_leftovers(request)   # temporary files the killed child left beside the targets
        self.progress.hide()
        self.status_label.setText("Cancelled.")
        self.report_view.setHtml(f"<p><b>Cancelled.</b></p><p style='color:{self._muted_color}'>The export was "
                                 "stopped before it finished. Files that were already there are unchanged; "
                                 "nothing half-written was left" + (f" ({removed} temporary file(s) removed)"
                                                                   if removed else "") + ".</p>")
        self._sync()
        self._refill()
        self.cancelled.emit()

    def _refill(self) -> None:
        """A pool the window gave: start the next warm child for a later export."""
        if hasattr(self.warm, "refill"):
            self.warm.refill()

    def _on_stage(self, text: str) -> None:
        if self._busy:
            self.status_label.setText(text)

    def _failed(self, request: ExportRequest, exc: BaseException) -> None:
        """Not a user's mistake (``run_export`` reports those): a bug, shown rather than lost."""
        self._done(ExportResult(request, error=f"unexpected error: {type(exc).__name__}: {exc}"))

    def _done(self, result: ExportResult) -> None:
        self._busy = False
        self.result = result
        self.progress.hide()
        passed = sum(o.ok for o in result.outcomes)
        if result.error and self.checkpoint is not None and str(self.checkpoint) in result.error:
            self._weights_unreadable(result.error)   # the banner above no longer says "Trained weights"
        if result.error:
            self.status_label.setText("Nothing was exported.")
        else:
            self.status_label.setText(f"Finished in {result.seconds:.1f} s: {passed} of {len(result.outcomes)} "
                                      "exports succeeded.")
        self.report_view.setHtml(report_html(result, self._muted_color, self._warning_color, self._error_color))
        self._sync()
        self._refill()
        self.finished.emit(result)

    def show_in_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.request.folder)))

    # ------------------------------------------------------------------ closing: only when idle
    def reject(self) -> None:
        """Escape or Cancel: while exporting, stops the export (the dialog stays); else closes."""
        if self._busy:
            self.cancel_export()
        else:
            super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._busy:
            event.ignore()
        else:
            super().closeEvent(event)


_SCALING_WORDS = {
    "auto": "min-max to 0..1 when the data has a known range (the 8x8 digits: 0..16), else standardisation "
            "(x − mean) / std per feature",
    "minmax": "min-max scaling to 0..1",
    "standardize": "standardisation (x − mean) / std",
    "none": "none: the model takes the values as they are",
}


def _preprocessing_tip(graph: Graph) -> str:
    """The checkbox's tooltip: which scaling goes into the model, read from the graph's settings."""
    dataset = (graph.training or {}).get("dataset") or {}
    mode = dataset.get("scaling", "auto") if isinstance(dataset, dict) else "auto"
    words = _SCALING_WORDS.get(mode, str(mode))
    return ("The ONNX model applies the training's input scaling itself, as operators before the network:\n"
            f"{words}.\nIt then takes raw samples as the dataset holds them and gives the app's predictions.\n"
            "Untick for a model that takes inputs already scaled (the scaling is then only in its metadata,\n"
            "layerloom.preprocessing, as before).")


# ---------------------------------------------------------------------- the report
def _badge(status: str) -> str:
    text, color = BADGES[status]
    return (f"<span style='background-color:{color}; color:#ffffff; font-weight:bold;'>"
            f"&nbsp;{text}&nbsp;</span>")


def _count(n: int) -> str:
    return "The export" if n == 1 else f"All {n} exports"


def report_html(result: ExportResult, muted: str = DARK.muted, warning: str = "#e0a030",
                error: str = DARK.error) -> str:
    """The result as rich text: a headline, then each export with its badge, files and facts."""
    esc = html.escape
    parts = []
    if result.error:
        headline = (_badge(FAILED) + "&nbsp; <b>The export could not start</b>", esc(result.error))
    elif result.ok:
        headline = (_badge(PASSED) + f"&nbsp; <b>{_count(len(result.outcomes))} succeeded</b>", "")
    else:
        failed = sum(not o.ok for o in result.outcomes)
        headline = (_badge(FAILED) + f"&nbsp; <b>{failed} of {len(result.outcomes)} exports failed</b>", "")
    parts.append(f"<p style='margin-bottom:2px'>{headline[0]}</p>")
    if headline[1]:
        parts.append(f"<pre style='color:{error}; white-space:pre-wrap'>{headline[1]}</pre>")
    if result.weights:
        color = warning if not result.trained else muted
        parts.append(f"<p style='color:{color}; margin-top:2px'>{esc(result.weights)}</p>")
    for outcome in result.outcomes:
        names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in outcome.paths)
        parts.append("<table width='100%' cellspacing='0' cellpadding='0' style='margin-top:8px'><tr>"
                     f"<td><b>{esc(outcome.title)}</b>"
                     + (f"&nbsp;&nbsp;<span style='color:{muted}'>{esc(names)}</span>" if names else "")
                     + f"</td><td align='right'>{_badge(outcome.status)}</td></tr></table>")
        rows = [f"<span style='color:{error}'>{esc(outcome.message)}</span>" if outcome.status == FAILED
                else f"<span style='color:{muted}'>{esc(outcome.message)}</span>"] if outcome.message else []
        rows += [esc(line) for line in outcome.lines]
        if rows:
            parts.append("<p style='margin-top:2px; margin-left:12px'>" + "<br>".join(rows) + "</p>")
    if result.outcomes and any(o.paths for o in result.outcomes):
        parts.append(f"<p style='color:{muted}; margin-top:10px'>In {esc(str(result.request.folder))}</p>")
    return "\n".join(parts)
