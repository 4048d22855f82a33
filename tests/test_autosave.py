"""Recovery copies belong to the window that wrote them: a second window or a second LayerLoom process
never offers nor removes a copy whose owner still runs; a copy whose owner crashed or was killed is
offered, and restoring it never replaces the file the user asked to open.

The owners here are real processes (``python -c OWNER``): a lock held by another process is what a
second LayerLoom meets; a crash is ``os._exit`` or ``kill -9``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import mlp_graph

from layerloom import dumps_graph, load_graph, save_graph
from layerloom.nodeeditor.document.autosave import SUFFIX, Autosaver, process_started

# Autosaves the graph in argv[2] into the recovery folder argv[1] as a copy of argv[3] (or of an
# untitled graph), says "saved", then crashes ("crash") or holds its copy until stdin closes.
OWNER = """
import os, sys
from pathlib import Path
from layerloom import load_graph
from layerloom.nodeeditor.document.autosave import Autosaver
saver = Autosaver(sys.argv[1])
saver.save(load_graph(sys.argv[2]), Path(sys.argv[3]) if sys.argv[3] else None)
print("saved", flush=True)
if sys.argv[4] == "crash":
    os._exit(3)
sys.stdin.read()
saver.discard()
"""


def start_owner(folder: Path, graph_file: Path, original: Path | None, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(folder), str(graph_file), str(original or ""), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saved"
    return proc


def copies(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> Path:
    """A graph with unsaved work in it (what an owner autosaves)."""
    graph = mlp_graph()
    graph.name = "lost work"
    return save_graph(graph, tmp_path_factory.mktemp("edited") / "edited.llgraph.json")


# ---------------------------------------------------------------------- headless
def test_a_running_owners_copy_is_neither_offered_nor_removed_until_it_is_killed(tmp_path, edited):
    folder = tmp_path / "recovery"
    owner = start_owner(folder, edited, tmp_path / "a.llgraph.json", "hold")
    try:
        (copy,) = copies(folder)
        assert Autosaver(folder).found() == []   # a second LayerLoom while the first one runs
        assert copy.is_file() and copy.with_suffix(".meta").is_file() and copy.with_suffix(".lock").is_file()
    finally:
        owner.kill()   # kill -9: the owner leaves its copy and its lock file behind
        owner.wait()
    (found,) = Autosaver(folder).found()
    assert found.graph_path == copy and found.original == tmp_path / "a.llgraph.json"
    assert Autosaver(folder).found() == []   # claimed: a third start meanwhile does not offer it too
    Autosaver.release(found)
    (again,) = Autosaver(folder).found()
    Autosaver.remove(again)
    assert list(folder.iterdir()) == []


def test_a_clean_exit_and_a_discard_leave_nothing_behind(tmp_path, edited):
    folder = tmp_path / "recovery"
    owner = start_owner(folder, edited, None, "hold")
    owner.communicate("")   # the owner discards its copy and exits
    assert owner.returncode == 0 and list(folder.iterdir()) == []
    saver = Autosaver(folder)
    saver.save(load_graph(edited), None)
    assert Autosaver(folder).found() == []   # another window of this process: still its owner's
    saver.discard()
    assert list(folder.iterdir()) == []


def test_a_lock_left_by_a_crash_before_the_first_copy_is_swept(tmp_path, edited):
    folder = tmp_path / "recovery"
    start_owner(folder, edited, None, "crash").wait()
    (copy,) = copies(folder)
    copy.unlink()
    copy.with_suffix(".meta").unlink()
    assert Autosaver(folder).found() == [] and list(folder.iterdir()) == []


def test_a_pid_reused_by_another_python_does_not_keep_the_copy_hidden(tmp_path, edited):
    """Qt's lock tells a reused pid from its owner by the program's name; for another Python process
    with the dead owner's pid the record's start time tells."""
    from PySide6.QtCore import QLockFile

    folder = tmp_path / "recovery"
    start_owner(folder, edited, None, "crash").wait()
    (copy,) = copies(folder)
    lock = copy.with_suffix(".lock")
    stranger = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        mine = QLockFile(str(tmp_path / "mine.lock"))   # a lock file as Qt writes it, for this host and boot
        assert mine.tryLock(0)
        lines = (tmp_path / "mine.lock").read_text().splitlines()
        mine.unlock()
        lock.write_text("\n".join([str(stranger.pid)] + lines[1:]) + "\n")   # the stranger has the owner's pid
        meta = copy.with_suffix(".meta")
        record = {"original": None, "saved_at": "x", "owner": {"pid": stranger.pid, "started": "?"}}
        record["owner"]["started"] = process_started(stranger.pid)
        meta.write_text(dumps(record))
        assert Autosaver(folder).found() == []   # the same process as the record says: its owner runs
        if process_started(stranger.pid) is None:
            pytest.skip("no /proc: the start time cannot tell")
        record["owner"]["started"] = str(int(process_started(stranger.pid)) - 1)
        meta.write_text(dumps(record))
        (found,) = Autosaver(folder).found()
        assert found.graph_path == copy
    finally:
        stranger.kill()
        stranger.wait()


def test_a_pipe_as_a_lock_file_does_not_block_the_start(tmp_path, edited):
    """Qt reads a lock file to see who holds it: a named pipe there would block the start for good
    (in C++, the interpreter's lock held: so the look runs in a child with a time limit)."""
    save_graph(load_graph(edited), tmp_path / f"abc{SUFFIX}")
    for name in ("abc", "nocopy"):
        os.mkfifo(tmp_path / f"{name}.recovery.llgraph.lock")
    look = ("import sys; from layerloom.nodeeditor.document.autosave import Autosaver; "
            "print(len(Autosaver(sys.argv[1]).found()))")
    try:
        done = subprocess.run([sys.executable, "-c", look, str(tmp_path)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a named pipe as a lock file blocked the start")
    assert done.stdout.strip() == "0", done.stderr
    assert len(list(tmp_path.iterdir())) == 3   # left alone, the copy with its odd lock


def dumps(record: dict) -> str:
    import json

    return json.dumps(record)


# ---------------------------------------------------------------------- the window
class Answerer:
    """Answers the next message boxes with real mouse clicks on ``button``, keeping their texts."""

    def __init__(self, qtbot, button):
        from PySide6.QtCore import QTimer

        self.qtbot, self.button, self.texts = qtbot, button, []
        self.timer = QTimer(interval=20)
        self.timer.timeout.connect(self._answer)
        self.timer.start()

    def _answer(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication, QMessageBox

        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.isVisible():
            self.texts.append(box.text())
            self.qtbot.mouseClick(box.button(self.button), Qt.MouseButton.LeftButton)


@pytest.mark.gui
def test_a_second_window_opens_the_users_file_and_offers_only_a_crashed_windows_copy(
        editor_window, qtbot, tmp_path, edited, monkeypatch):
    """The tryout's finding: window A (another process) has unsaved work; starting B on another
    file must neither offer nor delete A's copy. Once A has crashed, B offers it, and Yes restores
    it into a new window: B's own file stays open."""
    from PySide6.QtWidgets import QMessageBox

    from layerloom.nodeeditor.window import main_window

    folder = tmp_path / "recovery"
    theirs, mine = tmp_path / "digits_mlp.llgraph.json", save_graph(mlp_graph(hidden=8), tmp_path / "other.llgraph.json")
    window = editor_window
    assert window.open_path(mine)
    owner = start_owner(folder, edited, theirs, "hold")
    try:
        answerer = Answerer(qtbot, QMessageBox.StandardButton.No)   # a No here would delete A's work
        assert window.offer_recovery() is False and answerer.texts == []
        assert len(copies(folder)) == 1
    finally:
        answerer.timer.stop()
        owner.kill()
        owner.wait()
    before = set(main_window._windows)
    answerer = Answerer(qtbot, QMessageBox.StandardButton.Yes)
    assert window.offer_recovery() is True
    answerer.timer.stop()
    (text,) = answerer.texts
    assert str(theirs) in text and "other.llgraph.json stays open" in text
    assert window.document.path == mine and window.document.undo_stack.isClean()   # what B was asked to open
    (restored,) = set(main_window._windows) - before
    qtbot.addWidget(restored, before_close_func=lambda w: w.document and w.document.undo_stack.setClean())
    assert restored.document.path == theirs and dumps_graph(restored.document.graph) == dumps_graph(load_graph(edited))
    assert restored.isWindowModified()   # restored work is unsaved work, and the new window owns its copy now
    (copy,) = copies(folder)
    assert copy == restored.autosaver.path and Autosaver(folder).found() == []


@pytest.mark.gui
def test_a_crashed_copy_restores_into_a_window_that_shows_nothing_asked_for(editor_window, qtbot, tmp_path, edited):
    """Started with no file (the example, clean): the copy replaces it; a clean exit removes it."""
    from PySide6.QtWidgets import QMessageBox

    folder = tmp_path / "recovery"
    start_owner(folder, edited, None, "crash").wait()
    window = editor_window
    window.open_example("digits_mlp")
    answerer = Answerer(qtbot, QMessageBox.StandardButton.Yes)
    assert window.offer_recovery() is True
    answerer.timer.stop()
    assert "of an untitled graph" in answerer.texts[0] and "new window" not in answerer.texts[0]
    assert window.document.graph.name == "lost work" and window.isWindowModified()
    window.document.undo_stack.setClean()
    window.autosave_now()   # clean again: its own recovery copy goes
    assert list(folder.iterdir()) == []
