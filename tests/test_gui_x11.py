"""End to end on a real X server: the editor runs in its own process under Xvfb (xcb platform) and
xdotool moves the real pointer and presses real keys. Offscreen, QTest cannot drive a real QDrag
(palette to canvas); X can. Skipped, with the reason, when Xvfb or xdotool is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerloom import Edge, loads_graph

pytestmark = [pytest.mark.gui, pytest.mark.x11]

HERE = Path(__file__).parent
MISSING = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
if MISSING:
    pytestmark.append(pytest.mark.skip(
        reason=f"{' and '.join(MISSING)} not installed: real drag-and-drop tests need "
               "`apt-get install xvfb xdotool libxcb-icccm4 libxcb-keysyms1` (.ci/run tries it as root)"))


@pytest.fixture(scope="module")
def display():
    """A private X server; its display name."""
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(10)


PAUSE_S = 0.05   # between the steps of one xdotool call: the editor handles each event in turn


class App:
    """The editor process and the xdotool commands that drive it. One process serves the tests in
    turn (starting one costs seconds): ``finish`` hands back the graph and opens the example afresh."""

    def __init__(self, display: str, workdir: Path):
        self.env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(workdir)}
        self.workdir = workdir
        self.fresh = False                 # True while the window shows the example untouched
        self.process = subprocess.Popen([sys.executable, str(HERE / "xvfb_app.py"), str(workdir)], env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._ready()

    def _wait_for(self, path: Path, what: str) -> None:
        deadline = time.monotonic() + 60
        while not path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the editor did not {what} under Xvfb:\n{self.process.stdout.read()}")
            time.sleep(0.05)

    def _ready(self) -> None:
        ready = self.workdir / "ready.json"
        self._wait_for(ready, "start")
        time.sleep(0.2)
        self.at = json.loads(ready.read_text())
        self.fresh = True

    def xdo(self, *args) -> None:
        subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True, timeout=30)
        time.sleep(0.15)  # let the editor handle the events

    def drag(self, start, end, steps: int = 8) -> None:
        """Press, ``steps`` moves and release, in one xdotool call (its own pauses between them)."""
        moves = []
        for k in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * k // steps
            y = start[1] + (end[1] - start[1]) * k // steps
            moves += ["mousemove", x, y, "sleep", PAUSE_S]
        self.xdo("mousemove", *start, "mousedown", 1, "sleep", PAUSE_S, *moves, "mouseup", 1)

    def finish(self):
        """The editor's graph and its undo count; then the example opens afresh for the next test."""
        for name in ("graph.json", "undo.json", "ready.json"):
            (self.workdir / name).unlink(missing_ok=True)
        (self.workdir / "next").touch()
        self._wait_for(self.workdir / "graph.json", "report its graph")
        graph = loads_graph((self.workdir / "graph.json").read_text())
        count = json.loads((self.workdir / "undo.json").read_text())["count"]
        self._ready()
        return graph, count

    def quit(self) -> None:
        (self.workdir / "quit").touch()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        output = self.process.stdout.read()
        assert self.process.returncode == 0, output


@pytest.fixture(scope="module")
def editors():
    """The module's editor process, started by the first test that asks (see ``app``)."""
    held: dict[str, App] = {}
    yield held
    if "app" in held and held["app"].process.poll() is None:
        held["app"].quit()


@pytest.fixture
def app(display, editors, tmp_path_factory):
    """The editor showing the digits MLP untouched: the module's process when its last test finished
    cleanly, else (a test failed half-way) a new one."""
    editor = editors.get("app")
    if editor is None or not editor.fresh or editor.process.poll() is not None:
        if editor is not None and editor.process.poll() is None:
            editor.process.kill()
        editor = editors["app"] = App(display, tmp_path_factory.mktemp("editor"))
    editor.fresh = False
    return editor


def test_dragging_a_palette_entry_onto_the_canvas_adds_that_node(app):
    app.drag(app.at["palette"]["Dropout"], app.at["empty"])
    graph, undo = app.finish()
    added = [n for n in graph if n.type_id == "Dropout"]
    assert len(added) == 1 and undo == 1
    assert not graph.incoming(added[0].id) and not graph.outgoing(added[0].id)


def test_dragging_a_palette_entry_onto_a_wire_inserts_it(app):
    app.drag(app.at["palette"]["Dropout"], app.at["wire"]["fc1->relu1"])
    graph, undo = app.finish()
    node = next(n for n in graph if n.type_id == "Dropout")
    assert Edge("fc1", "out", node.id, "in") in graph.edges
    assert Edge(node.id, "out", "relu1", "in") in graph.edges
    assert Edge("fc1", "out", "relu1", "in") not in graph.edges
    assert undo == 1


def test_dragging_from_a_port_onto_a_taken_input_replaces_its_wire(app):
    app.drag(app.at["port"]["fc1.out.out"], app.at["port"]["fc3.in.in"])
    graph, undo = app.finish()
    assert Edge("fc1", "out", "fc3", "in") in graph.edges
    assert Edge("relu2", "out", "fc3", "in") not in graph.edges
    assert undo == 1


def test_keyboard_quick_add_puts_the_typed_node_under_the_pointer(app):
    app.xdo("mousemove", *app.at["empty"], "click", 1)
    app.xdo("key", "Tab")
    app.xdo("type", "gelu")
    app.xdo("key", "Return")
    graph, undo = app.finish()
    assert [n.type_id for n in graph if n.type_id == "GELU"] == ["GELU"] and undo == 1


def test_double_clicking_a_title_renames_the_node_with_real_keys(app):
    app.xdo("mousemove", *app.at["title"]["relu1"], "click", "--repeat", 2, "--delay", 80, 1)
    app.xdo("key", "ctrl+a")
    app.xdo("type", "hidden act")
    app.xdo("key", "Return")
    graph, undo = app.finish()
    assert graph.node("relu1").name == "hidden act" and undo == 1


def test_a_real_drag_from_a_port_lights_the_ports_that_take_it_and_restores_them(display, tmp_path):
    """The guides while xdotool holds a wire over a port, then after the release; then a palette entry
    held over a wire lights it (the editor reports what it shows through tests/xvfb_guides_app.py)."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, str(HERE / "xvfb_guides_app.py"), str(tmp_path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        at_all = _wait_for(tmp_path / "ready.json", process)
        at = at_all["port"]

        def xdo(*args) -> None:
            subprocess.run(["xdotool", *map(str, args)], env=env, check=True, timeout=30)
            time.sleep(0.15)  # let the editor handle the events

        def snap(number: int) -> dict:
            (tmp_path / "snap").touch()
            return _wait_for(tmp_path / f"snap{number}.json", process)

        def press_and_move(start, end, steps: int) -> None:   # the button stays down
            moves = []
            for k in range(1, steps + 1):
                moves += ["mousemove", start[0] + (end[0] - start[0]) * k // steps,
                          start[1] + (end[1] - start[1]) * k // steps, "sleep", PAUSE_S]
            xdo("mousemove", *start, "mousedown", 1, "sleep", PAUSE_S, *moves)

        start, over = at["fc2.out.out"], at["fc1.in.in"]
        press_and_move(start, over, 6)
        held = snap(1)
        guides = held["guides"]
        assert guides["fc3.in.in"][0] == "accept" and guides["logits.in.in"][0] == "accept"
        assert guides["fc1.in.in"][0] == "refuse" and "cycle" in guides["fc1.in.in"][1]
        assert guides["fc2.in.in"][0] == "refuse" and guides["fc2.out.out"][0] is None
        assert held["hint"] and held["hint"].startswith("fc1.in: the wire would make a cycle")
        xdo("mouseup", 1)                                         # refused: nothing connects
        after = snap(2)
        assert all(guide is None and tip == "" and opacity == 1.0 for guide, tip, opacity in after["guides"].values())
        assert after["hint"] is None
        # a palette entry held over a wire lights it, with the note; the release inserts the node there
        palette, wire = at_all["palette"], at_all["wire"]["fc1->relu1"]
        press_and_move(palette, wire, 8)
        held = snap(3)
        assert held["insert"] == {"wire": "fc1->relu1", "refused": ""}
        assert held["hint"] == "drop to insert into this wire"
        xdo("mouseup", 1)
        after = snap(4)
        assert after["insert"] is None and after["hint"] is None
        assert "fc1->relu1" not in after["edges"] and "fc1->dropout_1" in after["edges"]
        assert "dropout_1->relu1" in after["edges"]
    finally:
        (tmp_path / "quit").touch()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(path: Path, process) -> dict:
    deadline = time.monotonic() + 60
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the editor did not write {path.name}:\n{process.stdout.read()}")
        time.sleep(0.05)
    return json.loads(path.read_text())
