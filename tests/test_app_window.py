"""The `layerloom` window (a read-only inspector until the node editor lands), driven like a user."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import add, mlp_graph

from runtime import save_graph

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    from nodeeditor.inspector_window import InspectorWindow

    w = InspectorWindow()
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    return w


def rows(window):
    view = window.nodes_view
    return [[view.topLevelItem(i).text(c) for c in range(4)] for i in range(view.topLevelItemCount())]


def test_opens_an_example_with_shapes_and_totals(window):
    window.open_example("digits_cnn")
    table = rows(window)
    assert ["conv1", "Conv2d", "[N, 16, 8, 8]", "160"] in table
    assert ["logits", "Output", "[N, 10]", "0"] in table
    assert window.windowTitle() == "Digits CNN - LayerLoom"
    assert "13,706 parameters" in window.totals.text()
    assert window.problems_view.item(0).text() == "No problems."


def test_examples_menu_lists_every_example(window, qtbot):
    from PySide6.QtCore import Qt

    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Examples")
    titles = [a.text() for a in menu.actions()]
    assert titles == ["Digits Cnn", "Digits Mlp", "Digits Residual", "Regression Mlp", "Sequence Lstm"]
    menu.actions()[4].trigger()
    assert window.windowTitle() == "Digits LSTM - LayerLoom"


def test_problem_activation_selects_the_node(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    g = mlp_graph()
    g.set_param("fc2", "out_features", 0, check=False)
    window.open_path(save_graph(g, tmp_path / "bad.llgraph.json"))
    problems = window.problems_view
    assert problems.count() == 1 and 'Linear "fc2"' in problems.item(0).text()
    problems.setFocus()
    problems.setCurrentRow(0)
    qtbot.keyClick(problems, Qt.Key_Return)
    assert window.nodes_view.currentItem().text(0) == "fc2"


def test_unreadable_file_shows_a_message_and_keeps_the_current_graph(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window.open_example("digits_mlp")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert window.open_path(bad) is False
    assert "invalid JSON at line 1" in shown[0]
    assert window.windowTitle() == "Digits MLP - LayerLoom"


def test_layerloom_command_renders_a_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "nodeeditor.app", "--screenshot", str(shot)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 5000
