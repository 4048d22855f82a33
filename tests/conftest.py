"""Test set-up: Qt renders offscreen (no display in CI), torch uses few threads on 2-core CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# An empty QT_QPA_PLATFORM makes Qt try X11 and abort, so treat it like unset.
if not os.environ.get("QT_QPA_PLATFORM"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

sys.path.insert(0, str(Path(__file__).parent))

# The user's own plugins never take part in the tests (tests load the ones they need explicitly).
os.environ.setdefault("LAYERLOOM_NO_PLUGINS", "1")
# No warm training processes behind every test window (each imports torch); tests that need one turn
# it on themselves.
os.environ.setdefault("LAYERLOOM_NO_WARM", "1")
# Downloaded datasets come from an empty folder of the test run's own: a developer's real MNIST on disk
# never makes the tests that go through every example load 60,000 images (nor hides a missing download).
if "LAYERLOOM_DATA_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _DATA_DIR = tempfile.mkdtemp(prefix="layerloom-test-data-")
    os.environ["LAYERLOOM_DATA_DIR"] = _DATA_DIR
    atexit.register(shutil.rmtree, _DATA_DIR, True)

import pytest  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QStandardPaths  # noqa: E402

# Documents, app data... resolve to a test folder (~/.qttest), never the user's own
QStandardPaths.setTestModeEnabled(True)

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # runs use 1 thread: no measuring (training/threads.py)


@pytest.fixture
def examples():
    from layerloom.files.resources import example_paths

    return example_paths()


@pytest.fixture
def editor_window(qtbot, tmp_path):
    """An editor window with its settings, recovery copies and runs in ``tmp_path``, shown; closing
    it at the end never stops at the "unsaved changes" question."""
    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    window = EditorWindow(private_settings(tmp_path))
    qtbot.addWidget(window, before_close_func=lambda w: w.document and w.document.undo_stack.setClean())
    window.resize(1300, 800)
    window.show()
    return window
