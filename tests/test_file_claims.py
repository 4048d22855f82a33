"""A graph file open in one LayerLoom window is said to be so when another opens it (two windows editing
one file: the last save wins, the other's changes are lost). Another window of this process can be
brought forward instead; another process's is named by its pid; a window that closed (or crashed)
leaves no claim behind."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import mlp_graph
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from layerloom import save_graph
from layerloom.nodeeditor.document.file_claims import FileClaim, holder

pytestmark = pytest.mark.gui

HOLD = """
import sys, time
from PySide6.QtCore import QCoreApplication
app = QCoreApplication([])
from layerloom.nodeeditor.document.file_claims import FileClaim
claim = FileClaim(sys.argv[1]); claim.take(sys.argv[2])
print("held", flush=True)
time.sleep(60)
"""


def _window(qtbot, folder):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(folder / "recovery"))
    window = EditorWindow(settings)
    qtbot.addWidget(window)
    return window


def _answer(monkeypatch, button: str, seen: list):
    """Answer the 'Already open' question with the button named ``button`` (its text, or Cancel)."""
    def exec_(box):
        seen.append(box.text())
        chosen = next((b for b in box.buttons() if b.text() == button), box.button(QMessageBox.StandardButton.Cancel))
        chosen.click()
        return 0
    monkeypatch.setattr(QMessageBox, "exec", exec_)


def test_a_file_open_in_another_window_is_said_before_it_opens_twice(qtbot, tmp_path, monkeypatch):
    graph_file = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(hidden=8, classes=3, features=4), graph_file)
    first, second = _window(qtbot, tmp_path), _window(qtbot, tmp_path)
    assert first.open_path(graph_file)
    seen = []
    _answer(monkeypatch, "Cancel", seen)
    assert not second.open_path(graph_file) and second.document.path is None
    assert "net.llgraph.json is open in another window of this LayerLoom" in seen[0]
    _answer(monkeypatch, "Show That Window", seen)
    assert not second.open_path(graph_file) and second.document.path is None
    _answer(monkeypatch, "Open Here Too", seen)
    assert second.open_path(graph_file) and second.document.path == graph_file
    assert first.open_path(graph_file)   # its own file again: nothing to ask
    assert len(seen) == 3
    first.close()                        # closed: its claim goes with it
    third = _window(qtbot, tmp_path)
    second.close()
    assert third.open_path(graph_file) and len(seen) == 3


def test_another_process_holding_the_file_is_named_and_a_dead_one_is_not(tmp_path):
    graph_file = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(hidden=8, classes=3, features=4), graph_file)
    folder = tmp_path / "recovery"
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(graph_file)], stdout=subprocess.PIPE,
                             text=True, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    try:
        assert other.stdout.readline().strip() == "held"
        assert holder(folder, graph_file) == other.pid
        mine = FileClaim(folder)
        mine.take(graph_file)
        assert not mine.holds(graph_file)     # its claim is the other process's
    finally:
        other.kill()
        other.wait(10)
    assert holder(folder, graph_file) is None   # the process is gone: so is its claim


def test_save_as_onto_a_file_open_in_another_window_asks_first(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    graph_file = tmp_path / "net.llgraph.json"
    save_graph(mlp_graph(hidden=8, classes=3, features=4), graph_file)
    before = graph_file.read_bytes()
    first, second = _window(qtbot, tmp_path), _window(qtbot, tmp_path)
    assert first.open_path(graph_file)
    second.open_example("digits_mlp")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(graph_file), ""))
    asked = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: asked.append(text)
                        or QMessageBox.StandardButton.Cancel)
    assert not second.save_as() and graph_file.read_bytes() == before   # cancelled: the file is as it was
    assert "net.llgraph.json is open in another LayerLoom window" in asked[0]
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: QMessageBox.StandardButton.Save)
    assert second.save_as() and graph_file.read_bytes() != before
    second.document.undo_stack.setClean()
