"""The ``layerloom`` entry point.

Until the node editor lands this opens a read-only graph inspector: every node with its inferred
output shape and parameter count, and the problems list, for an example or any graph file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_environment(offscreen: bool = False) -> None:
    """Process-wide settings for a GUI that also runs torch (see docs: torch threads vs the UI)."""
    if offscreen and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import torch

    # Torch's intra-op threads fight the UI thread on small machines; one thread measured steadier.
    torch.set_num_threads(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="layerloom", description="LayerLoom: design, train and export networks.")
    parser.add_argument("file", nargs="?", help="a graph file to open (default: the digits MLP example)")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    args = parser.parse_args(argv)
    if not args.screenshot and not has_display():
        print("layerloom: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop "
              "session, under `xvfb-run`, or use --screenshot PNG to render offscreen.", file=sys.stderr)
        return 1
    configure_environment(offscreen=bool(args.screenshot) and not has_display())

    from PySide6.QtWidgets import QApplication

    from .inspector_window import InspectorWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LayerLoom")
    app.setOrganizationName("LayerLoom")
    window = InspectorWindow()
    if args.file:
        window.open_path(Path(args.file))
    else:
        window.open_example("digits_mlp")
    window.resize(1000, 640)
    window.show()
    if args.screenshot:
        app.processEvents()
        window.grab().save(args.screenshot)
        return 0
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
