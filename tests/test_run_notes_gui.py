"""A run that changes how it trains after it started says so in the window at once (a ``Note`` event):
the header's device shows the new thread count, a compile fallback is a notice on the banner, and the
live run keeps both, so showing it again after another run shows them still.

The run is scripted (a stand-in for the training process that hands the window the events a real run
makes), so the test does not wait on a real machine getting busy."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

import layerloom.training.process as process
from gui_helpers import ScriptedSession
from layerloom.training.events import Note, RunStarted, Step

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    monkeypatch.setattr(process, "ProcessSession", ScriptedSession)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    settings.setValue("runs_dir", str(tmp_path / "runs"))
    w = EditorWindow(settings)
    qtbot.addWidget(w, before_close_func=lambda w: (w.dashboard.stop_and_wait(), w.document.undo_stack.setClean()))
    w.resize(1300, 850)
    w.show()
    w.open_example("digits_mlp")
    return w


def test_a_thread_drop_and_a_compile_fallback_reach_the_header(window, qtbot):
    dashboard = window.dashboard
    assert dashboard.start()
    session = dashboard.live.session
    session.events.put(RunStarted(None, "cpu", "CPU (x86_64, 2 threads)", "fp32", 1, 0, 23, 1437, 360, 100,
                                  "classification", None, "digits", threads=2, threads_reason="faster than 1"))
    session.events.put(Step(1, 1, 2.3, 1e-3, 1000.0, (2.3,), 1 / 23, None))
    label = dashboard.header.device_label
    qtbot.waitUntil(lambda: label.text() == "Device: CPU, 2 threads", timeout=5000)
    session.events.put(Note(1, 2, "training goes on with 1 thread (2 slowed down 9x: the machine got busy)",
                            threads=1, threads_reason="2 slowed down 9x: the machine got busy"))
    qtbot.waitUntil(lambda: label.text() == "Device: CPU, 1 thread", timeout=5000)
    assert label.toolTip().startswith("1 thread (2 slowed down 9x: the machine got busy)")
    assert "1 thread" in dashboard.status.text()
    assert not dashboard.header.banner.isVisible()   # fewer threads: the device says it, no banner
    session.events.put(Note(1, 3, "compile: training uncompiled: torch.compile failed during the run (X)"))
    qtbot.waitUntil(lambda: dashboard.header.banner.isVisible(), timeout=5000)
    assert "Epoch 1, step 3: compile: training uncompiled" in dashboard.header.banner_text.text()
    live = dashboard.live
    assert live.started.threads == 1 and len(live.notes) == 2
    # another graph's view, then the live run again: its header is still about it
    dashboard.header.set_device("CPU")
    dashboard._show_live()
    assert label.text() == "Device: CPU, 1 thread"


def test_f5_on_a_graph_without_a_loss_offers_to_add_one(window, qtbot):
    """The set-up refusal names the missing loss and its banner's Add a Loss button adds a Target and a
    CrossEntropyLoss wired to the prediction, as one undo step; the graph then has nothing to refuse."""
    from PySide6.QtCore import Qt

    from layerloom.model.analysis import Problem
    from layerloom.training.events import Failed

    document = window.document
    loss = next(n for n in document.graph if n.type_id == "CrossEntropyLoss")
    document.scene.clearSelection()
    document.scene.item_for_node[loss.id].setSelected(True)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)   # the user deletes the loss
    assert loss.id not in document.graph.nodes
    before = {n.id for n in document.graph}
    dashboard = window.dashboard
    assert dashboard.start()
    dashboard.live.session.events.put(Failed("cannot train: the graph has no loss to train", "setup",
                                             problems=(Problem("no_loss", "the graph has no loss to train"),)))
    header = dashboard.header
    qtbot.waitUntil(lambda: header.banner.isVisible() and header.banner_button.isVisible(), timeout=5000)
    assert header.banner_button.text() == "Add a Loss"
    qtbot.mouseClick(header.banner_button, Qt.MouseButton.LeftButton)
    added = {n.id: n for n in document.graph if n.id not in before}
    kinds = sorted(n.type_id for n in added.values())
    assert kinds in (["CrossEntropyLoss"], ["CrossEntropyLoss", "Target"])   # the digits file's label is reused
    assert not header.banner.isVisible() and not document.bridge.current().errors
    new_loss = next(i for i, n in added.items() if n.type_id == "CrossEntropyLoss")
    assert document.scene.item_for_node[new_loss].isSelected()   # shown and selected in the Design workspace
    assert "press F5 to train" in window.statusBar().currentMessage()
    document.undo_stack.undo()
    assert {n.id for n in document.graph} == before
    # from the Run menu, on a graph that has its loss again: refused, with the reason
    document.undo_stack.redo()
    dashboard.add_loss_action.trigger()
    assert "has a loss already" in window.statusBar().currentMessage()


def test_a_recorded_run_shows_the_device_it_trained_on_not_this_machines(window, qtbot, tmp_path):
    """A run read back from its folder names the device it trained on (a colleague's GPU run, say), and
    a graph with no run the device a run would use here."""
    import json

    from layerloom.training import TrainingConfig, train

    config = TrainingConfig.from_graph(window.document.graph).replace(steps=2, device="cpu")
    result, _ = train(window.document.graph, config, run_root=tmp_path / "elsewhere", threads=1)
    record_file = tmp_path / "elsewhere" / result.run_dir.split("/")[-1] / "config.json"
    record = json.loads(record_file.read_text())
    record["device"].update(type="cuda", name="NVIDIA H100 80GB HBM3", precision="bf16")
    record_file.write_text(json.dumps(record))
    dashboard = window.dashboard
    label = dashboard.header.device_label
    dashboard.probe_device()   # as the app does after start-up
    qtbot.waitUntil(lambda: dashboard.machine_device != "", timeout=20000)
    dashboard.show_run_folder(result.run_dir)
    qtbot.waitUntil(lambda: label.text() == "Device: NVIDIA H100 80GB HBM3, bf16", timeout=10000)
    window.new_document()   # a graph with no run: this machine again
    assert label.text() == f"Device: {dashboard.machine_device}"


def test_a_runs_setup_notes_stay_in_sight_while_it_trains(window, qtbot):
    """A fallback said at the start (compile on, no C++ compiler) is on the banner, not on the line the
    progress overwrites at the first step."""
    dashboard = window.dashboard
    assert dashboard.start()
    dashboard.live.session.events.put(RunStarted(
        None, "cpu", "CPU (x86_64, 1 thread)", "fp32", 1, 0, 23, 1437, 360, 100, "classification", None, "digits",
        notes=("compile: training uncompiled: no C++ compiler found",), threads=1, threads_reason="as asked"))
    dashboard.live.session.events.put(Step(1, 1, 2.3, 1e-3, 1000.0, (2.3,), 1 / 23, None))
    header = dashboard.header
    qtbot.waitUntil(lambda: header.banner.isVisible(), timeout=5000)
    assert header.banner_text.text() == "Notes on this run: compile: training uncompiled: no C++ compiler found"
    assert header.banner_kind() == "info"
