"""The training panel edits the graph's training section through the undo stack, and the run bridge
carries a real run's events to the GUI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.adapters.run_bridge import RunBridge
from layerloom.nodeeditor.panels.training_panel import TrainingPanel
from layerloom.training.records import format_duration
from layerloom import dumps_graph, load_graph
from layerloom.files.resources import example_path

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot):
    document = Document(load_graph(example_path("digits_mlp")))
    widget = TrainingPanel()
    qtbot.addWidget(widget)
    widget.set_document(document)
    widget.resize(380, 900)
    widget.show()
    yield widget
    document.close()


def test_editing_a_setting_is_one_undo_step_saved_in_the_graph(panel, qtbot):
    doc = panel.document
    before = dumps_graph(doc.graph)
    lr = panel.editors["optimizer.lr"]
    lr.selectAll()
    qtbot.keyClicks(lr, "0.01")
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert doc.graph.training["optimizer"]["lr"] == 0.01
    assert panel.editors["optimizer.lr"].text() == "0.01"  # the form was rebuilt from the model
    doc.undo_stack.undo()
    assert dumps_graph(doc.graph) == before
    assert panel.editors["optimizer.lr"].text() == "0.001"


def test_a_refused_setting_says_why_and_changes_nothing(panel, qtbot):
    doc = panel.document
    before = dumps_graph(doc.graph)
    lr = panel.editors["optimizer.lr"]
    lr.selectAll()
    qtbot.keyClicks(lr, "0")
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert dumps_graph(doc.graph) == before and doc.undo_stack.count() == 0
    assert panel.errors["optimizer.lr"].isVisible()
    assert "greater than 0" in panel.errors["optimizer.lr"].text()


def test_choosing_a_builtin_dataset_and_a_choice(panel):
    combo = panel.editors["dataset.name"]
    combo.activated.emit(combo.findData("iris"))
    assert panel.document.graph.training["dataset"]["name"] == "iris"
    optimizer = panel.editors["optimizer.name"]
    optimizer.activated.emit(optimizer.findData("sgd"))
    assert panel.document.graph.training["optimizer"]["name"] == "sgd"
    assert panel.document.undo_stack.count() == 2


def test_a_running_graph_keeps_its_settings_read_only_and_says_why(panel):
    panel.show()
    panel.set_running(True)
    assert not panel._body.isEnabled() and panel.note.isVisible() and "when it ends" in panel.note.text()
    panel.set_running(False)
    assert panel._body.isEnabled() and not panel.note.isVisible()


def test_the_run_header_controls_follow_the_run_state(qtbot):
    from layerloom.nodeeditor.dashboard.run_header import IDLE, PAUSED, RUNNING, STARTING, RunHeader

    header = RunHeader()
    qtbot.addWidget(header)
    header.set_state(STARTING)
    assert not header.start_button.isEnabled() and header.stop_button.isEnabled()
    assert not header.pause_button.isEnabled() and header.progress.maximum() == 0   # busy while preparing
    header.set_state(RUNNING)
    assert header.pause_button.isEnabled() and header.pause_button.text() == "Pause"
    header.set_state(PAUSED)
    assert header.pause_button.text() == "Resume" and "Paused" in header.pill.text()
    assert header.eta_label.text() == "ETA: paused"
    with qtbot.waitSignal(header.resumeRequested):
        header.pause_button.click()
    header.set_state(IDLE)
    assert header.start_button.isEnabled() and not header.stop_button.isEnabled()


def test_format_duration():
    assert [format_duration(s) for s in (None, 0.04, 5, 12.4, 65, 3725)] == [
        "–", "0.0 s", "5.0 s", "12 s", "1:05", "1:02:05"]


def test_the_bridge_delivers_every_step_and_epoch_on_the_gui_thread(qtbot):
    from layerloom.training import TrainingConfig, TrainingSession
    from layerloom.training.events import Finished

    graph = load_graph(example_path("digits_mlp"))
    config = TrainingConfig.from_graph(graph).replace(epochs=2)
    session = TrainingSession(graph, config, threads=1)
    bridge = RunBridge(session, interval_ms=20)
    seen = {"steps": 0, "epochs": [], "threads": set()}

    def on_steps(steps):
        seen["steps"] += sum(len(s.losses) for s in steps)
        seen["threads"].add(threading.current_thread().name)

    bridge.steps.connect(on_steps)
    bridge.epochEnded.connect(lambda end: seen["epochs"].append(end.epoch))
    with qtbot.waitSignal(bridge.finished, timeout=60_000) as finished:
        bridge.start()
    assert isinstance(finished.args[0], Finished)
    assert seen["epochs"] == [1, 2]
    assert seen["steps"] == 2 * bridge.run_started.steps_per_epoch  # no step lost
    assert seen["threads"] == {threading.main_thread().name}
    assert not bridge.running
