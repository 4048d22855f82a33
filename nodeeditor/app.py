"""The ``layerloom`` entry point: the node editor, on a file or (first start) the digits MLP example."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Sequence


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_environment(offscreen: bool = False) -> None:
    """Process-wide settings. Torch is not imported here: drawing and checking graphs does not need
    it, and a training run's worker thread sets its own torch thread count (runtime.training)."""
    if offscreen and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def place_first_window(window, available) -> None:
    """The first start's window: 1400x900 where the screen allows, else most of it, centred."""
    if available is None or available.isEmpty():
        window.resize(1400, 820)
        return
    width = min(1400, int(available.width() * 0.94))
    height = min(900, int(available.height() * 0.92))
    window.resize(width, height)
    frame = window.frameGeometry()
    frame.moveCenter(available.center())
    window.move(frame.topLeft())


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # training runs in a child process; a bundled app must allow it
    parser = argparse.ArgumentParser(prog="layerloom", description="LayerLoom: design, train and export networks.")
    parser.add_argument("file", nargs="?", help="a graph file to open (default: the digits MLP example)")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    args = parser.parse_args(argv)
    if not args.screenshot and not has_display():
        print("layerloom: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop "
              "session, under `xvfb-run`, or use --screenshot PNG to render offscreen.", file=sys.stderr)
        return 1
    configure_environment(offscreen=bool(args.screenshot) and not has_display())

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import EditorWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LayerLoom")
    app.setOrganizationName("LayerLoom")
    window = EditorWindow()
    if args.file:
        window.open_path(Path(args.file))
    else:
        window.open_example("digits_mlp")
    if not window.restoreGeometry(window.settings.value("window/geometry") or b""):
        place_first_window(window, app.primaryScreen().availableGeometry() if app.primaryScreen() else None)
    window.show()
    window.view.show_graph()
    if not args.screenshot:
        if not window.offer_recovery() and not args.file:
            window.show_welcome_at_start()   # until "Show at start-up" is unticked
        window.report_plugin_problems()
        QTimer.singleShot(1500, window.dashboard.probe_device)  # names the device; warms torch up
    if args.screenshot:
        for _ in range(3):
            app.processEvents()
        window.grab().save(args.screenshot)
        return 0
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
