"""The Export dialog, driven like a user: choose formats, click Export, wait for the report. The files
it writes are checked here on their own (onnxruntime against the trained PyTorch model, the generated
source imported and run), and failures must show as FAILED in the dialog, never as a crash."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import mlp_graph
from PySide6.QtCore import QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QPalette
from PySide6.QtWidgets import QApplication

from layerloom.nodeeditor.panels import export_dialog as module
from layerloom.nodeeditor.panels.export_dialog import BADGES, FAILED, PASSED, SKIPPED, ExportDialog
from layerloom.nodeeditor.theme.style import DARK, apply_app_theme
from layerloom import load_graph
from layerloom.export.defaults import DEFAULT_OPSET
from layerloom.export.source import ExportError, load_exportable, validation_samples
from layerloom.files.graphfile import graph_to_dict
from layerloom.files.resources import example_path
from layerloom.training import Finished, TrainingConfig, TrainingSession

pytestmark = pytest.mark.gui
LEFT = Qt.MouseButton.LeftButton
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The digits MLP trained for one epoch into a run folder (about 2 s), and reference models."""
    graph = load_graph(example_path("digits_mlp"))
    config = TrainingConfig.from_graph(graph).replace(epochs=1, device="cpu")
    result = TrainingSession(graph, config, run_root=tmp_path_factory.mktemp("runs")).run()
    assert isinstance(result, Finished), result
    checkpoint = Path(result.run_dir) / "checkpoints" / "last.pt"
    reference = load_exportable(checkpoint)            # the checkpoint's own graph and weights
    raw, _, _, _ = validation_samples(reference, 16)
    return SimpleNamespace(graph=graph, checkpoint=checkpoint, reference=reference, raw=raw,
                           samples=reference.preprocess(raw))


def make_dialog(qtbot, graph, checkpoint, tmp_path) -> ExportDialog:
    dialog = ExportDialog(graph, checkpoint, None, tmp_path / "exports")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def click_box(qtbot, box) -> None:
    """A real click on a check box's indicator (its widget may be wider than its label)."""
    qtbot.mouseClick(box, LEFT, pos=QPoint(8, box.height() // 2))


def export(qtbot, dialog) -> object:
    """Click Export like a user and wait for the report."""
    with qtbot.waitSignal(dialog.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.export_button, LEFT)
    return blocker.args[0]


def run_model(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


def test_onnx_export_runs_in_the_background_and_matches_pytorch(qtbot, trained, tmp_path, monkeypatch):
    before = graph_to_dict(trained.graph)
    dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    assert dialog.onnx_check.isChecked() and dialog.opset_spin.value() == DEFAULT_OPSET
    dialog.opset_spin.setValue(18)
    dialog.quantize_combo.setCurrentIndex(dialog.quantize_combo.findData("dynamic"))
    out = tmp_path / "out"
    dialog.path_edit.setText(str(out))
    stages: list[str] = []
    dialog._relay.stage.connect(stages.append)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)

    width = trained.graph.node("fc2").params["out_features"]
    try:
        with qtbot.waitSignal(dialog.finished, timeout=TIMEOUT_MS) as blocker:
            qtbot.mouseClick(dialog.export_button, LEFT)
            trained.graph.set_param("fc2", "out_features", 5)   # editing meanwhile cannot reach the export
            # busy: nothing to press but Cancel (which stops the export); closing is refused
            assert dialog.busy and dialog.progress.isVisible() and dialog.progress.maximum() == 0
            assert not dialog.export_button.isEnabled() and not dialog.close_button.isVisible()
            assert dialog.cancel_button.isVisible() and dialog.cancel_button.isEnabled()
            assert not dialog.onnx_check.isEnabled() and not dialog.path_edit.isEnabled()
            assert not dialog.raw_check.isEnabled()
            dialog.close()
            assert dialog.isVisible()
            assert not dialog.export_now()                 # one export at a time
    finally:
        trained.graph.set_param("fc2", "out_features", width)
    timer.stop()
    result = blocker.args[0]
    assert result.ok, result.describe()
    # the event loop ran during the export (a synchronous export gives no tick at all); how often it
    # ran depends on the machine's load, so only its running is asserted
    assert len(ticks) >= 2, f"the GUI thread froze during the export ({len(ticks)} timer ticks)"
    assert "Exporting ONNX (opset 18) and verifying it in onnxruntime…" in stages
    assert not dialog.busy and not dialog.progress.isVisible() and dialog.close_button.isEnabled()
    assert not dialog.cancel_button.isVisible()

    # the file, checked here: raw digits (0..16) into onnxruntime against the trained PyTorch model on
    # the same samples scaled as in training, at a batch it was not verified on
    path = out / "digits_mlp.onnx"
    assert {i.version for i in onnx.load(str(path)).opset_import if i.domain in ("", "ai.onnx")} == {18}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert trained.raw.max() > 1.5                         # raw units, not scaled ones
    got = session.run(None, {"image": trained.raw})[0]
    expected = run_model(trained.reference.model, trained.samples)
    assert got.shape == (16, 10) and np.abs(got - expected).max() < 1e-4
    untrained = run_model(load_exportable(trained.graph).model, trained.samples)
    assert np.abs(got - untrained).max() > 0.1           # the checkpoint's weights, not the initial ones
    int8 = ort.InferenceSession(str(out / "digits_mlp.int8.onnx"), providers=["CPUExecutionProvider"])
    assert int8.run(None, {"image": trained.raw})[0].shape == (16, 10)

    # the report: PASSED with the measured difference, size and latency; the int8 accuracy change
    onnx_report = result.outcome("onnx").report
    assert onnx_report.ok and onnx_report.max_abs_diff < 1e-4
    text = dialog.report_view.toPlainText()
    assert "PASSED" in text and "FAILED" not in text
    assert f"Max |onnxruntime − PyTorch| = {onnx_report.max_abs_diff:.2e}" in text
    assert "KiB" in text and "latency batch 1" in text
    assert "Takes raw samples: the file applies the training's min-max scaling of 0..16 to 0..1" in text
    assert "Raw dataset samples give the app's predictions" in text and "Made by the" in text
    quantized = result.outcome("int8").report
    assert f"Validation accuracy {quantized.before:.4f} → {quantized.after:.4f}" in text
    assert BADGES[PASSED][1] in dialog.report_view.toHtml() and BADGES[FAILED][1] not in dialog.report_view.toHtml()
    assert "Finished" in dialog.status_label.text()

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    assert dialog.show_folder_button.isEnabled()
    qtbot.mouseClick(dialog.show_folder_button, LEFT)
    assert opened == [QUrl.fromLocalFile(str(out))]
    assert graph_to_dict(trained.graph) == before       # the dialog exported a copy


def test_pytorch_source_and_checkpoint_copy(qtbot, trained, tmp_path):
    run_folder = trained.checkpoint.parent.parent          # a run folder stands for its last checkpoint
    dialog = make_dialog(qtbot, trained.graph, run_folder, tmp_path)
    dialog.in_process = False   # the files are the subject: a thread, not a child that imports torch
    click_box(qtbot, dialog.onnx_check)
    click_box(qtbot, dialog.python_check)
    click_box(qtbot, dialog.checkpoint_check)
    assert not dialog.onnx_check.isChecked() and dialog.python_check.isChecked()
    assert not dialog.opset_spin.isEnabled()           # ONNX options follow the ONNX choice
    assert "digits_mlp.py" in dialog.files_label.text()
    result = export(qtbot, dialog)
    assert result.ok, result.describe()
    folder = tmp_path / "exports" / "digits_mlp"        # default folder: default_dir / the graph's name
    assert not (folder / "digits_mlp.onnx").exists()

    spec = importlib.util.spec_from_file_location("exported_digits", folder / "digits_mlp.py")
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    model = code.DigitsMLP()
    model.load_state_dict(torch.load(folder / "digits_mlp.pt", weights_only=True))
    got = run_model(model, trained.samples)
    assert np.abs(got - run_model(trained.reference.model, trained.samples)).max() < 1e-6
    assert (folder / "digits_mlp.checkpoint.pt").read_bytes() == trained.checkpoint.read_bytes()

    text = dialog.report_view.toPlainText()
    assert "PyTorch source" in text and "PASSED" in text and "Max |generated − compiled| = 0.00e+00" in text
    assert "Checkpoint copy" in text and "WRITTEN" in text and "FAILED" not in text


def test_a_failed_verification_is_shown_failed(qtbot, trained, tmp_path, monkeypatch):
    import layerloom.export.verify as verify

    real = verify.verify_onnx

    def off_by_a_lot(*args, **kwargs):
        report = real(*args, **kwargs)
        report.ok, report.max_abs_diff = False, 0.5
        report.problem = f"outputs differ from PyTorch by 5.00e-01, more than the tolerance {report.tolerance:.0e}"
        return report

    monkeypatch.setattr(verify, "verify_onnx", off_by_a_lot)
    dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    dialog.in_process = False   # the patch lives in this process
    dialog.quantize_combo.setCurrentIndex(dialog.quantize_combo.findData("static"))
    result = export(qtbot, dialog)
    assert not result.ok
    assert result.outcome("onnx").status == FAILED and result.outcome("int8").status == SKIPPED
    text = dialog.report_view.toPlainText()
    assert "FAILED" in text and "PASSED" not in text
    assert "Max |onnxruntime − PyTorch| = 5.00e-01" in text and "more than the tolerance 1e-04" in text
    assert BADGES[FAILED][1] in dialog.report_view.toHtml()
    assert dialog.isVisible() and dialog.export_button.isEnabled()   # ready to try again


def test_a_graph_that_cannot_export_names_the_node(qtbot, tmp_path):
    graph = mlp_graph()
    graph.disconnect(graph.incoming("fc1")[0])
    dialog = make_dialog(qtbot, graph, None, tmp_path)
    dialog.in_process = False   # the message is the subject: a thread, not a child that imports torch
    click_box(qtbot, dialog.python_check)
    result = export(qtbot, dialog)
    assert not result.ok and 'Linear "fc1"' in result.error
    text = dialog.report_view.toPlainText()
    assert "FAILED" in text and "could not start" in text and "Linear \"fc1\": input 'in' is not connected" in text
    assert not (tmp_path / "exports" / "mlp").exists()
    assert not dialog.show_folder_button.isEnabled() and dialog.export_button.isEnabled()


def test_errors_of_one_export_and_bugs_are_reported_not_raised(qtbot, trained, tmp_path, monkeypatch):
    import layerloom.export.onnx_export as onnx_export
    import layerloom.export.pysource as pysource

    def refuse(exportable, path, opset, **kwargs):
        raise ExportError(f'Conv2d "conv2" cannot be exported to ONNX (opset {opset}): GuardOnDataDependentSymNode')

    def crash(exportable, path):
        raise RuntimeError("boom")

    monkeypatch.setattr(onnx_export, "export_and_verify", refuse)
    monkeypatch.setattr(pysource, "export_python", crash)
    dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    dialog.in_process = False   # the patches live in this process
    click_box(qtbot, dialog.python_check)
    click_box(qtbot, dialog.checkpoint_check)
    result = export(qtbot, dialog)
    assert [o.status for o in result.outcomes] == [FAILED, FAILED, "written"]   # one failure stops nothing else
    text = dialog.report_view.toPlainText()
    assert 'Conv2d "conv2" cannot be exported to ONNX (opset 20)' in text
    assert "unexpected error: RuntimeError: boom" in text and "2 of 3 exports failed" in text

    monkeypatch.setattr(module, "run_export", lambda request, stage: 1 / 0)
    result = export(qtbot, dialog)
    assert "ZeroDivisionError" in result.error and "ZeroDivisionError" in dialog.report_view.toPlainText()
    assert not dialog.busy and dialog.close_button.isEnabled()


def test_untrained_weights_are_announced_as_a_warning(qtbot, trained, tmp_path):
    dialog = make_dialog(qtbot, trained.graph, None, tmp_path)
    assert_amber_warning(dialog.weights_label)
    assert not dialog.checkpoint_check.isEnabled()    # nothing to copy
    dialog.in_process = False   # the warning is the subject: a thread, not a child that imports torch
    click_box(qtbot, dialog.onnx_check)
    click_box(qtbot, dialog.python_check)
    result = export(qtbot, dialog)
    assert result.ok and not result.trained
    assert "Untrained weights" in dialog.report_view.toPlainText()

    trained_dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    assert trained_dialog.weights_label.property("role") == "trained"
    assert str(trained.checkpoint) in trained_dialog.weights_label.text()

    imported = trained.graph.copy()
    imported.training = {**imported.training, "weights": "model.weights.pt"}   # an imported model's weights
    imported_dialog = make_dialog(qtbot, imported, None, tmp_path)
    assert imported_dialog.weights_label.property("role") == "imported"
    assert "Imported weights" in imported_dialog.weights_label.text() and "Untrained" not in \
        imported_dialog.weights_label.text()

    app, style, palette = QApplication.instance(), QApplication.style().name(), QApplication.palette()
    apply_app_theme(app, DARK)
    try:
        dark_dialog = make_dialog(qtbot, trained.graph, None, tmp_path)
        assert_amber_warning(dark_dialog.weights_label)
    finally:
        app.setStyle(style)
        app.setPalette(palette)


def assert_amber_warning(banner) -> None:
    assert banner.isVisible() and "Untrained weights" in banner.text() and banner.property("role") == "warning"
    found = re.search(r"(?<!-)color: (#[0-9a-f]{6})", banner.styleSheet())
    text, window = QColor(found.group(1)), banner.palette().color(QPalette.ColorRole.Window)
    assert 30 <= text.hue() <= 50 and text.saturation() > 150, text.name()      # amber
    assert abs(text.lightness() - window.lightness()) > 60                       # readable on this theme


def test_choices_match_the_runtime_and_close_when_idle(qtbot, tmp_path):
    import layerloom.export.quantize as quantize
    from layerloom.export.onnx_export import onnx_bytes

    graph = mlp_graph()
    dialog = make_dialog(qtbot, graph, None, tmp_path)
    assert dialog.path_edit.text() == str(tmp_path / "exports" / "mlp")
    exportable = load_exportable(graph)
    spin = dialog.opset_spin
    for outside in (spin.minimum() - 1, spin.maximum() + 1):   # the runtime refuses just outside the range
        with pytest.raises(ExportError, match="not supported"):
            onnx_bytes(exportable, outside)
    modes = [dialog.quantize_combo.itemData(i) for i in range(dialog.quantize_combo.count())]
    assert modes == [None, *quantize.MODES]

    click_box(qtbot, dialog.onnx_check)                    # nothing chosen: nothing to export
    assert not dialog.export_button.isEnabled() and not dialog.export_now()
    assert "at least one" in dialog.files_label.text()
    click_box(qtbot, dialog.onnx_check)
    dialog.path_edit.clear()
    assert not dialog.export_button.isEnabled() and "Choose a folder" in dialog.files_label.text()
    qtbot.mouseClick(dialog.close_button, LEFT)
    assert not dialog.isVisible()


def test_escape_cancels_an_export_at_once_and_a_new_one_can_start(qtbot, trained, tmp_path):
    """Cancel while the child is still starting: killed at once, "Cancelled" in the dialog, the old
    file untouched and nothing half-written; the next export runs to the end."""
    dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    folder = tmp_path / "exports" / "digits_mlp"
    folder.mkdir(parents=True)
    target = folder / "digits_mlp.onnx"
    target.write_bytes(b"the previous export")
    qtbot.mouseClick(dialog.export_button, LEFT)
    assert dialog.busy and dialog.cancel_button.isVisible()
    task = dialog.task
    with qtbot.waitSignal(dialog.cancelled, timeout=5000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.busy and dialog.isVisible() and dialog.status_label.text() == "Cancelled."
    assert "Cancelled" in dialog.report_view.toPlainText() and dialog.result is None
    assert not task.process.is_alive() and task.process.exitcode is not None      # killed and reaped
    assert target.read_bytes() == b"the previous export" and [p.name for p in folder.iterdir()] == [target.name]
    assert dialog.export_button.isEnabled() and dialog.close_button.isVisible() and not dialog.cancel_button.isVisible()
    result = export(qtbot, dialog)                                                 # a new export starts
    assert result.ok and target.read_bytes()[:4] != b"the "
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)                                      # idle: Escape closes
    assert not dialog.isVisible()


def test_the_preprocessing_option_names_the_scaling_and_the_report_says_what_the_file_takes(qtbot, trained,
                                                                                            tmp_path):
    dialog = make_dialog(qtbot, trained.graph, trained.checkpoint, tmp_path)
    assert dialog.raw_check.isChecked() and "min-max" in dialog.raw_check.toolTip()
    assert dialog.request().raw_inputs
    click_box(qtbot, dialog.raw_check)
    assert not dialog.raw_check.isChecked() and not dialog.request().raw_inputs
    dialog.in_process = False   # a thread of this process: no child needed for this check
    result = export(qtbot, dialog)
    assert result.ok and result.outcome("onnx").input_expects == "scaled"
    assert "Takes inputs already scaled" in dialog.report_view.toPlainText()
    session = ort.InferenceSession(str(result.outcome("onnx").paths[0]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": trained.samples})[0]                        # today's contract: scaled in
    assert np.abs(got - run_model(trained.reference.model, trained.samples)).max() < 1e-4
    click_box(qtbot, dialog.onnx_check)
    assert not dialog.raw_check.isEnabled()                                        # an option of the ONNX file


class CountingPool:
    """A pool as the window would hand it: one warm child, and a count of refills."""

    def __init__(self, child):
        self.child, self.refills = child, 0

    def take(self):
        child, self.child = self.child, None
        return child

    def refill(self):
        self.refills += 1


def test_an_export_runs_in_the_warm_child_the_window_hands_over(qtbot, trained, tmp_path, monkeypatch):
    from layerloom.training.worker import ENV_OFF, WarmProcess

    monkeypatch.delenv(ENV_OFF, raising=False)
    warm = WarmProcess().start()
    assert warm.wait_ready(120)
    pool = CountingPool(warm)
    dialog = ExportDialog(trained.graph, trained.checkpoint, None, tmp_path / "exports", warm=pool)
    qtbot.addWidget(dialog)
    dialog.show()
    result = export(qtbot, dialog)
    assert result.ok and dialog.task.warm_used and dialog.task.worker is warm
    assert pool.refills == 1                     # the next warm child is started for a later export
