"""Render the editor with each example loaded, in both themes, a block made from the residual example
(the model, and the block's inside being edited), and the training dashboard during and after a run
of the digits MLP, to docs/screenshots/ (offscreen).

Usage: python docs/make_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(app, condition, seconds: float = 120.0) -> None:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def settle(app) -> None:
    for _ in range(5):
        app.processEvents()


def examples(app, window, out: Path) -> None:
    from runtime.graphfile import SUFFIX
    from runtime.resources import example_paths

    for theme in ("dark", "light"):
        window.set_theme(theme)
        for path in example_paths():
            stem = path.name[: -len(SUFFIX)]
            window.open_example(stem)
            window.view.show_graph()
            settle(app)
            target = out / f"{stem}-{theme}.png"
            window.grab().save(str(target))
            print(target)


def blocks(app, window, out: Path) -> None:
    """The residual example's block grouped (Ctrl+G's code path), repeated, then opened for editing
    with a convolution's channels made a block param."""
    window.set_theme("dark")
    window.open_example("digits_residual")
    document = window.document
    inside = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]
    for node_id in inside:
        document.scene.item_for_node[node_id].setSelected(True)
    instance = window.group_selection("ResBlock")
    window.inspector.apply("repeat", 2)
    window.auto_layout()
    window.view.show_graph()
    settle(app)
    window.grab().save(str(out / "blocks-model.png"))
    window.open_instance(instance)
    level = window.editing
    for node_id in ("block_conv1", "block_conv2"):
        level.scene.clearSelection()
        level.scene.item_for_node[node_id].setSelected(True)
        if node_id == "block_conv1":
            window.inspector.make_block_param("out_channels")
        else:
            window.inspector.apply("out_channels", "$out_channels")
    window.auto_layout()
    window.view.show_graph()
    wait(app, lambda: not document.bridge._stale, 5)
    settle(app)
    window.grab().save(str(out / "blocks-inside.png"))
    print(out / "blocks-model.png", out / "blocks-inside.png", sep="\n")
    window.scopes.up()
    document.undo_stack.setClean()


def training(app, window, out: Path) -> None:
    """The digits MLP training: mid-run (charts moving) and after (evaluation, Try it)."""
    window.set_theme("dark")
    window.open_example("digits_mlp")
    dashboard = window.dashboard
    dashboard.panel.apply(None, "epochs", 60)   # long enough to catch it mid-run
    settle(app)
    dashboard.start()
    wait(app, lambda: dashboard.bridge.run_started is not None and len(dashboard.charts.history().epochs) >= 24)
    wait(app, lambda: False, 0.8)   # a few redraw ticks: every chart has drawn
    settle(app)
    shots = {"training-live": None}
    window.grab().save(str(out / "training-live.png"))
    wait(app, lambda: dashboard.bridge.result is not None)
    wait(app, lambda: dashboard.predictor is not None, 60)
    for name, dock in (("training-done", "charts"), ("training-evaluation", "evaluation"),
                       ("training-tryit", "tryit"), ("training-runs", "runs"), ("training-panel", "training")):
        dashboard.docks[dock].raise_()
        settle(app)
        shots[name] = out / f"{name}.png"
        window.grab().save(str(shots[name]))
    print("\n".join(str(out / f"{name}.png") for name in shots))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from nodeeditor.main_window import EditorWindow, private_settings

    with tempfile.TemporaryDirectory() as tmp:
        window = EditorWindow(private_settings(tmp))
        window.resize(1500, 950)
        window.show()
        settle(app)
        examples(app, window, out)
        blocks(app, window, out)
        training(app, window, out)
        window.document.undo_stack.setClean()
        window.close()


if __name__ == "__main__":
    main()
