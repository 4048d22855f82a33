"""The editor on a real X server, reporting what the ports show while the test holds a wire.

    python tests/xvfb_guides_app.py WORKDIR

Like ``xvfb_app.py`` (the digits MLP in a window at a fixed place; ``WORKDIR/ready.json`` holds the
screen point of every port, keyed ``node.port.direction``, of the Dropout palette entry and of every
wire's middle), and on top: each time the test touches ``WORKDIR/snap``, this process writes every port's
guide and tooltip, the note beside the cursor, the wire a dragged node would go into and the graph's wires
to ``WORKDIR/snapN.json`` (N counting from 1), so a test can look in the middle of a real xdotool drag.
Touching ``WORKDIR/quit`` ends it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from layerloom.nodeeditor.window.main_window import EditorWindow


def main(workdir: Path) -> int:
    app = QApplication(sys.argv[:1])
    settings = QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(workdir / "recovery"))
    window = EditorWindow(settings)
    window.open_example("digits_mlp")
    window.setGeometry(40, 40, 1200, 720)
    window.show()
    window.activateWindow()
    window.raise_()
    snaps = [0]

    def ports():
        for nid, item in window.document.scene.item_for_node.items():
            for direction, group in (("in", item.inputs), ("out", item.outputs)):
                for name, port in group.items():
                    yield f"{nid}.{name}.{direction}", port

    def ready() -> None:
        view = window.view
        view.zoom_to_fit()
        app.processEvents()

        def screen(port) -> list[int]:
            p = view.viewport().mapToGlobal(view.mapFromScene(port.scene_anchor()))
            return [p.x(), p.y()]

        def on_screen(scene_point) -> list[int]:
            p = view.viewport().mapToGlobal(view.mapFromScene(scene_point))
            return [p.x(), p.y()]

        palette = window.palette_widget
        entry = palette.item_for("Dropout")
        palette.tree.scrollToItem(entry)
        rect = palette.tree.visualItemRect(entry)
        dropout = palette.tree.viewport().mapToGlobal(QPoint(rect.left() + 30, rect.center().y()))
        wires = {f"{e.src}->{e.dst}": on_screen(item.path().pointAtPercent(0.5))
                 for e, item in window.document.scene.item_for_edge.items()}
        (workdir / "ready.part").write_text(json.dumps({"port": {key: screen(port) for key, port in ports()},
                                                        "palette": [dropout.x(), dropout.y()], "wire": wires}))
        (workdir / "ready.part").rename(workdir / "ready.json")

    def poll() -> None:
        snap = workdir / "snap"
        if snap.exists():
            snap.unlink()
            snaps[0] += 1
            hint = window.document.scene.wire_hint
            target = window.document.scene.insert_target
            glow = target.glow
            state = {"guides": {key: [port.guide, port.toolTip(), port.opacity()] for key, port in ports()},
                     "hint": hint.text if hint.isVisible() else None,
                     "insert": None if glow is None else {
                         "wire": f"{target.edge_item.edge.src}->{target.edge_item.edge.dst}",
                         "refused": glow.toolTip()},
                     "edges": sorted(f"{e.src}->{e.dst}" for e in window.document.graph.edges)}
            written = workdir / f"snap{snaps[0]}.part"
            written.write_text(json.dumps(state))
            written.rename(workdir / f"snap{snaps[0]}.json")   # whole when the test sees it
        if (workdir / "quit").exists():
            window.document.undo_stack.setClean()
            app.quit()

    QTimer.singleShot(500, ready)
    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
