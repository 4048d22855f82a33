"""The editor on a real X server, reporting what the ports show while the test holds a wire.

    python tests/xvfb_guides_app.py WORKDIR

Like ``xvfb_app.py`` (the digits MLP in a window at a fixed place; ``WORKDIR/ready.json`` holds the
screen point of every port, keyed ``node.port.direction``), and on top: each time the test touches
``WORKDIR/snap``, this process writes every port's guide and tooltip and the note beside the cursor to
``WORKDIR/snapN.json`` (N counting from 1), so a test can look in the middle of a real xdotool drag.
Touching ``WORKDIR/quit`` ends it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
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

        (workdir / "ready.part").write_text(json.dumps({"port": {key: screen(port) for key, port in ports()}}))
        (workdir / "ready.part").rename(workdir / "ready.json")

    def poll() -> None:
        snap = workdir / "snap"
        if snap.exists():
            snap.unlink()
            snaps[0] += 1
            hint = window.document.scene.wire_hint
            state = {"guides": {key: [port.guide, port.toolTip(), port.opacity()] for key, port in ports()},
                     "hint": hint.text if hint.isVisible() else None}
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
