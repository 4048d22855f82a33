"""The Train workspace as a user meets it: workspaces with their own layouts, charts with room, results
that belong to their graph and run, failures where the user is looking, the run's states said plainly,
and names and places that follow the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDockWidget

from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings
from layerloom.nodeeditor.panels.workspaces import DESIGN, TRAIN
from layerloom.training.events import Failed, Finished, Stopped

pytestmark = [pytest.mark.gui]


def _close(window) -> None:
    window.dashboard.stop_and_wait()
    if window.document is not None:
        window.document.undo_stack.setClean()


def make_window(qtbot, folder: Path, size=(1366, 768)) -> EditorWindow:
    window = EditorWindow(private_settings(folder))
    qtbot.addWidget(window, before_close_func=_close)
    window.resize(*size)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)   # shortcuts reach an active window
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.open_example("digits_mlp")
    return w


def dock(window, name: str) -> QDockWidget:
    return window.findChild(QDockWidget, name)


def train(window, qtbot, epochs: int = 2, timeout: int = 120_000):
    """Set the epochs through the training form and press F5; the terminal event."""
    dashboard = window.dashboard
    assert dashboard.panel.apply(None, "epochs", epochs)
    window.view.setFocus()
    with qtbot.waitSignal(dashboard.runEnded, timeout=timeout) as ended:
        qtbot.keyClick(window.view, Qt.Key.Key_F5)
    return ended.args[0]


def trained_here(window, epochs: int = 1):
    """A finished run of the window's graph into the folder F5 would use, trained by the runtime in
    this process: for tests about how runs are shown, not how F5 starts one (each F5 run is a child
    process that imports torch, about 5 s of CPU). The terminal event."""
    from layerloom.nodeeditor.dashboard.train_view import runs_root
    from layerloom.training import TrainingConfig, TrainingSession

    document = window.document
    config = TrainingConfig.from_graph(document.graph).replace(epochs=epochs)
    result = TrainingSession(document.graph, config, run_root=runs_root(document, window.settings.value("runs_dir")),
                             base_dir=document.path.parent if document.path else None,
                             source=document.path).run()
    assert isinstance(result, Finished), result
    return result


def visible_texts(window) -> str:
    """Every text the Train workspace's results views show right now."""
    d = window.dashboard
    parts = [d.header.graph_label.text(), d.header.run_text(), d.header.status.text(), d.header.progress.text(),
             d.header.banner_text.text() if d.header.banner_kind() else "", d.status.text(),
             d.evaluation.caption.text(), d.evaluation.summary.text(), d.tryit.caption.text(),
             d.view.empty.text() if not d.view.showing_charts else ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------- workspaces
def test_workspaces_switch_by_tab_and_key_and_each_keeps_its_layout(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    assert window.workspaces.current == DESIGN
    assert dock(window, "palette").isVisible() and dock(window, "inspector").isVisible()
    assert not dock(window, "training").isVisible()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.workspaces.current == TRAIN and window.workspaces.stack.currentWidget() is window.dashboard.view
    assert all(dock(window, n).isVisible() for n in ("training", "evaluation", "tryit", "runs"))
    assert not dock(window, "palette").isVisible() and not dock(window, "inspector").isVisible()
    dock(window, "runs").hide()                       # the user's own Train layout
    tabs = window.workspaces.tabs
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(0).center())   # the Design tab
    assert window.workspaces.current == DESIGN and dock(window, "palette").isVisible()
    assert window.workspace_actions[DESIGN].isChecked()
    qtbot.keyClick(window.view, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert not dock(window, "runs").isVisible() and dock(window, "training").isVisible()   # remembered
    window.document.undo_stack.setClean()
    window.close()

    again = make_window(qtbot, tmp_path)             # the same settings: the layouts outlive the window
    assert again.workspaces.current == DESIGN and dock(again, "palette").isVisible()
    again.workspaces.switch(TRAIN)
    assert not dock(again, "runs").isVisible() and dock(again, "evaluation").isVisible()
    again.workspaces.reset_layout()
    assert dock(again, "runs").isVisible()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_train_workspace_gives_every_chart_room(qtbot, tmp_path, size):
    from layerloom.training.events import RunStarted

    window = make_window(qtbot, tmp_path, size)
    window.workspaces.switch(TRAIN)
    charts = window.dashboard.charts
    charts.reset(RunStarted(None, "cpu", "CPU", "fp32", 5, 0, 23, 1437, 360, 100, "classification",
                            tuple("0123456789"), "digits"))
    window.dashboard.view.show_charts()
    qtbot.wait(50)
    for name, plot in charts.plots.items():
        assert plot.isVisible() and plot.height() >= 220, (name, plot.height())
        legend = charts.legend(name)
        data = plot.getPlotItem().getViewBox().sceneBoundingRect()
        assert not legend.isVisible() or not legend.sceneBoundingRect().intersects(data)
    assert window.width() <= size[0]


# ---------------------------------------------------------------------- results belong to their graph
def test_another_graph_shows_nothing_of_the_graph_trained_before(window, qtbot, tmp_path):
    dashboard = window.dashboard
    result = train(window, qtbot, epochs=2)
    assert isinstance(result, Finished) and window.workspaces.current == TRAIN
    qtbot.waitUntil(lambda: dashboard.predictor is not None, timeout=60_000)
    assert dashboard.evaluation.showing == "classifier" and dashboard.tryit.predictor is not None
    run_name = Path(result.run_dir).name
    assert run_name in dashboard.header.run_text() and run_name in dashboard.evaluation.caption.text()

    window.document.undo_stack.setClean()
    window.open_example("regression_mlp")            # graph B
    assert dashboard.shown is None
    assert len(dashboard.charts.history().losses) == 0 and not dashboard.view.showing_charts
    assert dashboard.evaluation.showing == "empty" and dashboard.evaluation.matrix.matrix.size == 0
    assert dashboard.tryit.predictor is None and dashboard.predictor is None
    assert dashboard.header.state == "idle" and dashboard.header.progress.value() <= 0
    shown = visible_texts(window)
    assert "Regression MLP" in shown and "no run yet" in shown
    for trace in ("Digits", "digits", run_name, "accuracy", "epoch 2/2"):
        assert trace not in shown, trace
    assert dashboard.export_source()[1] is None       # Export would not take A's weights either

    result = train(window, qtbot, epochs=1)           # B's own run: regression metrics, not a matrix
    assert isinstance(result, Finished)
    assert dashboard.evaluation.showing == "regression" and "R²" in dashboard.evaluation.summary.text()
    assert "Regression MLP" in dashboard.header.graph_label.text()


def test_a_saved_graph_opens_with_its_own_latest_run(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.open_example("digits_mlp")
    assert window._write(tmp_path / "a.llgraph.json")
    first = trained_here(window)                                      # an earlier run of the same file
    second = train(window, qtbot, epochs=2)
    assert Path(second.run_dir).parent == tmp_path / "runs"          # beside the file
    assert window.save()
    window.open_example("regression_mlp")
    assert window._write(tmp_path / "b.llgraph.json")                 # another graph, same runs folder
    assert window.dashboard.shown is None and window.dashboard.runs_panel.runs() == []
    window.close()

    window = make_window(qtbot, tmp_path)                             # another day: read from the folders
    window.open_path(tmp_path / "a.llgraph.json")
    dashboard = window.dashboard
    assert dashboard.shown is not None and dashboard.shown.path == Path(second.run_dir)
    qtbot.waitUntil(lambda: dashboard.view.showing_charts, timeout=30_000)
    assert list(dashboard.charts.history().epochs) == [1, 2]
    assert dashboard.evaluation.showing == "classifier" and dashboard.evaluation.matrix.matrix.sum() == 360
    assert Path(second.run_dir).name in dashboard.header.run_text() and dashboard.header.state == "finished"
    assert Path(first.run_dir).name not in visible_texts(window)
    window.workspaces.switch(TRAIN)                                  # Try it loads the run's model
    qtbot.waitUntil(lambda: dashboard.tryit.predictor is not None, timeout=60_000)
    runs = dashboard.runs_panel
    assert {r.path for r in runs.runs()} == {Path(first.run_dir), Path(second.run_dir)}
    window.open_path(tmp_path / "b.llgraph.json")
    assert dashboard.shown is None and runs.runs() == [] and "No runs of" in runs.info.text()


# ---------------------------------------------------------------------- failures in sight
def _five_classes(window, qtbot) -> None:
    """The last Linear set to 5 outputs through the inspector, as a user does it."""
    window.select_node("fc3")
    editor = window.inspector.editors["out_features"]
    editor.selectAll()
    qtbot.keyClicks(editor, "5")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert window.document.graph.node("fc3").params["out_features"] == 5


def test_a_run_that_cannot_start_is_reported_where_the_user_is_looking(window, qtbot):
    dashboard = window.dashboard
    dashboard.switch_action.setChecked(False)         # stay in Design with the Inspector showing
    _five_classes(window, qtbot)
    result = train(window, qtbot)
    assert isinstance(result, Failed) and result.kind == "setup"
    assert window.workspaces.current == DESIGN and dock(window, "inspector").isVisible()
    assert "fc3" in dashboard.status.text() and "10 classes" in dashboard.status.text()   # the status bar
    problems = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert any("fc3" in text and "10 classes" in text for text in problems)              # the Problems list
    assert dock(window, "problems").isVisible()
    item = window.document.scene.item_for_node["fc3"]
    assert "10 classes" in item.problem and "10 classes" in item.toolTip()               # the node's badge
    assert dashboard.header.banner_kind() == "error" and "fc3" in dashboard.header.banner_text.text()

    window.workspaces.switch(TRAIN)                   # and the Train workspace says it in its banner
    assert dashboard.header.banner.isVisible() and dashboard.header.banner_node_button.isVisible()
    assert dashboard.header.state == "idle"           # the run never began: the graph has none yet
    assert "Ready" not in dashboard.header.status.text() and "fix" in dashboard.header.status.text()
    qtbot.mouseClick(dashboard.header.banner_node_button, Qt.MouseButton.LeftButton)
    assert window.workspaces.current == DESIGN and window.selected_node_ids() == ["fc3"]

    assert window.inspector.node_id == "fc3" and window.inspector.apply("out_features", 10)   # fixed
    qtbot.waitUntil(lambda: not window.document.scene.item_for_node["fc3"].problem, timeout=5_000)
    qtbot.waitUntil(lambda: dashboard.header.status.text().startswith("Ready to train"), timeout=5_000)


def test_with_the_default_setting_f5_shows_the_train_workspace_and_its_banner(window, qtbot):
    _five_classes(window, qtbot)
    result = train(window, qtbot)
    assert isinstance(result, Failed)
    assert window.workspaces.current == TRAIN and window.dashboard.header.banner.isVisible()
    assert "could not start" in window.dashboard.header.banner_text.text()


# ---------------------------------------------------------------------- run states
def test_stages_pause_and_stop_are_said_plainly(window, qtbot):
    dashboard = window.dashboard
    assert dashboard.panel.apply(None, "epochs", 500)
    stages = []
    dashboard.runStarted.connect(lambda: dashboard.bridge.preparing.connect(
        lambda event: stages.append((event.stage, dashboard.header.status.text()))))
    assert dashboard.start()
    qtbot.waitUntil(lambda: dashboard.bridge.last_step is not None, timeout=60_000)
    seen = [stage for stage, _ in stages]
    assert "loading_data" in seen and "compiling" in seen and seen.index("loading_data") < seen.index("compiling")
    assert all(text for _, text in stages)            # each stage was on screen when it began
    assert not dashboard.panel._body.isEnabled()      # the run's settings are read-only while it trains

    target = window.dashboard.charts          # the Train workspace is showing: keys go to what is on screen
    target.setFocus()
    with qtbot.waitSignal(dashboard.bridge.paused, timeout=10_000):
        qtbot.keyClick(target, Qt.Key.Key_F6)
    header = dashboard.header
    assert "Paused" in header.pill.text() and header.eta_label.text() == "ETA: paused"
    assert header.progress.format().startswith("Paused") and dashboard.status.text().startswith("Paused: Digits MLP")
    with qtbot.waitSignal(dashboard.runEnded, timeout=10_000) as ended:
        qtbot.keyClick(target, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    assert isinstance(ended.args[0], Stopped)
    text = header.status.text()
    assert text.lower().count("stopped at epoch") == 1 and "Stopped" in header.pill.text()
    assert dashboard.panel._body.isEnabled()


# ---------------------------------------------------------------------- names and places
def test_save_as_names_an_untitled_graph_after_its_file(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window(qtbot, tmp_path)
    window.add_at_centre("Linear")
    assert window.document.graph.name == "untitled"
    target = tmp_path / "work" / "my_mlp.llgraph.json"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.save_as()
    assert window.document.graph.name == "my_mlp" and window.document.undo_stack.isClean()
    assert json.loads(target.read_text())["name"] == "my_mlp"
    assert window.dashboard.header.graph_label.text() == "my_mlp"
    assert window.dashboard.runs_panel.root() == (tmp_path / "work" / "runs").resolve()
    assert "my_mlp" in window.windowTitle()
    window.document.undo_stack.undo()               # one undo step gives the old name back
    assert window.document.graph.name == "untitled"


def test_an_unsaved_graphs_runs_go_to_a_folder_the_runs_list_names(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.open_example("digits_mlp")
    runs = window.dashboard.runs_panel
    assert runs.root() == (tmp_path / "runs").resolve()          # the runs_dir setting here
    assert str(tmp_path / "runs") in runs.info.text()
    result = train(window, qtbot, epochs=1)
    assert Path(result.run_dir).parent == tmp_path / "runs"
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    rows = runs.runs()
    assert [r.path for r in rows] == [Path(result.run_dir).resolve()]
    assert rows[0].duration_s == pytest.approx(summary["duration_s"]) == pytest.approx(result.duration_s)


def test_with_a_warm_process_f5_skips_the_imports(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_NO_WARM", "0")
    window = make_window(qtbot, tmp_path)
    window.open_example("digits_mlp")
    window.schedule_warm()
    qtbot.waitUntil(lambda: window.warm_pool.ready_count > 0, timeout=120_000)
    stages = []
    dashboard = window.dashboard
    assert dashboard.panel.apply(None, "epochs", 1)
    dashboard.runStarted.connect(lambda: dashboard.bridge.preparing.connect(lambda event: stages.append(event.stage)))
    with qtbot.waitSignal(dashboard.runEnded, timeout=120_000) as ended:
        dashboard.start()
    assert isinstance(ended.args[0], Finished) and dashboard.session.warm_used
    assert "importing" not in stages and "first_step" in stages


# ---------------------------------------------------------------------- what a new user ran into
def test_after_a_failed_start_fixing_the_setting_lets_the_graph_train(window, qtbot, tmp_path):
    """A run refused for its settings (a dataset file that is not there) must not keep refusing once
    the setting is fixed: the last run's verdict is not the graph's."""
    dashboard = window.dashboard
    assert dashboard.panel.apply("dataset", "path", str(tmp_path / "nothing.csv"))
    failed = train(window, qtbot, epochs=1)
    assert isinstance(failed, Failed) and "nothing.csv" in dashboard.header.banner_text.text()
    assert "nothing.csv" in dashboard.view.empty.text() or not dashboard.view.showing_charts
    assert "Compiling" not in dashboard.view.empty.text()          # no stage left behind
    assert dashboard.panel.apply("dataset", "path", None)          # back to the built-in digits
    assert dashboard.header.banner_kind() is None and dashboard.status.text() == ""   # old news: gone
    assert isinstance(train(window, qtbot, epochs=1), Finished)


def test_a_value_refused_in_a_field_when_f5_is_pressed_does_not_start_a_run(window, qtbot):
    dashboard = window.dashboard
    window.workspaces.switch(TRAIN)
    lr = dashboard.panel.editors["optimizer.lr"]
    lr.setFocus()
    lr.selectAll()
    qtbot.keyClicks(lr, "1000")                       # above the allowed 100, and no Return
    qtbot.keyClick(lr, Qt.Key.Key_F5)
    assert dashboard.session is None and not dashboard.running
    assert "lr" in dashboard.header.banner_text.text() and "1,000" in dashboard.status.text()


def test_a_run_whose_loss_blew_up_says_it_did_not_learn(window, qtbot):
    dashboard = window.dashboard
    assert dashboard.panel.apply("optimizer", "lr", 50.0)
    result = train(window, qtbot, epochs=2)
    assert isinstance(result, Finished) and result.warnings
    assert dashboard.header.state == "warned" and "Did not learn" in dashboard.header.pill.text()
    assert dashboard.header.banner_kind() == "warning" and "lower learning rate" in dashboard.header.banner_text.text()
    assert dashboard.status.text().startswith("⚠")


def test_closing_asks_to_save_first_and_another_graph_while_one_trains_says_so_until_stopped(window, qtbot,
                                                                                             monkeypatch):
    """Closing asked 'stop the run?' first and 'save the changes?' second: a Cancel at the second had
    already stopped the run. Saving is asked first now. Then another graph opened while this one trains
    says so, and Train comes back once the run is stopped. (One run for both: each run is a child
    process that imports torch.)"""
    from PySide6.QtWidgets import QMessageBox

    dashboard = window.dashboard
    assert dashboard.panel.apply(None, "epochs", 500)   # an unsaved change: the save question comes
    dashboard.start()
    qtbot.waitUntil(lambda: dashboard.bridge.last_step is not None, timeout=60_000)
    asked = []
    with monkeypatch.context() as patched:
        patched.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[1]) or QMessageBox.StandardButton.Cancel)
        assert window.close() is False
    assert asked == ["Unsaved changes"] and dashboard.running     # nothing was stopped

    window.document.undo_stack.setClean()
    window.open_example("regression_mlp")
    header = dashboard.header
    assert header.banner_kind() == "info" and "Digits MLP" in header.banner_text.text()
    assert not header.start_button.isEnabled() and "Digits MLP" in header.status.text()
    first = header.banner_text.text()
    qtbot.waitUntil(lambda: header.banner_text.text() != first, timeout=10_000)   # its epoch keeps counting
    with qtbot.waitSignal(dashboard.runEnded, timeout=10_000):
        qtbot.mouseClick(header.banner_button, Qt.MouseButton.LeftButton)         # "Stop it"
    assert header.start_button.isEnabled() and header.banner_kind() is None


def test_a_run_of_another_graph_from_all_runs_is_named_with_its_own_graph(window, qtbot):
    result = trained_here(window)                                 # a Digits MLP run
    window.document.undo_stack.setClean()
    window.open_example("regression_mlp")
    dashboard = window.dashboard
    dashboard.runs_panel.all_check.setChecked(True)
    dashboard.show_run_folder(result.run_dir)                     # double-clicked in "All runs"
    assert dashboard.header.graph_label.text() == "Digits MLP"
    assert "not the open graph" in dashboard.header.run_text() and "earlier version" not in dashboard.header.run_text()
    assert dashboard.evaluation.caption.text().startswith("Digits MLP · run ")


def test_open_graph_from_the_runs_list_shows_the_run_it_came_from(window, qtbot):
    first = trained_here(window)
    second = trained_here(window)
    window.document.undo_stack.setClean()
    dashboard = window.dashboard
    dashboard.show_run_folder(second.run_dir)                     # the latest run is the one showing
    assert Path(second.run_dir).name in dashboard.header.run_text()
    dashboard.runs_panel.openGraphRequested.emit(Path(first.run_dir) / "graph.llgraph.json")
    assert dashboard.shown is not None and Path(dashboard.shown.path) == Path(first.run_dir)
    assert Path(second.run_dir).name not in dashboard.header.run_text()
