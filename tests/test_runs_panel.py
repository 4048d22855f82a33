"""The Runs panel over real run folders: two short digits MLP runs trained once for the module, plus a
killed run (no summary.json) and one whose summary.json is damaged. Driven with real mouse clicks."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QContextMenuEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox
from train_helpers import config_of, example, next_event, until_terminal

from layerloom.nodeeditor.panels import runs_actions
from layerloom.nodeeditor.panels.runs_model import BEST, COLUMNS, STATUS, STATUS_COLORS
from layerloom.nodeeditor.panels.runs_panel import RunsPanel
from layerloom.training.records import RunCurves, format_duration, read_run
from layerloom.training import Finished, RunStarted, TrainingSession, train

pytestmark = pytest.mark.gui
YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
OLD = time.time() - 3 * 86400


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """runs/: digits MLP for 2 epochs, then for 1 epoch (newer), a killed run and a damaged summary."""
    root = tmp_path_factory.mktemp("runs")
    graph = example("digits_mlp")
    two, _ = train(graph, config_of(graph, epochs=2, device="cpu"), run_root=root)
    one, _ = train(graph, config_of(graph, epochs=1, device="cpu"), run_root=root)
    assert isinstance(two, Finished) and isinstance(one, Finished)
    killed = root / "digits-mlp-20240101-080000"       # started long ago, killed in its first epoch
    killed.mkdir()
    shutil.copy(Path(two.run_dir) / "config.json", killed / "config.json")
    shutil.copy(Path(two.run_dir) / "graph.llgraph.json", killed / "graph.llgraph.json")
    damaged = root / "digits-mlp-20240102-080000"      # metrics of 2 epochs, summary.json cut short
    shutil.copytree(two.run_dir, damaged)
    (damaged / "summary.json").write_text('{"status": "fini', encoding="utf-8")
    (root / "notes").mkdir()                           # not a run: ignored
    (root / "README.txt").write_text("my runs\n")
    return SimpleNamespace(root=root, two=Path(two.run_dir), one=Path(one.run_dir), killed=killed,
                           damaged=damaged, best2=two.best, best1=one.best)


@pytest.fixture
def runs(trained, tmp_path):
    """A copy of the module's runs folder that a test may change."""
    root = tmp_path / "runs"
    shutil.copytree(trained.root, root)
    return SimpleNamespace(root=root.resolve(), **{k: root.resolve() / getattr(trained, k).name
                                                   for k in ("two", "one", "killed", "damaged")},
                           best2=trained.best2, best1=trained.best1)


@pytest.fixture
def panel(qtbot, runs):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 320)
    widget.set_root(runs.root)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def texts(panel, row: int) -> list[str]:
    proxy = panel.proxy
    return [proxy.index(row, c).data() for c in range(len(COLUMNS))]


def row_of(panel, path: Path) -> int:
    return [run.path for run in panel.runs()].index(path)


def click_row(qtbot, panel, row: int, modifier=Qt.KeyboardModifier.NoModifier, double=False) -> None:
    center = panel.view.visualRect(panel.proxy.index(row, 0)).center()
    if double:
        qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, modifier, center)
    else:
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, modifier, center)


def click_header(qtbot, panel, column: int) -> None:
    header = panel.view.header()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


# --- the list ---------------------------------------------------------------------------------------


def test_rows_show_every_run_newest_first_with_their_facts(panel, runs):
    assert [run.path for run in panel.runs()] == [runs.one, runs.two, runs.damaged, runs.killed]
    assert [panel.proxy.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == \
        ["Run", "Graph", "Status", "Best", "Epochs", "Duration", "Started"]
    summary = json.loads((runs.two / "summary.json").read_text())  # the run's own recorded times
    started = datetime.fromisoformat(summary["started_at"]).timestamp()
    best = runs.best2
    assert texts(panel, row_of(panel, runs.two)) == [
        runs.two.name, "Digits MLP", "completed", f"val_accuracy {best['value']:.3g} @ {best['epoch']}", "2/2",
        format_duration(summary["duration_s"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(started))]
    assert texts(panel, row_of(panel, runs.one))[2:5] == [
        "completed", f"val_accuracy {runs.best1['value']:.3g} @ 1", "1/1"]


def test_killed_and_damaged_runs_show_as_incomplete_with_what_their_files_tell(panel, runs):
    killed = texts(panel, row_of(panel, runs.killed))
    assert killed == [runs.killed.name, "Digits MLP", "incomplete", "–", "0/2", "–", "2024-01-01 08:00"]
    damaged = texts(panel, row_of(panel, runs.damaged))
    # no summary to read: the best epoch comes from metrics.csv and the monitor in config.json
    assert damaged[2:5] == ["incomplete", f"val_accuracy {runs.best2['value']:.3g} @ {runs.best2['epoch']}", "2/2"]
    status = panel.proxy.index(row_of(panel, runs.damaged), STATUS)
    assert "unreadable" in status.data(Qt.ItemDataRole.ToolTipRole)
    assert status.data(Qt.ItemDataRole.ForegroundRole).name() == STATUS_COLORS["incomplete"]
    completed = panel.proxy.index(row_of(panel, runs.two), STATUS)
    assert completed.data(Qt.ItemDataRole.ForegroundRole).name() == STATUS_COLORS["completed"]


@pytest.mark.parametrize("status, epoch, expected", [
    ({"status": "finished"}, 2, "completed"), ({"status": "finished"}, 1, "early stopped"),
    ({"status": "finished", "reason": "early_stopped"}, 2, "early stopped"),
    ({"status": "finished", "reason": "completed"}, 1, "completed"),
    ({"status": "stopped"}, 1, "stopped"), ({"status": "diverged"}, 1, "diverged"),
    ({"status": "failed"}, 0, "failed"), ({"status": "running"}, 1, "running"), ([1, 2], 0, "incomplete")])
def test_status_follows_the_summary(runs, status, epoch, expected):
    """The summary's reason decides; an older summary without one (the first cases) is judged by its epochs."""
    path = runs.two / "summary.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != "reason"}
    summary = {**old, **status, "epoch": epoch} if isinstance(status, dict) else status
    path.write_text(json.dumps(summary))
    assert read_run(runs.two).status == expected


def test_a_run_training_in_another_process_is_followed_until_it_ends(qtbot, panel, runs):
    path = runs.two / "summary.json"
    final = path.read_text()
    path.write_text(json.dumps({**json.loads(final), "status": "running", "epoch": 1}))
    panel.refresh()
    row = texts(panel, row_of(panel, runs.two))
    assert (row[2], row[4]) == ("running", "1/2")
    (runs.two / ".summary.tmp").write_text(final)    # the run ends: rewritten the runtime's way (atomic_write)
    os.replace(runs.two / ".summary.tmp", path)      # and the row follows without a refresh
    qtbot.waitUntil(lambda: texts(panel, row_of(panel, runs.two))[2:5:2] == ["completed", "2/2"], timeout=5000)
    assert str(runs.two) not in panel.watcher.directories()      # an ended run is watched no more


def test_a_running_summary_nobody_updates_any_more_is_incomplete(panel, runs):
    path = runs.two / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "running", "epoch": 1}))
    os.utime(path, (OLD, OLD))
    panel.refresh()
    assert texts(panel, row_of(panel, runs.two))[2] == "incomplete"


def test_clicking_headers_sorts(qtbot, panel, runs):
    click_header(qtbot, panel, BEST)
    values = [run.best_value for run in panel.runs()]
    assert values == sorted(values, key=lambda v: -1 if v is None else v) and values[0] is None
    click_header(qtbot, panel, BEST)
    assert [run.best_value for run in panel.runs()] == values[::-1]
    click_header(qtbot, panel, 0)
    assert [run.name for run in panel.runs()] == sorted(run.name for run in panel.runs())


def test_new_and_deleted_folders_appear_without_a_refresh(qtbot, panel, runs):
    copy = runs.root / "digits-mlp-20990101-000000"
    shutil.copytree(runs.one, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["started_at"] = "2099-01-01T00:00:00+00:00"         # the run's own record says when it began
    (copy / "summary.json").write_text(json.dumps(summary))
    qtbot.waitUntil(lambda: copy in [run.path for run in panel.runs()], timeout=5000)
    assert panel.runs()[0].path == copy                       # newest first
    shutil.rmtree(runs.killed)
    qtbot.waitUntil(lambda: runs.killed not in [run.path for run in panel.runs()], timeout=5000)


# --- selection and overlays ---------------------------------------------------------------------------


def test_ctrl_click_two_runs_overlays_their_curves(qtbot, panel, runs):
    first, second = row_of(panel, runs.one), row_of(panel, runs.two)
    with qtbot.waitSignal(panel.overlaysChanged, timeout=5000) as one:
        click_row(qtbot, panel, first)
    assert [c.name for c in one.args[0]] == [runs.one.name]
    with qtbot.waitSignal(panel.overlaysChanged, timeout=5000) as two:
        click_row(qtbot, panel, second, Qt.KeyboardModifier.ControlModifier)
    curves = two.args[0]
    assert [c.name for c in curves] == [runs.one.name, runs.two.name]
    for got, path in zip(curves, (runs.one, runs.two)):
        expected = RunCurves.from_run_dir(path)
        assert np.array_equal(got.losses, expected.losses) and got.metrics == expected.metrics
    assert len(curves[0].epochs) == 1 and len(curves[1].epochs) == 2
    assert "2 of 4 runs selected" in panel.info.text()
    with qtbot.waitSignal(panel.overlaysChanged, timeout=5000) as cleared:
        click_row(qtbot, panel, second, Qt.KeyboardModifier.ControlModifier)
    assert [c.name for c in cleared.args[0]] == [runs.one.name]


def test_curves_that_arrive_after_the_panel_is_gone_are_dropped(qtbot, runs, monkeypatch):
    slow = []
    monkeypatch.setattr(RunCurves, "from_run_dir", lambda path: slow.append(path) or time.sleep(0.3) or
                        RunCurves(Path(path).name))
    panel = RunsPanel()
    panel.set_root(runs.root)
    panel.select_runs([runs.one])
    tasks = list(panel._tasks.values())
    assert len(tasks) == 1 and tasks[0].thread.is_alive()     # reading on its worker thread
    panel.deleteLater()
    qtbot.wait(50)                                 # the panel is deleted; its curves come later
    qtbot.waitUntil(lambda: not tasks[0].thread.is_alive(), timeout=3000)
    qtbot.wait(100)                                # their delivery: pytest-qt fails the test on any error
    assert slow == [runs.one]


def test_the_selection_survives_a_refresh(qtbot, panel, runs):
    click_row(qtbot, panel, row_of(panel, runs.two))
    click_row(qtbot, panel, row_of(panel, runs.killed), Qt.KeyboardModifier.ControlModifier)
    (runs.root / "digits-mlp-20990101-000000").mkdir()
    panel.refresh()
    assert {run.path for run in panel.selected_runs()} == {runs.two, runs.killed}


# --- actions ------------------------------------------------------------------------------------------


def test_open_graph_and_load_checkpoint_carry_the_runs_files(qtbot, panel, runs):
    click_row(qtbot, panel, row_of(panel, runs.two))
    with qtbot.waitSignal(panel.openGraphRequested) as opened:
        qtbot.mouseClick(panel.buttons["Open graph"], Qt.MouseButton.LeftButton)
    assert opened.args == [runs.two / "graph.llgraph.json"]
    with qtbot.waitSignal(panel.loadCheckpointRequested) as loaded:
        qtbot.mouseClick(panel.buttons["Load checkpoint"], Qt.MouseButton.LeftButton)
    assert loaded.args == [runs.two / "checkpoints" / "best.pt"]

    (runs.one / "checkpoints" / "best.pt").unlink()
    click_row(qtbot, panel, row_of(panel, runs.one))
    with qtbot.waitSignal(panel.loadCheckpointRequested) as loaded:
        qtbot.mouseClick(panel.buttons["Load checkpoint"], Qt.MouseButton.LeftButton)
    assert loaded.args == [runs.one / "checkpoints" / "last.pt"]
    with qtbot.waitSignal(panel.showRunRequested) as shown:
        click_row(qtbot, panel, row_of(panel, runs.one), double=True)
    assert shown.args == [runs.one]   # a double-click shows the run's results

    click_row(qtbot, panel, row_of(panel, runs.killed))          # a graph but no checkpoint
    assert panel.buttons["Open graph"].isEnabled() and not panel.buttons["Load checkpoint"].isEnabled()


def test_the_context_menu_acts_on_the_row_under_the_mouse(qtbot, panel, runs, monkeypatch):
    opened = []
    monkeypatch.setattr(runs_actions.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    click_row(qtbot, panel, row_of(panel, runs.one))
    pos = panel.view.visualRect(panel.proxy.index(row_of(panel, runs.two), 0)).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, panel.view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(panel.view.viewport(), event)
    menu = panel._menu
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Show results", "Open graph", "Load checkpoint",
        "Train more epochs…",   # a finished run with its checkpoint: to more epochs
        "Fine-tune from this run", "Show folder", "Delete run…", "Refresh"]
    assert [run.path for run in panel.selected_runs()] == [runs.two]
    with qtbot.waitSignal(panel.loadCheckpointRequested) as loaded:
        next(a for a in menu.actions() if a.text() == "Load checkpoint").trigger()
    assert loaded.args == [runs.two / "checkpoints" / "best.pt"]
    next(a for a in menu.actions() if a.text() == "Show folder").trigger()
    assert opened == [str(runs.two)]
    menu.close()


def test_return_and_delete_reach_the_list_inside_a_window_with_the_same_shortcuts(qtbot, runs, monkeypatch):
    """The editor window has a Delete shortcut of its own (delete the selected nodes)."""
    window = QMainWindow()
    qtbot.addWidget(window)
    deleted_nodes = []
    window_delete = QAction("Delete", window)
    window_delete.setShortcut(QKeySequence.StandardKey.Delete)
    window_delete.triggered.connect(lambda: deleted_nodes.append(True))
    window.addAction(window_delete)
    panel = RunsPanel()
    window.setCentralWidget(panel)
    panel.set_root(runs.root)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    click_row(qtbot, panel, row_of(panel, runs.two))
    with qtbot.waitSignal(panel.showRunRequested) as shown:
        qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    assert shown.args == [runs.two]   # Return (and a double-click) show the run's results
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or NO)
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert len(asked) == 1 and runs.two.name in asked[0] and not deleted_nodes
    qtbot.keyClick(panel.buttons["Refresh"], Qt.Key.Key_Delete)   # elsewhere in the window: the window's own
    assert deleted_nodes == [True]


def test_delete_asks_first_and_uses_the_trash(qtbot, panel, runs, monkeypatch):
    answers, trashed = [NO], []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    monkeypatch.setattr(runs_actions, "move_to_trash", lambda path: trashed.append(path) or shutil.rmtree(path) or True)
    click_row(qtbot, panel, row_of(panel, runs.one))
    qtbot.mouseClick(panel.buttons["Delete run…"], Qt.MouseButton.LeftButton)
    assert runs.one.is_dir() and not answers and not trashed       # "No" deletes nothing

    answers.append(YES)
    click_row(qtbot, panel, row_of(panel, runs.killed), Qt.KeyboardModifier.ControlModifier)
    qtbot.mouseClick(panel.buttons["Delete run…"], Qt.MouseButton.LeftButton)
    assert trashed == [runs.one, runs.killed] and not answers
    assert [run.path for run in panel.runs()] == [runs.two, runs.damaged]


def test_delete_without_a_trash_asks_again_then_removes_the_folder(qtbot, panel, runs, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, _title, text, *a: asked.append(text) or YES)
    monkeypatch.setattr(runs_actions, "move_to_trash", lambda path: False)
    click_row(qtbot, panel, row_of(panel, runs.two))
    assert panel.delete_runs() == 1
    assert len(asked) == 2 and "permanently" in asked[1] and not runs.two.exists()
    assert runs.two not in [run.path for run in panel.runs()]


# --- live runs ----------------------------------------------------------------------------------------


def test_a_live_run_shows_running_then_its_outcome(qtbot, panel, runs, monkeypatch):
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=2, device="cpu"), run_root=runs.root)
    session.control.pause()                                   # hold it in its first epoch
    session.start()
    started, _ = next_event(session, RunStarted)
    panel.add_live(started.run_dir)
    live = Path(started.run_dir).resolve()
    row = texts(panel, row_of(panel, live))
    assert row[2] == "running" and row[4] == "0/2" and panel.runs()[0].path == live
    tooltip = panel.proxy.index(row_of(panel, live), STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "training in this window: first epoch"
    click_row(qtbot, panel, row_of(panel, live))
    assert not panel.buttons["Delete run…"].isEnabled()      # never delete a folder being written
    session.control.resume()
    result = until_terminal(session)[-1]
    assert isinstance(result, Finished)
    panel.end_live(result)
    assert texts(panel, row_of(panel, live))[2:5] == [
        "completed", f"val_accuracy {result.best['value']:.3g} @ {result.best['epoch']}", "2/2"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: YES)
    monkeypatch.setattr(runs_actions, "move_to_trash", lambda path: shutil.rmtree(path) or True)
    qtbot.mouseClick(panel.buttons["Delete run…"], Qt.MouseButton.LeftButton)
    assert live not in [run.path for run in panel.runs()]     # a finished live run can go


def test_a_live_run_outside_the_runs_folder_is_listed_too(qtbot, panel, runs, tmp_path):
    elsewhere = tmp_path / "elsewhere" / runs.one.name
    shutil.copytree(runs.one, elsewhere)
    panel.add_live(elsewhere)
    panel.refresh()
    assert texts(panel, row_of(panel, elsewhere))[2] == "running"
    panel.update_live(elsewhere, "completed")
    panel.refresh()
    assert texts(panel, row_of(panel, elsewhere))[2] == "completed"
    panel.set_root(None)
    assert [run.path for run in panel.runs()] == [elsewhere]



def test_refresh_reads_again_a_run_this_window_trained_that_changed_on_disk(qtbot, panel, runs):
    """A run the window trained and stopped, then resumed to its end with the CLI: Refresh shows what
    its summary says now, not the window's last word."""
    panel.add_live(runs.one)
    panel.update_live(runs.one, "stopped")
    assert texts(panel, row_of(panel, runs.one))[2] == "stopped"
    summary_file = runs.one / "summary.json"
    stopped = {**json.loads(summary_file.read_text()), "status": "stopped", "reason": "stopped"}
    summary_file.write_text(json.dumps(stopped))
    panel.refresh()
    assert texts(panel, row_of(panel, runs.one))[2] == "stopped"        # the files say so too
    summary_file.write_text(json.dumps({**stopped, "status": "finished", "reason": "completed",
                                        "message": "Finished"}))   # layerloom-cli train --resume, to the end
    qtbot.mouseClick(panel.buttons["Refresh"], Qt.MouseButton.LeftButton)
    assert texts(panel, row_of(panel, runs.one))[2] == "completed"
