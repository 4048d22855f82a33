"""Render the editor with each example loaded, in both themes, to docs/screenshots/ (offscreen).

Usage: python docs/make_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from nodeeditor.main_window import EditorWindow
    from runtime.graphfile import SUFFIX
    from runtime.resources import example_paths

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        settings.setValue("recovery_dir", str(Path(tmp) / "recovery"))
        window = EditorWindow(settings)
        window.resize(1400, 820)
        window.show()
        for theme in ("dark", "light"):
            window.set_theme(theme)
            for path in example_paths():
                stem = path.name[: -len(SUFFIX)]
                window.open_example(stem)
                window.view.show_graph()
                app.processEvents()
                target = out / f"{stem}-{theme}.png"
                window.grab().save(str(target))
                print(target)
        window.close()


if __name__ == "__main__":
    main()
