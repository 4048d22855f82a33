"""Editor speed, offscreen: start-up to a visible window, opening a 1,000-node graph (load + first
paint), moving 100 nodes as one command and undoing it.

Each step is the median of several runs and printed with its target; start-up runs in a fresh
interpreter each time (what a user waits for after typing `layerloom`), and says whether torch was
imported (it must not be: drawing graphs does not need it).

Usage: python benchmarks/bench_editor.py [--nodes 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TARGETS_S = {"start-up": 2.0, "open": 1.5}

STARTUP = """
import time, sys
t = time.perf_counter()
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from layerloom.nodeeditor.window.main_window import EditorWindow
w = EditorWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat))
w.open_example("digits_mlp")
w.show()
app.processEvents()
w.grab()
print(time.perf_counter() - t, "torch" in sys.modules)
"""


def startup(repeat: int) -> tuple[float, bool]:
    times, torch_seen = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", STARTUP, str(Path(tmp) / "s.ini")], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
            times.append(time.perf_counter() - start)
            torch_seen |= out[-1] == "True"
    return statistics.median(times), torch_seen


def big_graph(n: int):
    from layerloom import Graph
    from layerloom.model.layout import apply_layout, layered_layout

    g = Graph(name="big")
    prev = g.add_node("Input", "x", {"shape": [32]})
    for i in range(n - 2):
        node = g.add_node("Linear" if i % 2 == 0 else "ReLU", None, {"out_features": 32} if i % 2 == 0 else {})
        g.connect(prev.id, "out", node.id, "in")
        prev = node
    out = g.add_node("Output", "y")
    g.connect(prev.id, "out", out.id, "in")
    apply_layout(g, layered_layout(g))
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from layerloom.nodeeditor.document.commands import MoveNodesCommand
    from layerloom.nodeeditor.window.main_window import EditorWindow
    from layerloom import save_graph

    app = QApplication.instance() or QApplication([])
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = save_graph(big_graph(args.nodes), Path(tmp) / "big.llgraph.json")
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        settings.setValue("recovery_dir", str(Path(tmp) / "recovery"))
        window = EditorWindow(settings)
        window.resize(1400, 820)
        window.show()
        app.processEvents()
        for _ in range(args.repeat):
            start = time.perf_counter()
            window.open_path(path, remember=False)
            app.processEvents()
            window.grab()  # the first paint
            results.setdefault("open", []).append(time.perf_counter() - start)
            graph, stack = window.document.graph, window.document.undo_stack
            ids = [n.id for n in graph][:100]
            moves = {nid: (graph.node(nid).position, (graph.node(nid).position[0] + 50, graph.node(nid).position[1]))
                     for nid in ids}
            start = time.perf_counter()
            stack.push(MoveNodesCommand(graph, moves))
            app.processEvents()
            results.setdefault("move 100", []).append(time.perf_counter() - start)
            start = time.perf_counter()
            stack.undo()
            app.processEvents()
            results.setdefault("undo move", []).append(time.perf_counter() - start)
            stack.setClean()
        window.close()
    startup_s, torch_seen = startup(args.repeat)
    print(f"editor, {args.nodes}-node graph, offscreen, median of {args.repeat}")
    print(f"  start-up to a visible window   {startup_s:7.2f} s   (target < {TARGETS_S['start-up']} s; "
          f"torch imported: {torch_seen})")
    for name, values in results.items():
        target = TARGETS_S.get(name)
        suffix = f"   (target < {target} s)" if target else ""
        print(f"  {name:<30} {statistics.median(values):7.3f} s{suffix}")


if __name__ == "__main__":
    main()
