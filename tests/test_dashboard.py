"""The training dashboard end to end, driven like a user: open the digits MLP, press Train, watch the
charts and the confusion matrix fill, stop a run, close the window during a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from layerloom.training.events import Finished, Stopped

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture
def window(qtbot, tmp_path):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    settings.setValue("runs_dir", str(tmp_path / "runs"))
    w = EditorWindow(settings)
    qtbot.addWidget(w, before_close_func=_before_close)
    w.resize(1300, 850)
    w.show()
    w.open_example("digits_mlp")
    return w


def _before_close(window) -> None:
    window.dashboard.stop_and_wait()
    if window.document is not None:
        window.document.undo_stack.setClean()


def _set_epochs(window, qtbot, epochs: int) -> None:
    spin = window.dashboard.panel.editors["epochs"]
    spin.selectAll()
    qtbot.keyClicks(spin, str(epochs))
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.document.graph.training["epochs"] == epochs


def test_train_two_epochs_from_the_train_button(window, qtbot, tmp_path):
    dashboard = window.dashboard
    _set_epochs(window, qtbot, 2)
    with qtbot.waitSignal(dashboard.runEnded, timeout=120_000) as ended:
        qtbot.mouseClick(dashboard.header.start_button, Qt.MouseButton.LeftButton)
        assert not dashboard.header.start_button.isEnabled() and dashboard.header.stop_button.isEnabled()
    result = ended.args[0]
    assert isinstance(result, Finished) and result.epochs == 2
    history = dashboard.charts.history()
    started = dashboard.bridge.run_started
    assert len(history.losses) == 2 * started.steps_per_epoch       # every step's loss is charted
    assert list(history.epochs) == [1, 2]
    matrix = np.asarray(dashboard.evaluation.matrix.matrix)
    assert matrix.shape == (10, 10) and matrix.sum() == started.num_val  # the validation set, counted
    assert dashboard.header.start_button.isEnabled() and "Finished" in dashboard.header.status.text()
    assert (tmp_path / "runs").is_dir() and result.run_dir.startswith(str(tmp_path / "runs"))
    qtbot.waitUntil(lambda: dashboard.predictor is not None, timeout=60_000)
    assert dashboard.tryit.predictor is dashboard.predictor
    assert dashboard.evaluation.gallery.count() > 0
    assert [run.status for run in dashboard.runs_panel.runs()] == ["completed"]

    # Export ONNX from the dialog (Ctrl+E), then check the file in onnxruntime against the trained model
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = dashboard.export_dialog
    assert dialog.isVisible() and dialog.checkpoint is not None
    dialog.path_edit.setText(str(tmp_path / "export"))
    for check in (dialog.python_check, dialog.ddp_check, dialog.checkpoint_check):
        check.setChecked(False)
    with qtbot.waitSignal(dialog.finished, timeout=120_000) as exported:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    report = exported.args[0]
    assert report.ok and report.trained and report.outcome("onnx").status == "passed"
    import onnxruntime

    onnx_file = report.outcome("onnx").paths[0]
    samples = dashboard.predictor.samples(indices=range(16))
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    # the file carries the input scaling: raw samples (0..16 for the digits) give the app's answers
    got = session.run(None, {session.get_inputs()[0].name: samples.x.reshape(16, -1).astype(np.float32)})[0]
    want = dashboard.predictor.outputs(samples.x)
    np.testing.assert_allclose(got, want, atol=1e-4)
    dialog.close()


def test_load_a_checkpoint_from_the_runs_list_into_the_current_graph(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from layerloom.training import TrainingConfig, TrainingSession

    dashboard = window.dashboard
    # a run of this graph in the runs folder, trained by the runtime in this process (an F5 run is a
    # child process that imports torch: test_train_two_epochs_from_the_train_button has one)
    graph = window.document.graph
    ended = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=1),
                            run_root=window.settings.value("runs_dir")).run()
    assert isinstance(ended, Finished), ended
    last = Path(ended.run_dir) / "checkpoints" / "last.pt"
    window.document.move_nodes({"fc1": (window.document.graph.node("fc1").position, (5.0, 5.0))})
    assert dashboard.predictor is None and dashboard.checkpoint is None
    dashboard.runs_panel.loadCheckpointRequested.emit(last)
    qtbot.waitUntil(lambda: dashboard.checkpoint == last, timeout=60_000)
    assert dashboard.export_source() == (window.document.graph, last)
    assert dashboard.tryit.predictor is dashboard.predictor
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warnings.append(a[2]))
    window.document.graph.set_param("fc1", "out_features", 32)    # no longer the trained network
    dashboard.load_checkpoint(last)
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "fc1" in warnings[0] and dashboard.checkpoint == last   # refused: the old one stays


def test_editing_during_a_run_does_not_touch_it_and_stop_returns_quickly(window, qtbot):
    dashboard = window.dashboard
    _set_epochs(window, qtbot, 500)
    with qtbot.waitSignal(dashboard.runStarted):
        qtbot.mouseClick(dashboard.header.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dashboard.bridge.last_step is not None, timeout=60_000)
    window.document.graph.set_param("fc1", "out_features", 32)   # the run trains a snapshot
    assert dashboard.session.graph.node("fc1").params["out_features"] == 128
    # a condition waited for, not a clock read: the run ends, stopped, within the wait's bound
    with qtbot.waitSignal(dashboard.runEnded, timeout=5_000) as ended:
        qtbot.mouseClick(dashboard.header.stop_button, Qt.MouseButton.LeftButton)
    assert isinstance(ended.args[0], Stopped)


def test_closing_during_a_run_asks_then_stops_the_worker(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    dashboard = window.dashboard
    _set_epochs(window, qtbot, 500)
    dashboard.start()
    qtbot.waitUntil(lambda: dashboard.bridge.last_step is not None, timeout=60_000)
    window.document.undo_stack.setClean()                      # no save question: the run's is the one
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert window.close() is False and dashboard.running       # "No": the run goes on
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert window.close() is True
    # the close waits at most the stop budget (2 s), then would kill the process; Stopped (not a
    # killed process's Failed) shows it stopped cleanly within the budget, with no clock read here
    assert dashboard.session.join(0) and isinstance(dashboard.bridge.result, Stopped)
    assert "is training" in asked[0] and "Digits MLP" in asked[0]


def test_a_graph_with_problems_is_not_trained_and_the_problem_points_at_its_node(window, qtbot):
    from layerloom.nodeeditor.panels.workspaces import DESIGN, TRAIN

    dashboard = window.dashboard
    window.workspaces.switch(TRAIN)
    window.document.graph.set_param("fc2", "out_features", 0, check=False)
    assert dashboard.start() is False and dashboard.session is None
    header = dashboard.header
    assert header.banner_kind() == "error" and 'Linear "fc2"' in header.banner_text.text()
    assert 'Linear "fc2"' in dashboard.status.text()                       # the status bar says it too
    assert any('Linear "fc2"' in window.problems.item(i).text() for i in range(window.problems.count()))
    qtbot.mouseClick(header.banner_node_button, Qt.MouseButton.LeftButton)  # "Show node"
    assert window.workspaces.current == DESIGN
    assert [i.node_id for i in window.document.scene.selectedItems()] == ["fc2"]


def test_a_dataset_mismatch_fails_setup_with_the_node_named(window, qtbot):
    dashboard = window.dashboard
    combo = dashboard.panel.editors["dataset.name"]
    combo.activated.emit(combo.findData("iris"))    # 4 features into an Input of [64]
    with qtbot.waitSignal(dashboard.runEnded, timeout=60_000) as ended:
        dashboard.start()
    failed = ended.args[0]
    assert failed.kind == "setup"
    assert any(p.node_id == "image" for p in failed.problems)
    assert dashboard.header.banner_kind() == "error" and dashboard.header.start_button.isEnabled()
    assert window.document.scene.item_for_node["image"].problem      # the node's badge
