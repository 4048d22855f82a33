"""The editor as a separate process on a real X server (Xvfb), for end-to-end tests with real input.

    python tests/xvfb_app.py WORKDIR

Opens the digits MLP example in a window at a fixed place, then writes ``WORKDIR/ready.json`` with
the screen coordinates a test needs (palette entries, an empty canvas point, ports, wires). The test
drives the mouse and keyboard with xdotool; touching ``WORKDIR/quit`` makes this process write the
graph to ``WORKDIR/graph.json`` (and its undo count to ``undo.json``) and exit. Touching
``WORKDIR/next`` writes the same two files, then opens the example afresh (a new document, an empty
undo history) and writes ``ready.json`` again: one process serves several tests (starting one costs
seconds). ``open_window``, ``screen_points`` and ``serve`` are shared with ``xvfb_guides_app.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QPoint, QPointF, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from layerloom.nodeeditor.window.main_window import EditorWindow
from layerloom import dumps_graph


def open_window(workdir: Path):
    """The application and an editor window showing the digits MLP at a fixed place."""
    app = QApplication(sys.argv[:1])
    settings = QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(workdir / "recovery"))
    window = EditorWindow(settings)
    window.open_example("digits_mlp")
    window.setGeometry(40, 40, 1200, 720)
    window.show()
    window.activateWindow()
    window.raise_()
    return app, window


def screen_points(app, window) -> dict:
    """Zoom to fit, then the screen points of the palette entries, an empty spot, every port
    (``node.port.direction``), every wire's middle (``src->dst``) and every card's title."""
    window.view.zoom_to_fit()
    app.processEvents()
    view, scene, palette = window.view, window.document.scene, window.palette_widget

    def screen(scene_point: QPointF) -> list[int]:
        p = view.viewport().mapToGlobal(view.mapFromScene(scene_point))
        return [p.x(), p.y()]

    def palette_entry(type_id: str) -> list[int]:
        item = palette.item_for(type_id)
        palette.tree.scrollToItem(item)
        rect = palette.tree.visualItemRect(item)
        p = palette.tree.viewport().mapToGlobal(QPoint(rect.left() + 30, rect.center().y()))
        return [p.x(), p.y()]

    nodes = {nid: item.sceneBoundingRect() for nid, item in scene.item_for_node.items()}
    below = max(r.bottom() for r in nodes.values()) + 30
    return {
        "palette": {t: palette_entry(t) for t in ("Dropout", "Linear")},
        "empty": screen(QPointF(nodes["relu1"].center().x(), below)),
        "port": {f"{nid}.{name}.{d}": screen(port.scene_anchor())
                 for nid, item in scene.item_for_node.items()
                 for d, ports in (("in", item.inputs), ("out", item.outputs)) for name, port in ports.items()},
        "wire": {f"{e.src}->{e.dst}": screen(item.path().pointAtPercent(0.5))
                 for e, item in scene.item_for_edge.items()},
        "title": {nid: screen(r.topLeft() + QPointF(60, 12)) for nid, r in nodes.items()},
    }


def write_whole(path: Path, data) -> None:
    """``data`` as JSON at ``path``, renamed into place: whole when the test sees it."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(data))
    part.rename(path)


def serve(app, ready: Callable[[], None], poll: Callable[[], None]) -> int:
    """Run the event loop: ``ready`` once the window is up, ``poll`` every 50 ms."""
    QTimer.singleShot(500, ready)
    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    return app.exec()


def main(workdir: Path) -> int:
    app, window = open_window(workdir)

    def report() -> None:
        (workdir / "undo.json").write_text(json.dumps({"count": window.document.undo_stack.count()}))
        part = workdir / "graph.part"                # renamed into place: whole when the test sees it
        part.write_text(dumps_graph(window.document.graph))
        part.rename(workdir / "graph.json")
        window.document.undo_stack.setClean()

    def ready() -> None:
        write_whole(workdir / "ready.json", screen_points(app, window))

    def poll() -> None:
        if (workdir / "quit").exists():
            report()
            app.quit()
        elif (workdir / "next").exists():
            (workdir / "next").unlink()
            report()
            window.open_example("digits_mlp")      # a new document: the next test starts from scratch
            QTimer.singleShot(200, ready)

    return serve(app, ready, poll)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
