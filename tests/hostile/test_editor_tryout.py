"""The editor tried as a new user meets hostile input (issue 15): what the window shows must be true, and
nothing a user does may crash, hang or lose work. Each test is a fault found by driving the real app under
Xvfb, reduced to the window offscreen.

A test that would block on a named pipe (FIFO) if the fault came back opens the pipe's other end after a
while instead: it then fails, naming what blocked, rather than hanging the suite.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from pathlib import Path

import pytest
from helpers import mlp_graph
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QScrollArea

from layerloom import save_graph

pytestmark = [pytest.mark.gui, pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")]

UNBLOCK_AFTER_S = 15.0   # a reader still blocked on a pipe after this long is hung


@contextlib.contextmanager
def unblocking(fifos: list[Path], after: float = UNBLOCK_AFTER_S):
    """Yields a list that names each pipe some reader was still blocked on after ``after`` seconds (its
    writer end was then opened and closed, which hands the reader an end of file)."""
    blocked: list[str] = []
    done = threading.Event()

    def watch() -> None:
        if done.wait(after):
            return
        while not done.wait(0.05):   # until the reader is through: it may block on the next pipe
            for fifo in fifos:
                try:  # a non-blocking open for writing succeeds only while someone reads
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    blocked.append(fifo.name)
                except OSError as exc:
                    if exc.errno != errno.ENXIO:
                        raise

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield blocked
    finally:
        done.set()
        watcher.join()


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


@pytest.fixture
def window(editor_window):
    return editor_window


# ------------------------------------------------------------------ a run folder holding pipes
def _run_folder(root: Path, name: str) -> Path:
    """A finished run's files, written by hand (what the Runs list reads; no training needed)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({
        "status": "finished", "reason": "completed", "message": "finished", "graph": "mlp", "epoch": 2,
        "epochs": 2, "best": {"metric": "val_accuracy", "value": 0.5, "epoch": 2}}), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"training": {"epochs": 2}}), encoding="utf-8")
    (folder / "metrics.csv").write_text("epoch,step,train_loss,val_accuracy\n1,1,1.0,0.4\n2,2,0.9,0.5\n")
    (folder / "steps.csv").write_text("step,epoch,loss,lr\n1,1,1.0,0.1\n2,2,0.9,0.1\n")
    (folder / "evaluation.json").write_text(json.dumps({"epoch": 2, "task": "classification"}))
    save_graph(mlp_graph(), folder / "graph.llgraph.json")
    return folder


def test_a_pipe_in_a_run_folder_never_blocks_the_runs_list_and_the_other_runs_are_listed(qtbot, tmp_path):
    """Found: a FIFO named summary.json (or config.json, metrics.csv, the graph) in one run folder froze
    the editor at start-up, before its window showed (the Runs list reads every run folder)."""
    from layerloom.nodeeditor.dashboard.charts import RunCurves
    from layerloom.nodeeditor.panels.runs_panel import RunsPanel
    from layerloom.training.records import INCOMPLETE, read_evaluation

    root = tmp_path / "runs"
    good = _run_folder(root, "mlp-20260101-080000")
    odd = _run_folder(root, "mlp-20260101-090000")
    fifos = [_fifo(odd / name) for name in ("summary.json", "config.json", "metrics.csv", "steps.csv",
                                            "evaluation.json", "graph.llgraph.json")]
    panel = RunsPanel()
    qtbot.addWidget(panel)
    with unblocking(fifos) as blocked:
        panel.set_root(root)
        curves = RunCurves.from_run_dir(odd)
        evaluation = read_evaluation(odd)
    assert not blocked, f"reading the run folder blocked on {blocked}"
    rows = {run.name: run for run in panel.runs()}
    assert set(rows) == {good.name, odd.name}
    assert rows[good.name].best_value == 0.5
    assert rows[odd.name].status == INCOMPLETE and "summary.json is unreadable" in rows[odd.name].message
    assert curves.epochs == [] and len(curves.losses) == 0
    assert not evaluation


# ------------------------------------------------------------------ a file that cannot open, at start-up
def test_a_file_that_cannot_open_before_the_window_shows_is_said_once_it_shows(window, qtbot, tmp_path,
                                                                                monkeypatch):
    """Found: `layerloom FIFO` showed its "Cannot open" box before the window (alone on the screen), and
    `layerloom FILE --screenshot OUT.png` waited for a click on it forever."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *rest: shown.append((parent, text)))
    window.hide()
    assert window.open_path(_fifo(tmp_path / "pipe.llgraph.json")) is False
    assert shown == []                                   # nothing floats before the window
    assert "pipe.llgraph.json" in window.statusBar().currentMessage()
    window.show()
    qtbot.waitUntil(lambda: bool(shown))
    assert shown[0][0] is window and "pipe.llgraph.json" in shown[0][1] and "named pipe" in shown[0][1]
    assert len(window.document.graph) == 0               # an empty graph, usable


def test_screenshot_of_a_file_that_cannot_open_says_why_and_returns(qtbot, tmp_path, monkeypatch, capsys):
    from layerloom.nodeeditor import app
    from layerloom.nodeeditor.window import main_window
    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args))

    def window_in_tmp():
        made = EditorWindow(private_settings(tmp_path))
        qtbot.addWidget(made)
        return made

    monkeypatch.setattr(main_window, "EditorWindow", window_in_tmp)
    pipe = _fifo(tmp_path / "pipe.llgraph.json")
    shot = tmp_path / "shot.png"
    with unblocking([pipe]) as blocked:
        status = app.main([str(pipe), "--screenshot", str(shot)])
    assert not blocked and shown == []
    assert status == 1 and shot.stat().st_size > 1000
    err = capsys.readouterr().err
    assert "layerloom: error: " in err and "pipe.llgraph.json" in err and "named pipe" in err


# ------------------------------------------------------------------ a plugin stopped after it loaded
def test_help_plugins_names_a_plugin_whose_infer_was_stopped(window, tmp_path, monkeypatch):
    """Found: Help > Plugins listed a plugin whose infer() had run out of time (and is no longer called)
    with a ✔ as if it worked."""
    import layerloom.catalog.plugin_guard as guard
    import layerloom.catalog.plugins as plugins
    from layerloom import Graph, analyze
    from layerloom.catalog.builtin import builtin_specs
    from layerloom.catalog.spec import Catalog

    monkeypatch.setenv(guard.ENV, "0.2")
    monkeypatch.setattr(guard, "_given_up", {})         # this test's stopped calls only
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "loopy.py").write_text(
        "from layerloom.catalog.spec import NodeSpec\n\n"
        "def _infer(ctx):\n    while True:\n        pass\n\n"
        "def _build(ctx):\n    from torch import nn\n    return nn.Identity()\n\n"
        "NODES = [NodeSpec('LoopyInfer', 'Hostile', 'loops', infer=_infer, build=_build, "
        "count_params=lambda ctx: 0)]\n")
    catalog = Catalog().extend(builtin_specs())
    monkeypatch.setattr(plugins, "_LAST_REPORT", plugins.load_plugins(catalog, [folder], entry_points=False))
    assert "✔ loopy: LoopyInfer" in window.plugins_text()
    g = Graph(name="loops", catalog=catalog)
    g.add_node("Input", "x", {"shape": [4]}, node_id="x")
    g.add_node("LoopyInfer", "h", node_id="h")
    g.add_node("Output", "y", node_id="y")
    g.connect("x", "out", "h", "in")
    g.connect("h", "out", "y", "in")
    assert any("did not return" in p.message for p in analyze(g).problems)
    text = window.plugins_text()
    assert "✔ loopy" not in text
    assert "⚠ loopy: LoopyInfer; but LoopyInfer's infer() did not return within 0.2 s" in text
    assert "until LayerLoom restarts" in text


# ------------------------------------------------------------------ "Cannot train" after the fix
def test_cannot_train_goes_away_once_the_problem_is_fixed(window, qtbot, tmp_path):
    """Found: F5 on a graph with a problem said "✖ Cannot train: ..." in the status bar (and the Train
    banner), and kept saying it after the user fixed the problem."""
    g = mlp_graph()
    g.set_param("fc2", "out_features", 0, check=False)
    window.open_path(save_graph(g, tmp_path / "bad.llgraph.json"))
    dashboard = window.dashboard
    window.dashboard.train_action.trigger()
    assert dashboard.status.text().startswith("✖ Cannot train") and dashboard.header.banner_kind() == "error"
    window.select_node("fc2")
    editor = window.inspector.editors["out_features"]
    editor.selectAll()
    qtbot.keyClicks(editor, "10")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.document.bridge.current().errors)
    qtbot.waitUntil(lambda: "Cannot train" not in dashboard.status.text())
    assert dashboard.header.banner_kind() is None


def test_a_refused_checkpoint_is_named_once(window, qtbot, tmp_path, monkeypatch):
    """Found: Runs > Load checkpoint on a damaged file said its path twice ("best.pt:\\nbest.pt: damaged
    checkpoint: ...")."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *rest: shown.append(text))
    window.open_path(save_graph(mlp_graph(), tmp_path / "mlp.llgraph.json"))
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"not a checkpoint at all")
    window.dashboard.load_checkpoint(bad)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert shown[0].count(str(bad)) == 1 and "not a readable LayerLoom checkpoint" in shown[0]


# ------------------------------------------------------------------ a graph named relative to the current folder
def test_a_graph_opened_by_a_relative_path_is_known_by_its_absolute_one(window, tmp_path, monkeypatch):
    """Found: `layerloom full/disk.llgraph.json` trained into runs/ beside it, but every message named the
    run folder relative to the folder the editor was started from ("cannot save ... in full/runs/...")."""
    from layerloom.nodeeditor.dashboard.train_view import runs_root

    (tmp_path / "work").mkdir()
    save_graph(mlp_graph(), tmp_path / "work" / "mlp.llgraph.json")
    monkeypatch.chdir(tmp_path)
    assert window.open_path(Path("work") / "mlp.llgraph.json")
    assert window.document.path == tmp_path / "work" / "mlp.llgraph.json"
    assert runs_root(window.document) == tmp_path / "work" / "runs"


def test_a_full_disk_says_how_to_resume_the_run(tmp_path):
    """Found: a run stopped by a full disk said "free some space, then resume the run", but the window
    has no way to resume a run: it now names the command that does."""
    from layerloom.nodeeditor.dashboard.run_texts import failure_text
    from layerloom.training import Failed

    run = str(tmp_path / "runs" / "mlp-20260101-080000")
    full = Failed(f"disk full: cannot save the checkpoint best.pt in {run}; the last good checkpoint (last.pt, "
                  "epoch 1) is kept; training stopped at epoch 1: free some space, then resume the run",
                  "disk_full", 1, 1, run_dir=run)
    text = failure_text("mlp", full)
    assert text.startswith("Training “mlp” failed: disk full") and f'layerloom-cli train --resume "{run}"' in text
    assert "--resume" not in failure_text("mlp", Failed("boom", "error", run_dir=run))


def test_the_export_folder_shown_is_the_folder_written(qtbot, tmp_path, monkeypatch):
    """Found: with a graph opened by a relative path, Export showed "full/export/disk" as its folder and
    wrote to "full/export/full/export/disk" (the shown text was read against the default folder again)."""
    from layerloom.nodeeditor.panels.export_dialog import ExportDialog

    monkeypatch.chdir(tmp_path)
    dialog = ExportDialog(mlp_graph(), None, Path("work"), Path("work") / "export")
    qtbot.addWidget(dialog)
    assert dialog.folder() == tmp_path / "work" / "export" / "mlp"
    assert Path(dialog.path_edit.text()) == dialog.folder()
    dialog.path_edit.setText("elsewhere")                    # a relative folder typed by the user
    assert dialog.folder() == tmp_path / "work" / "export" / "elsewhere"


def test_try_it_shows_nothing_of_the_last_run_when_the_next_has_no_samples(qtbot):
    """Found: with the dataset file replaced by a pipe, Try it of another run said "no dataset samples
    (...named pipe...)" under the previous run's sample, its true class and a prediction."""
    from types import SimpleNamespace

    from layerloom.nodeeditor.dashboard.tryit import TryItPanel
    from layerloom import load_graph
    from layerloom.training.inference import Predictor
    from layerloom.files.resources import example_path

    panel = TryItPanel(Predictor(load_graph(example_path("digits_mlp"))))
    qtbot.addWidget(panel)
    panel.sources.setCurrentIndex(0)
    panel.show_sample(3)
    assert panel.bars.rows() and "true class" in panel.truth.text() and panel.sample_view.image is not None
    without_samples = SimpleNamespace(image_shape=None, is_classifier=True, has_samples=False, eval_split="val",
                                      trained=True, note="no dataset samples (data.csv: is a named pipe)")
    panel.set_predictor(without_samples)
    assert panel.bars.rows() == [] and panel.truth.text() == "" and panel.last_prediction is None
    assert panel.sample_view.image is None and panel.sample_view.table.rowCount() == 0
    assert "named pipe" in panel.status.text()


def test_without_samples_the_gallery_never_says_there_are_no_mistakes(window):
    """Found: with the run's dataset replaced by a pipe, the Evaluation tab said "No mistakes on the
    validation split" under a 33% accuracy: nothing had been checked. A regression kept an earlier run's
    points."""
    from types import SimpleNamespace

    note = "no dataset samples (/data/good.csv: is a named pipe, not a regular file)"
    predictor = SimpleNamespace(image_shape=None, is_classifier=True, has_samples=False, eval_split="val",
                                trained=True, note=note, weights_epoch=1, classes=("a", "b"), value_range=None,
                                task="classification")
    dashboard, evaluation = window.dashboard, window.dashboard.evaluation
    evaluation.set_misclassified([], ("a", "b"))
    assert evaluation.gallery.empty.text() == "No mistakes on the validation split"   # checked, none found
    dashboard._show_predictor(predictor, [])
    assert evaluation.gallery.empty.text() == f"Mistakes cannot be listed: {note}"
    evaluation.set_regression_points([1.0, 2.0], [1.1, 2.2])
    dashboard._show_predictor(SimpleNamespace(**{**predictor.__dict__, "is_classifier": False,
                                                 "task": "regression"}), [])
    assert evaluation.regression.count == 0 and note in evaluation.regression.note.text()


def test_a_long_word_in_a_problem_never_widens_the_inspector(window, qtbot, tmp_path):
    """Found: a Formula with a 401-digit literal put its problem under the form as one unbreakable word:
    the inspector grew a horizontal scroll bar and its fields slid out of sight."""
    import json as json_module

    from layerloom.files.resources import example_path

    data = json_module.loads(example_path("digits_mlp").read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if node["id"] == "relu1":
            node["type"], node["params"] = "Formula", {"expression": "x*1" + "0" * 400}
    for edge in data["edges"]:
        if edge["to"][0] == "relu1":
            edge["to"][1] = "x"
    path = tmp_path / "huge.llgraph.json"
    path.write_text(json_module.dumps(data), encoding="utf-8")
    assert window.open_path(path)
    window.select_node("relu1")
    inspector = window.inspector
    scroll = inspector.findChild(QScrollArea)
    editor = inspector.editors["expression"]
    editor.selectAll()
    qtbot.keyClicks(editor, "x*1" + "0" * 300)       # refused where it is typed, with the same long word
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert "301 digits" in inspector.fields.problem("expression")
    qtbot.wait(50)
    assert not scroll.horizontalScrollBar().isVisible()
    assert scroll.widget().width() <= scroll.viewport().width()


def test_export_of_a_damaged_checkpoint_no_longer_claims_trained_weights(qtbot, tmp_path):
    """Found: Export of a run whose best.pt was garbage said "Trained weights from best.pt" in green above
    "FAILED: the export could not start: best.pt: not a readable LayerLoom checkpoint"."""
    from layerloom.nodeeditor.panels.export_dialog import ExportDialog

    bad = tmp_path / "best.pt"
    bad.write_bytes(b"\x00garbage, not a checkpoint")
    dialog = ExportDialog(mlp_graph(), bad, tmp_path, tmp_path / "export")
    qtbot.addWidget(dialog)
    dialog.in_process = False   # a thread of this process: no child needed for a file that is refused at once
    assert dialog.weights_label.property("role") == "trained"
    with qtbot.waitSignal(dialog.finished, timeout=60000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].error and str(bad) in blocker.args[0].error
    banner = dialog.weights_label
    assert banner.property("role") == "error" and "Trained weights" not in banner.text()
    assert "Unreadable weights" in banner.text() and "best.pt" in banner.text()


def test_a_pasted_node_that_cannot_be_added_is_named_not_dropped_silently(window):
    """Found: pasting a copied graph whose Formula held a 401-digit literal added the other 8 nodes and
    left the Formula (and its wires) out without a word."""
    from layerloom.nodeeditor.document.clipboard import selection_text

    window.open_example("digits_mlp")
    graph = window.document.graph
    text = selection_text(graph, list(graph.nodes))
    data = json.loads(text)
    for node in data["nodes"]:
        if node["id"] == "relu1":
            node["type"], node["params"] = "Formula", {"expression": "x*1" + "0" * 400}
    before = len(graph)
    new = window.paste(json.dumps(data))
    assert len(new) == before - 1 and len(graph) == 2 * before - 1
    said = window.statusBar().currentMessage()
    assert said.startswith(f"Pasted {before - 1} node(s); left out Formula “relu1”: expression")
    assert "401 digits" in said


@pytest.mark.parametrize("ui", [None, {"x": 1e300, "y": 0.0}, {"x": "left", "y": [1]}], ids=["none", "huge", "text"])
def test_nodes_without_a_usable_position_do_not_hide_under_each_other(window, tmp_path, ui):
    """Found: a graph written by hand (no "ui", which the format allows) opened with its 9 nodes stacked
    at (0, 0): one card showed, "9 nodes" said the status bar. Positions like 1e300 or "left" did the same."""
    from layerloom.files.resources import example_path

    data = json.loads(example_path("digits_mlp").read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if ui is None:
            node.pop("ui", None)
        elif node["id"] in ("fc1", "relu1"):
            node["ui"] = dict(ui)
    path = tmp_path / "by_hand.llgraph.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert window.open_path(path)
    items = window.document.scene.item_for_node
    rects = {nid: item.sceneBoundingRect() for nid, item in items.items()}
    overlapping = [(a, b) for a in rects for b in rects if a < b and rects[a].intersects(rects[b])]
    assert overlapping == []
    moved = len(data["nodes"]) if ui is None else 2
    assert window.statusBar().currentMessage().startswith(f"{moved} node(s) had no usable position in by_hand")
    assert window.document.undo_stack.isClean()   # nothing the user did: not an edit to undo
    if ui is not None:   # the nodes the file placed stay where it put them
        saved = next(node["ui"] for node in data["nodes"] if node["id"] == "fc2")
        assert window.document.graph.node("fc2").position == (saved["x"], saved["y"])
