"""The `layerloom` editor window, driven like a user: open, examples, problems, palette, inspector."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import mlp_graph
from PySide6.QtCore import QSettings, Qt

from layerloom import save_graph

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    w = EditorWindow(settings)
    qtbot.addWidget(w, before_close_func=_discard_changes)
    w.resize(1300, 800)
    w.show()
    return w


def _discard_changes(window) -> None:
    """Closing a test's window must not stop at the "unsaved changes" question."""
    if window.document is not None:
        window.document.undo_stack.setClean()


def test_opens_an_example_with_its_totals(window):
    window.open_example("digits_cnn")
    assert window.windowTitle() == "Digits CNN[*] - LayerLoom"
    assert "13,706 parameters" in window.totals.text()
    assert window.problems.item(0).text() == "No problems."
    assert len(window.document.scene.item_for_node) == 14


def test_examples_menu_lists_every_example(window):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    examples = next(a.menu() for a in file_menu.actions() if a.text() == "&Examples")
    titles = [a.text() for a in examples.actions()]
    assert titles == ["Digits CNN", "Digits MLP", "Digits ResNet", "MNIST CNN", "MNIST MLP", "Regression MLP",
                      "Digits LSTM"]
    examples.actions()[6].trigger()
    assert window.document.graph.name == "Digits LSTM"
    assert window.windowTitle() == "Digits LSTM[*] - LayerLoom"


def test_clicking_a_problem_selects_and_centres_its_node(window, qtbot, tmp_path):
    g = mlp_graph()
    g.set_param("fc2", "out_features", 0, check=False)
    window.open_path(save_graph(g, tmp_path / "bad.llgraph.json"))
    problems = window.problems
    assert problems.count() == 1 and 'Linear "fc2"' in problems.item(0).text()
    rect = problems.visualItemRect(problems.item(0))
    qtbot.mouseClick(problems.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    selected = window.document.scene.selectedItems()
    assert [i.node_id for i in selected] == ["fc2"]
    assert window.document.scene.item_for_node["fc2"].problem


def test_an_unreadable_file_shows_a_message_and_keeps_the_current_graph(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window.open_example("digits_mlp")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert window.open_path(bad) is False
    assert "invalid JSON at line 1" in shown[0]
    assert window.document.graph.name == "Digits MLP"


def test_double_clicking_a_palette_entry_adds_the_node_and_undo_removes_it(window, qtbot):
    window.open_example("digits_mlp")
    before = len(window.document.graph)
    item = window.palette_widget.item_for("Dropout")
    tree = window.palette_widget.tree
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # starts with a press
    assert len(window.document.graph) == before + 1
    assert [n for n in window.document.graph][-1].type_id == "Dropout"
    assert window.isWindowModified()
    window.undo_action.trigger()
    assert len(window.document.graph) == before and not window.isWindowModified()


def test_palette_search_filters_by_name_alias_and_description(window, qtbot):
    palette = window.palette_widget
    qtbot.keyClicks(palette.search, "conv")
    assert set(palette.visible_types()) >= {"Conv1d", "Conv2d", "ConvTranspose2d"} and "ReLU" not in palette.visible_types()
    palette.search.clear()
    qtbot.keyClicks(palette.search, "swish")  # an alias of SiLU
    assert palette.visible_types() == ["SiLU"]


def test_the_inspector_edits_a_parameter_and_refuses_a_bad_one(window, qtbot):
    window.open_example("digits_mlp")
    scene = window.document.scene
    scene.item_for_node["fc1"].setSelected(True)
    editor = window.inspector.editors["out_features"]
    editor.selectAll()
    qtbot.keyClicks(editor, "32")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert window.document.graph.node("fc1").params["out_features"] == 32
    window.document.bridge.reanalyze()
    assert "2,080 params" in scene.item_for_node["fc1"].footer  # 64*32 + 32
    scene.clearSelection()
    scene.item_for_node["image"].setSelected(True)
    shape = window.inspector.editors["shape"]
    shape.setText("0, 8")
    qtbot.keyClick(shape, Qt.Key.Key_Return)
    assert window.document.graph.node("image").params["shape"] == [64]
    assert "sizes must be at least 1" in window.inspector.errors["shape"].text()


def test_undo_and_redo_name_the_command_they_will_carry_out(window, qtbot):
    window.open_example("digits_mlp")
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert window.undo_action.text() == "&Undo" and not window.undo_action.isEnabled()
    window.document.scene.item_for_node["fc1"].setSelected(True)
    editor = window.inspector.editors["out_features"]
    editor.selectAll()
    qtbot.keyClicks(editor, "32")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert window.undo_action.text() == "&Undo Set fc1.out_features" and window.undo_action.isEnabled()
    assert window.undo_action in edit_menu.actions()       # the entry the menu shows, and the toolbar's
    assert window.undo_action.toolTip() == f"Undo Set fc1.out_features ({window.undo_action.shortcut().toString()})"
    window.view.setFocus()
    qtbot.keySequence(window.view, window.undo_action.shortcut())
    assert window.document.graph.node("fc1").params["out_features"] != 32
    assert window.undo_action.text() == "&Undo" and window.redo_action.text() == "&Redo Set fc1.out_features"
    qtbot.keySequence(window.view, window.redo_action.shortcut())
    assert window.document.graph.node("fc1").params["out_features"] == 32
    assert window.redo_action.text() == "&Redo"
    window.document.undo_stack.setClean()   # no "unsaved changes" question
    window.open_example("digits_cnn")   # another document: the names follow its (empty) stack
    assert window.undo_action.text() == "&Undo"


def test_layerloom_command_renders_a_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "layerloom.nodeeditor.app", "--screenshot", str(shot)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 5000


def test_copy_paste_duplicate_and_cut_are_single_undo_steps(window, qtbot):
    from layerloom import dumps_graph

    window.open_example("digits_mlp")
    graph, scene = window.document.graph, window.document.scene
    original = dumps_graph(graph)
    for node_id in ("fc1", "relu1"):
        scene.item_for_node[node_id].setSelected(True)
    edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    actions = {a.text(): a for a in edit.actions()}
    assert actions["&Copy"].shortcut().toString() == "Ctrl+C" and actions["&Paste"].shortcut().toString() == "Ctrl+V"
    actions["&Copy"].trigger()
    actions["&Paste"].trigger()
    pasted = window.selected_node_ids()
    assert len(pasted) == 2 and len(graph) == 11
    names = {graph.node(n).name for n in pasted}
    assert not names & {"fc1", "relu1"} and len(names) == 2  # fresh, unique names
    fc, relu = sorted((graph.node(n) for n in pasted), key=lambda n: n.type_id)
    assert any(e.src == fc.id and e.dst == relu.id for e in graph.edges)  # the wire between them came along
    assert fc.position[0] == graph.node("fc1").position[0] + 40 and fc.position[1] > graph.node("fc1").position[1] + 40
    window.undo_action.trigger()
    assert dumps_graph(graph) == original
    for node_id in ("fc1", "relu1"):
        scene.item_for_node[node_id].setSelected(True)
    duplicated = window.duplicate()
    assert len(duplicated) == 2 and len(graph) == 11
    window.undo_action.trigger()
    for node_id in ("fc1", "relu1"):
        scene.item_for_node[node_id].setSelected(True)
    window.cut()
    assert "fc1" not in graph.nodes and len(graph) == 7
    window.undo_action.trigger()
    assert dumps_graph(graph) == original


def test_auto_layout_is_one_undoable_step(window):
    from layerloom import dumps_graph

    window.open_example("digits_residual")
    graph = window.document.graph
    original = dumps_graph(graph)
    for node in graph:
        graph.move_node(node.id, 0.0, 0.0)  # a pile, as a hand-written file might be
    window.document.undo_stack.clear()
    piled = dumps_graph(graph)
    window.auto_layout()
    spots = {graph.node(n.id).position for n in graph}   # laid out (in wrapped rows): no two on one spot
    assert len(spots) == len(graph.nodes) and window.document.undo_stack.count() == 1
    window.undo_action.trigger()
    assert dumps_graph(graph) == piled != original


def test_a_saved_document_leaves_no_recovery_file(window, tmp_path):
    window.open_example("digits_mlp")
    window.document.add_node("ReLU", (0.0, 300.0))
    window.autosave_now()
    assert list((tmp_path / "recovery").glob("*.recovery.llgraph.json"))
    assert window._write(tmp_path / "mine.llgraph.json")
    assert not list((tmp_path / "recovery").glob("*.recovery.llgraph.json"))
    assert window.windowTitle() == "mine.llgraph.json[*] - LayerLoom" and not window.isWindowModified()


def test_copying_then_quitting_does_not_crash(tmp_path):
    """A Python-made QMimeData on the clipboard once segfaulted PySide at interpreter exit."""
    script = (
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from layerloom.nodeeditor.document.clipboard import copy_to_clipboard, clipboard_text\n"
        "from runtime import load_graph\n"
        "from layerloom.files.resources import example_path\n"
        "assert copy_to_clipboard(load_graph(example_path('digits_mlp')), ['fc1', 'relu1'])\n"
        "assert 'layerloom-graph' in clipboard_text()\n")
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])


def test_f2_renames_the_selected_node_and_delete_edits_the_name_not_the_graph(window, qtbot):
    window.open_example("digits_mlp")
    window.document.scene.item_for_node["fc2"].setSelected(True)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F2)
    editor = window.document.scene.title_editor
    assert editor is not None and editor.node_id == "fc2"
    qtbot.keyClick(window.view, Qt.Key.Key_End)
    qtbot.keyClick(window.view, Qt.Key.Key_Left)
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)  # deletes "2" in the editor, not the selected node
    qtbot.keyClicks(window.view, "-hidden")
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert "fc2" in window.document.graph
    assert window.document.graph.node("fc2").name == "fc-hidden"
    assert window.inspector.editors["name"].text() == "fc-hidden"


def test_save_as_then_open_round_trips_the_edited_graph(window, qtbot, tmp_path, monkeypatch):
    """Edit through the canvas's own commands, Save As (Ctrl+Shift+S) and Open (Ctrl+O) through the
    real shortcuts, with the file dialogs answered: the reopened file is the edited graph."""
    from PySide6.QtWidgets import QFileDialog

    from layerloom import dumps_graph, load_graph

    window.open_example("digits_cnn")
    doc = window.document
    node_id = doc.add_node("Dropout", (100.0, 400.0))
    doc.rename_node(node_id, "drop it")
    doc.connect_ports("fc1", "out", node_id, "in")
    edited = dumps_graph(doc.graph)
    target = tmp_path / "mine"  # no suffix typed: the graph suffix is added
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    saved = tmp_path / "mine.llgraph.json"
    assert saved.read_text() == edited
    assert window.windowTitle() == "mine.llgraph.json[*] - LayerLoom" and not window.isWindowModified()
    window.new_document()
    assert len(window.document.graph) == 0
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(saved), ""))
    qtbot.keyClick(window.view, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert dumps_graph(window.document.graph) == edited == dumps_graph(load_graph(saved))
    assert window.document.path == saved and window.recent_menu.actions()[0].text() == str(saved.resolve())


def test_select_all_delete_and_undo_with_the_keyboard(window, qtbot):
    from layerloom import dumps_graph

    window.open_example("digits_residual")
    before = dumps_graph(window.document.graph)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert len(window.document.graph) == 0 and window.isWindowModified()
    qtbot.waitUntil(lambda: window.totals.text().startswith("0 nodes"))
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dumps_graph(window.document.graph) == before and not window.isWindowModified()


def test_copy_in_one_window_and_paste_in_another(window, qtbot):
    from layerloom import Edge

    window.open_example("digits_mlp")
    for node_id in ("fc1", "relu1"):
        window.document.scene.item_for_node[node_id].setSelected(True)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    from layerloom.nodeeditor.window.main_window import _windows

    (second,) = _windows
    qtbot.addWidget(second, before_close_func=_discard_changes)
    assert len(second.document.graph) == 0 and second.settings is window.settings
    second.activateWindow()
    qtbot.waitUntil(second.isActiveWindow)  # shortcuts go to the active window
    second.view.setFocus()
    qtbot.keyClick(second.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    graph = second.document.graph
    assert sorted(n.type_id for n in graph) == ["Linear", "ReLU"]
    fc, relu = (next(n for n in graph if n.type_id == t) for t in ("Linear", "ReLU"))
    assert graph.edges == [Edge(fc.id, "out", relu.id, "in")]
    assert fc.params == window.document.graph.node("fc1").params
    assert len(window.document.graph) == 9  # the source window is untouched


def test_the_dock_layout_is_remembered_and_an_older_layout_is_dropped(qtbot, tmp_path):
    from PySide6.QtWidgets import QDockWidget

    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    first = EditorWindow(settings)
    qtbot.addWidget(first)
    first.show()
    first.findChild(QDockWidget, "palette").hide()
    first.close()
    again = EditorWindow(settings)
    qtbot.addWidget(again)
    again.show()
    assert not again.findChild(QDockWidget, "palette").isVisible()  # remembered
    again.close()
    settings.setValue("workspace/design", again.saveState(1))  # a layout saved before the workspaces
    third = EditorWindow(settings)
    qtbot.addWidget(third)
    third.show()
    docks = {name: third.findChild(QDockWidget, name) for name in ("palette", "inspector", "problems", "training")}
    assert docks["palette"].isVisible() and docks["inspector"].isVisible() and docks["problems"].isVisible()
    assert not docks["training"].isVisible()   # the default Design layout: training is the Train workspace's


def test_the_first_window_fits_a_small_screen(window):
    from PySide6.QtCore import QRect

    from layerloom.nodeeditor.app import place_first_window

    screen = QRect(0, 0, 1366, 768)
    place_first_window(window, screen)
    assert window.width() <= 1366 and window.height() <= 768 * 0.92 + 1
    assert screen.contains(window.frameGeometry().center())
    place_first_window(window, QRect(0, 0, 2560, 1440))
    assert (window.width(), window.height()) == (1400, 900)


def test_quitting_after_an_edit_prints_no_error(tmp_path):
    """At interpreter exit the undo stack can outlive the menu actions that name its commands; their
    renaming must not touch a deleted action (it printed "Internal C++ object already deleted")."""
    import os

    script = """
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from layerloom.files.resources import example_path
from layerloom.nodeeditor.window.main_window import EditorWindow
window = EditorWindow()
window.open_path(example_path("digits_cnn"))
window.show()
app.processEvents()
from layerloom.edits import Plan, SetParam
window.document.carry_out(Plan("Set fc1.out_features", [SetParam("fc1", "out_features", 100)]))
app.processEvents()
print("edited", window.document.undo_stack.count())
"""
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "edited 1" in result.stdout, result.stderr
    assert "Error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
