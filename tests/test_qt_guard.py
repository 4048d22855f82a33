"""Guard against PySide6 6.12.0's None-refcount bug on Python 3.11 (see shared ENVIRONMENT notes):
every void Qt call dropped a reference to None until Python aborted with `none_dealloc`."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.gui
def test_void_qt_calls_keep_none_refcount(qtbot):
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    label.setText("warm-up")
    before = sys.getrefcount(None)
    for i in range(500):
        label.setText(str(i))  # returns None
    after = sys.getrefcount(None)
    # A healthy binding leaves the count where it was (other threads may add a few references).
    assert after >= before - 5, (
        f"None refcount dropped by {before - after} over 500 void Qt calls: this PySide6 build has the "
        "6.12.0 refcount bug and will crash; pin PySide6-Essentials<6.12")


def test_installed_pyside_is_not_the_broken_release():
    import PySide6

    assert not PySide6.__version__.startswith("6.12.0"), PySide6.__version__
