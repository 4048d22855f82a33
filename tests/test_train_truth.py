"""What the Train workspace shows is true: a constant learning rate stays readable while runs are compared
with it; deleting the shown run shows the graph's next latest run (or nothing); the notice of another
graph's run says when it is paused and goes when it ends; "an earlier version of this graph" is said while
it is true; the live evaluation never names an epoch the header has not reached.

Runs are scripted (a stand-in for the training process that hands the window the events a real run makes)
and run folders are written by hand: the tests are about what the views say, not about training. One
window serves the module's tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox

import layerloom.training.process as process
from gui_helpers import ScriptedSession
from layerloom.files.resources import example_path
from layerloom.training.events import (EpochEnd, Failed, Finished, Paused, Resumed, RunStarted, Step,
                                       Stopped)

pytestmark = pytest.mark.gui
YES = QMessageBox.StandardButton.Yes


def _started(epochs: int = 1, spe: int = 20) -> RunStarted:
    return RunStarted(None, "cpu", "CPU (x86_64, 1 thread)", "fp32", epochs, 0, spe, spe * 32, 360, 4810,
                      "classification", tuple("0123456789"), "digits")


def test_a_constant_rate_compared_with_a_run_of_the_same_rate_is_framed_from_zero(qtbot):
    """A run selected in the Runs list, then a new run trains at the same constant rate: the rate was
    drawn at 0 on an axis of -0.4..0.4 (the framing was skipped whenever runs were compared)."""
    from layerloom.nodeeditor.dashboard.charts import TrainingCharts
    from layerloom.training.records import RunCurves

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(900, 600)
    other = RunCurves("earlier-run", np.arange(1, 21), np.linspace(2, 1, 20), [1], {"val_loss": [1.2], "lr": [1e-3]},
                      [20.0], np.arange(1, 21), np.full(20, 1e-3))
    charts.set_overlays([other])
    charts.reset(_started())
    for step in range(1, 21):
        charts.add_step(Step(1, step, 2.0 - step / 20, 1e-3, 100.0, (2.0 - step / 20,), step / 20, None))
        charts.redraw(limit=1)                        # the live dashboard's path: a chart per tick
    charts.redraw()
    view = charts.plots["lr"].getPlotItem().getViewBox()
    view.updateAutoRange()
    low, high = view.viewRange()[1]
    assert low == 0.0 and high == pytest.approx(1.25e-3)
    faster = RunCurves("faster", np.arange(1, 21), np.linspace(2, 1, 20), [1], {"lr": [5e-3]}, [20.0],
                       np.arange(1, 21), np.full(20, 5e-3))
    charts.set_overlays([other, faster])              # different rates: every curve in view
    view.updateAutoRange()
    low, high = view.viewRange()[1]
    assert low <= 1e-3 and 5e-3 <= high


# ---------------------------------------------------------------------- the window, one for the module
@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    folder = tmp_path_factory.mktemp("truth")
    patch = pytest.MonkeyPatch()
    patch.setattr(process, "ProcessSession", ScriptedSession)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(folder / "recovery"))
    settings.setValue("runs_dir", str(folder / "runs"))
    settings.setValue("train/switch_workspace", True)
    w = EditorWindow(settings)
    w.resize(1366, 768)
    w.show()
    yield w
    w.dashboard.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()
    w.deleteLater()
    patch.undo()


def runs_dir(window) -> Path:
    return Path(window.settings.value("runs_dir"))


def fake_run(window, stem: str, name: str, stamp: str, epochs: int = 2, status: str = "finished") -> Path:
    """A run folder of the example ``stem`` (graph ``name``) as the trainer leaves it, without weights."""
    folder = runs_dir(window) / f"{stem.replace('_', '-')}-{stamp}"
    folder.mkdir(parents=True)
    shutil.copy(example_path(stem), folder / "graph.llgraph.json")
    (folder / "config.json").write_text(json.dumps({"source": None, "training": {"epochs": epochs}}))
    (folder / "summary.json").write_text(json.dumps({
        "status": status, "reason": "completed" if status == "finished" else status, "message": status.title(),
        "graph": name, "source": None, "started_at": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:"
        f"{stamp[11:13]}:{stamp[13:15]}+00:00", "epoch": epochs, "epochs": epochs, "step": epochs * 23}))
    (folder / "metrics.csv").write_text("epoch,step,time_s,train_s,lr,train_loss,val_loss\n" + "".join(
        f"{e},{e * 23},{e},{e},0.001,{2 / e},{2.1 / e}\n" for e in range(1, epochs + 1)))
    return folder


def open_example(window, qtbot, stem: str) -> None:
    window.document.undo_stack.setClean()
    assert window.open_example(stem)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)   # shortcuts reach an active window


def scripted_start(window, qtbot, run_dir: Path | None = None, epochs: int = 3) -> ScriptedSession:
    """Press F5 (the scripted run starts) and hand the window its RunStarted."""
    dashboard = window.dashboard
    window.view.setFocus()
    with qtbot.waitSignal(dashboard.runStarted, timeout=5000):
        qtbot.keyClick(window.view, Qt.Key.Key_F5)
    session = dashboard.live.session
    session.events.put(RunStarted(str(run_dir) if run_dir else None, "cpu", "CPU (x86_64, 1 thread)", "fp32",
                                  epochs, 0, 5, 160, 40, 17226, "classification", tuple("0123456789"), "digits"))
    qtbot.waitUntil(lambda: dashboard.live.started is not None, timeout=5000)
    return session


def steps(epoch: int, first: int, last: int) -> list[Step]:
    return [Step(epoch, s, 2.0 / s, 1e-3, 1000.0, (2.0 / s,), s / 15, 1.0) for s in range(first, last + 1)]


def epoch_end(epoch: int) -> EpochEnd:
    metrics = {"train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch, "val_accuracy": 0.5 + epoch / 10}
    confusion = np.eye(10, dtype=np.int64) * 4
    return EpochEnd(epoch, metrics, 1e-3, 0.05, 0.04, True, {"metric": "val_loss", "value": 1.1 / epoch,
                                                             "epoch": epoch}, {"confusion": confusion})


def end_run(window, qtbot, event) -> None:
    with qtbot.waitSignal(window.dashboard.runEnded, timeout=5000):
        window.dashboard.live.session.events.put(event)


def delete_run(window, qtbot, path: Path) -> None:
    """Select the run's row in the Runs dock and press Delete (the question is answered Yes)."""
    window.findChild(QDockWidget, "runs").raise_()
    panel = window.dashboard.runs_panel
    row = [run.path for run in panel.runs()].index(path.resolve())
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.view.visualRect(panel.proxy.index(row, 0)).center())
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert not path.exists()


def views_say(window) -> str:
    d = window.dashboard
    return "\n".join([d.header.run_text(), d.header.status.text(), d.evaluation.caption.text(),
                      d.tryit.caption.text(), d.view.empty.text() if not d.view.showing_charts else ""])


def test_deleting_the_shown_run_shows_the_graphs_next_latest_run_then_nothing(window, qtbot, monkeypatch):
    from layerloom.nodeeditor.panels import runs_actions

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: YES)
    monkeypatch.setattr(runs_actions, "move_to_trash", lambda path: shutil.rmtree(path) or True)
    older = fake_run(window, "digits_mlp", "Digits MLP", "20260101-080000")
    newer = fake_run(window, "digits_mlp", "Digits MLP", "20260102-080000")
    open_example(window, qtbot, "digits_mlp")
    dashboard = window.dashboard
    trained = fake_run(window, "digits_mlp", "Digits MLP", "20260103-080000", epochs=3)   # its folder, as it ends
    scripted_start(window, qtbot, trained)
    end_run(window, qtbot, Finished("completed", 3, {"metric": "val_loss", "value": 0.7, "epoch": 3}, {}, 1.0,
                                    str(trained), "Finished in 1.0 s"))
    assert trained.name in views_say(window)

    delete_run(window, qtbot, trained)               # the run just trained, shown live: the next latest shows
    qtbot.waitUntil(lambda: newer.name in dashboard.header.run_text(), timeout=5000)
    assert trained.name not in views_say(window) and newer.name in dashboard.evaluation.caption.text()
    assert dashboard.live is None and dashboard.status.text() == ""
    graph, checkpoint = dashboard.export_source()
    assert checkpoint is None or checkpoint.exists()

    delete_run(window, qtbot, newer)                 # a run read from its folder
    qtbot.waitUntil(lambda: older.name in dashboard.header.run_text(), timeout=5000)
    assert newer.name not in views_say(window)
    delete_run(window, qtbot, older)                 # the last one: the empty state
    qtbot.waitUntil(lambda: "no run yet" in dashboard.evaluation.caption.text(), timeout=5000)
    assert older.name not in views_say(window) and "No run of “Digits MLP” yet" in dashboard.view.empty.text()
    open_example(window, qtbot, "digits_mlp")        # opened again: still nothing of the deleted runs
    assert "no run yet" in dashboard.evaluation.caption.text()


def test_the_notice_of_another_graphs_run_says_paused_and_goes_when_it_ends(window, qtbot):
    shown = fake_run(window, "digits_mlp", "Digits MLP", "20260104-080000")
    open_example(window, qtbot, "digits_cnn")
    dashboard, header = window.dashboard, window.dashboard.header
    session = scripted_start(window, qtbot, epochs=300)
    session.events.put(Step(1, 1, 2.0, 1e-3, 1000.0, (2.0,), 1 / 1500, 1.0))
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F6)      # paused, then another graph opened
    session.events.put(Paused(1, 1))
    qtbot.waitUntil(lambda: dashboard.live.state == "paused", timeout=5000)
    open_example(window, qtbot, "digits_mlp")
    assert shown.name in header.run_text() and header.banner_kind() == "info"
    assert "“Digits CNN” is paused in this window (epoch 1/300)" in header.banner_text.text()
    session.events.put(Resumed(1, 1))               # resumed (from the CNN's window, say)
    qtbot.waitUntil(lambda: "is still training" in header.banner_text.text(), timeout=5000)
    assert "Train is available when “Digits CNN” ends" in header.status.text()
    with qtbot.waitSignal(dashboard.runEnded, timeout=5000):
        qtbot.mouseClick(header.banner_button, Qt.MouseButton.LeftButton)   # "Stop it"
    assert header.banner_kind() is None and header.start_button.isEnabled()
    assert "Train is available" not in header.status.text() and shown.name in header.status.text()


def test_an_earlier_version_of_this_graph_is_said_while_it_is_true(window, qtbot):
    """Delete the loss, F5 (the run cannot start: the graph's latest run shows again), undo: the graph is
    the run's again, and the header said "an earlier version of this graph" still."""
    run = fake_run(window, "digits_mlp", "Digits MLP", "20260105-080000")
    open_example(window, qtbot, "digits_mlp")
    header = window.dashboard.header
    assert run.name in header.run_text() and "earlier version" not in header.run_text()
    window.select_node("loss")
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: "an earlier version of this graph" in header.run_text(), timeout=5000)
    with qtbot.waitSignal(window.dashboard.runStarted, timeout=5000):
        qtbot.keyClick(window.view, Qt.Key.Key_F5)
    end_run(window, qtbot, Failed("cannot train: the graph has no loss", "setup"))   # before it began
    assert run.name in header.run_text() and "an earlier version of this graph" in header.run_text()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "earlier version" not in header.run_text(), timeout=5000)
    assert run.name in header.run_text()


def test_the_evaluation_never_names_an_epoch_the_header_has_not_reached(window, qtbot):
    """Epochs of 50 ms: the evaluation showed epoch 16 while the header, moved by the redraw timer, said 13."""
    open_example(window, qtbot, "digits_mlp")
    dashboard = window.dashboard
    session = scripted_start(window, qtbot)

    def epochs() -> tuple[int, int]:
        header = re.search(r"epoch (\d+)/", dashboard.header.progress.text())
        evaluation = re.search(r"Epoch (\d+)", dashboard.evaluation.summary.text())
        return int(header.group(1)) if header else 0, int(evaluation.group(1)) if evaluation else 0

    for event in [*steps(1, 1, 5), epoch_end(1), *steps(2, 6, 10), epoch_end(2), *steps(3, 11, 12)]:
        session.events.put(event)
    dashboard.bridge.drain()                          # all at once, as after a busy moment of the window
    header_epoch, evaluation_epoch = epochs()
    assert evaluation_epoch <= header_epoch
    qtbot.waitUntil(lambda: epochs()[1] == 2, timeout=5000)   # the next redraw tick shows both
    assert epochs()[0] == 3
    session.events.put(epoch_end(3))
    with qtbot.waitSignal(dashboard.runEnded, timeout=5000):
        qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)   # Stop
    assert epochs()[1] == 3                           # the last epoch's evaluation shows at the end


def test_a_stopped_run_continues_from_the_runs_list(window, qtbot):
    """A run stopped at epoch 1 of 3 (its last.pt kept) is continued from the Runs list's menu: from its
    own checkpoint, in its own folder, to its planned epochs; a finished run is not offered."""
    from layerloom.training import Stopped as StoppedRun
    from layerloom.training import TrainingConfig
    from layerloom.training.events import EpochEnd as End

    open_example(window, qtbot, "digits_mlp")
    graph = window.document.graph
    session = None

    def stop_after_first(event):
        if isinstance(event, End):
            session.stop()

    from layerloom.training import TrainingSession

    session = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=3, device="cpu"),
                              run_root=runs_dir(window), threads=1, listeners=(stop_after_first,))
    stopped = session.run()
    assert isinstance(stopped, StoppedRun) and "last.pt, epoch 1" in stopped.message
    finished = fake_run(window, "digits_mlp", "Digits MLP", "20250101-090000")
    window.findChild(QDockWidget, "runs").raise_()
    panel = window.dashboard.runs_panel
    panel.refresh()

    def menu_for(path: Path):
        row = [run.path for run in panel.runs()].index(Path(path).resolve())
        centre = panel.view.visualRect(panel.proxy.index(row, 0)).center()
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        panel._context_menu(centre)
        return {a.text().split(" (")[0]: a for a in panel._menu.actions() if a.text()}

    entry = menu_for(finished)["Train more epochs…"]   # finished, but it kept no weights to go on from
    assert not entry.isEnabled() and entry.text() == "Train more epochs… (it saved no checkpoint)"
    entry = menu_for(stopped.run_dir)["Continue training"]
    assert entry.isEnabled()
    with qtbot.waitSignal(window.dashboard.runStarted, timeout=5000):
        entry.trigger()
    live = window.dashboard.live.session
    assert live.kwargs["resume"] == Path(stopped.run_dir).resolve() or Path(live.kwargs["resume"]) == \
        Path(stopped.run_dir)
    assert live.config.epochs == 3 and live.graph.name == graph.name
    # it starts where its checkpoint was: the charts show the run so far, then its new steps
    live.events.put(RunStarted(str(stopped.run_dir), "cpu", "CPU (x86_64, 1 thread)", "fp32", 3, 1, 23, 1437, 360,
                               17226, "classification", tuple("0123456789"), "digits"))
    charts = window.dashboard.charts
    qtbot.waitUntil(lambda: window.dashboard.live.started is not None, timeout=5000)
    assert charts.series.last_step >= 23 and charts.series.epochs.size >= 1   # epoch 1's steps and its metrics
    end_run(window, qtbot, Stopped(2, 30, stopped.run_dir, "Stopped at epoch 2, step 30; the last good checkpoint "
                                                        "(last.pt, epoch 1) is kept."))
    assert "is kept. To go on: Runs, right-click it, Continue training." in window.dashboard.header.status.text()


def test_a_finished_run_trains_more_epochs_from_the_runs_list(window, qtbot, monkeypatch):
    """A completed run (3 epochs, its last.pt kept) trains on to the epochs asked for, from its own
    checkpoint in its own folder; cancelling the question starts nothing."""
    from PySide6.QtWidgets import QInputDialog

    from layerloom.training import Finished as FinishedRun
    from layerloom.training import TrainingConfig, train

    open_example(window, qtbot, "digits_mlp")
    graph = window.document.graph
    result, _ = train(graph, TrainingConfig.from_graph(graph).replace(epochs=3, device="cpu"),
                      run_root=runs_dir(window), threads=1)
    assert isinstance(result, FinishedRun)
    panel = window.dashboard.runs_panel
    window.findChild(QDockWidget, "runs").raise_()
    panel.refresh()
    run = next(r for r in panel.runs() if r.path == Path(result.run_dir).resolve())
    asked, before = [], window.dashboard.live
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a: asked.append(a[2:]) or (6, False))
    panel.continue_run(run)
    assert window.dashboard.live is before   # cancelled: nothing started
    assert "trained 3 epochs" in asked[0][0] and asked[0][1:] == (6, 4, 100_000)   # doubled by default, 4 at least
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a: (10, True))
    with qtbot.waitSignal(window.dashboard.runStarted, timeout=5000):
        panel.continue_run(run)
    live = window.dashboard.live.session
    assert Path(live.kwargs["resume"]) == Path(result.run_dir) and live.config.epochs == 10
    end_run(window, qtbot, Stopped(4, 80, result.run_dir, "Stopped."))
