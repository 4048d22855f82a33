"""Render the user guide's pictures from the real app (offscreen) and refresh the guide's generated
parts: docs/guide/*.png, the README's docs/editor.png, docs/training.png and docs/blocks.png, and the
keyboard shortcut table in docs/user-guide.md. Re-run it after changing the app; commit the result.

Usage: xvfb-run -a python docs/make_screenshots.py  (the guide, the README pictures, the shortcut table;
       without a display the pictures are drawn offscreen and the table is left as it is)
       python docs/make_screenshots.py --examples DIR   (also every example in both themes, to DIR)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
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
    from layerloom.files.graphfile import SUFFIX
    from layerloom.files.resources import example_paths

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


def first_run(app, window, out: Path) -> None:
    """The welcome page, a tour step and the shortcut dialog."""
    window.set_theme("dark")
    window.open_example("digits_mlp")
    settle(app)
    dialog = window.show_welcome()
    settle(app)
    dialog.grab().save(str(out / "welcome.png"))
    dialog.reject()
    tour = window.start_tour()
    tour.go(1)
    settle(app)
    window.grab().save(str(out / "tour.png"))
    tour.end()
    from layerloom.nodeeditor.panels.help import ShortcutsDialog

    shortcuts = ShortcutsDialog(window)
    shortcuts.show()
    settle(app)
    shortcuts.grab().save(str(out / "shortcuts.png"))
    shortcuts.close()
    print(*(out / f"{n}.png" for n in ("welcome", "tour", "shortcuts")), sep="\n")


def editing(app, window, out: Path) -> None:
    """The CNN example with a convolution selected (its parameters and shapes in the inspector), then
    a bad parameter and a missing wire, each listed under the canvas and badged on its node."""
    window.open_example("digits_cnn")
    window.view.show_graph()
    document = window.document
    document.scene.item_for_node["conv2"].setSelected(True)
    settle(app)
    window.grab().save(str(out / "editor.png"))
    document.scene.clearSelection()
    document.graph.set_param("fc1", "out_features", 0, check=False)   # as a hand-edited file could hold
    document.disconnect_edge(next(e for e in document.graph.edges if e.dst == "loss" and e.dst_port == "target"))
    document.scene.item_for_node["fc1"].setSelected(True)
    wait(app, lambda: not document.bridge._stale, 5)
    window.view.centerOn(document.scene.item_for_node["fc1"])
    settle(app)
    window.grab().save(str(out / "problems.png"))
    document.undo_stack.setClean()
    print(out / "editor.png", out / "problems.png", sep="\n")


def imported(app, window, out: Path, tmp: Path) -> None:
    """SqueezeNet (the onnx package's light model, its weights filled in) imported: the graph with its
    first convolution frozen for fine-tuning, and the import report."""
    import onnx

    from layerloom.importers.onnx_import import import_onnx
    from layerloom.nodeeditor.window.importing import ReportDialog

    light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_squeezenet.onnx"
    result = import_onnx(light, name="squeezenet")
    graph_path, _ = result.save(tmp / "squeezenet.llgraph.json")
    window.open_path(graph_path, remember=False)
    document = window.document
    document.graph.set_trainable("conv1", False)
    document.scene.item_for_node["conv1"].setSelected(True)
    wait(app, lambda: not document.bridge._stale, 5)
    settle(app)
    window.grab().save(str(out / "import.png"))
    report = ReportDialog(window, "Import report", f"{light.name} opened as {graph_path.name}: "
                          f"{len(result.graph)} nodes", result.report.lines())
    report.show()
    settle(app)
    report.grab().save(str(out / "import-report.png"))
    report.close()
    document.undo_stack.setClean()
    print(out / "import.png", out / "import-report.png", sep="\n")


def export_dialog(app, window, out: Path) -> None:
    window.open_example("digits_mlp")
    window.dashboard.export()
    dialog = window.dashboard.export_dialog
    settle(app)
    dialog.grab().save(str(out / "export.png"))
    dialog.close()
    print(out / "export.png")


def shortcut_table(window) -> None:
    """Rewrite the generated table between the markers in docs/user-guide.md."""
    from PySide6.QtGui import QGuiApplication

    from layerloom.nodeeditor.panels.help import shortcuts_markdown

    if QGuiApplication.platformName() == "offscreen":  # Qt's offscreen platform uses Windows' standard keys
        print("shortcut table not refreshed: run under xvfb-run for the Linux key bindings", file=sys.stderr)
        return
    guide = ROOT / "docs" / "user-guide.md"
    text = guide.read_text(encoding="utf-8")
    start, end = "<!-- shortcuts:start -->", "<!-- shortcuts:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    guide.write_text(f"{head}{start}\n{shortcuts_markdown(window).strip()}\n{end}{tail}", encoding="utf-8")
    print(guide)


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
    shutil.copy(out / "blocks-inside.png", ROOT / "docs" / "blocks.png")
    window.scopes.up()
    document.undo_stack.setClean()


def training(app, window, out: Path) -> None:
    """The Train workspace at a laptop's 1366x768: the digits MLP mid-run (charts moving), after the
    run (evaluation, Try it, runs, settings), a run that cannot start (its banner), and the light theme."""
    window.set_theme("dark")
    window.resize(1366, 768)
    window.open_example("digits_mlp")
    dashboard = window.dashboard
    dashboard.panel.apply(None, "epochs", 40)
    settle(app)
    dashboard.start()
    wait(app, lambda: dashboard.bridge is not None and dashboard.bridge.result is not None)
    wait(app, lambda: dashboard.predictor is not None, 60)
    shots = []
    for name, dock in (("training-done", "training"), ("training-evaluation", "evaluation"),
                       ("training-tryit", "tryit"), ("training-runs", "runs")):
        dashboard.docks[dock].raise_()
        settle(app)
        shots.append(name)
        window.grab().save(str(out / f"{name}.png"))
    dashboard.docks["evaluation"].raise_()
    window.set_theme("light")
    settle(app)
    shots.append("training-light")
    window.grab().save(str(out / "training-light.png"))
    window.set_theme("dark")
    dashboard.docks["training"].raise_()
    dashboard.panel.apply(None, "epochs", 3000)   # long enough to catch it mid-run
    dashboard.start()
    wait(app, lambda: dashboard.bridge.run_started is not None and len(dashboard.charts.history().epochs) >= 60)
    wait(app, lambda: False, 0.8)   # a few redraw ticks: every chart has drawn
    settle(app)
    shots.append("training-live")
    window.grab().save(str(out / "training-live.png"))
    dashboard.stop()
    wait(app, lambda: dashboard.bridge.result is not None)
    window.document.undo_stack.setClean()
    window.open_example("digits_mlp")                       # 5 class scores for 10 classes: refused
    window.document.graph.set_param("fc3", "out_features", 5)
    wait(app, lambda: not window.document.bridge._stale, 5)
    ended = []
    dashboard.runEnded.connect(ended.append)
    dashboard.start()
    wait(app, lambda: bool(ended))
    dashboard.runEnded.disconnect(ended.append)
    settle(app)
    shots.append("training-failed")
    window.grab().save(str(out / "training-failed.png"))
    window.document.undo_stack.setClean()
    print("\n".join(str(out / f"{name}.png") for name in shots))
    shutil.copy(out / "training-live.png", ROOT / "docs" / "training.png")


def main() -> None:
    args = sys.argv[1:]
    out = ROOT / "docs" / "guide"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    with tempfile.TemporaryDirectory() as tmp:
        window = EditorWindow(private_settings(tmp))
        window.resize(1400, 880)
        window.show()
        settle(app)
        if args[:1] == ["--examples"]:
            target = Path(args[1]) if len(args) > 1 else ROOT / "docs" / "screenshots"
            target.mkdir(parents=True, exist_ok=True)
            examples(app, window, target)
        first_run(app, window, out)
        editing(app, window, out)
        shutil.copy(out / "editor.png", ROOT / "docs" / "editor.png")
        blocks(app, window, out)
        export_dialog(app, window, out)
        imported(app, window, out, Path(tmp))
        shortcut_table(window)
        training(app, window, out)
        window.document.undo_stack.setClean()
        window.close()


if __name__ == "__main__":
    main()
