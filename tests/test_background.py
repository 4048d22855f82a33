"""Background tasks deliver their result on the GUI thread, even when the caller keeps no reference."""

from __future__ import annotations

import gc
import threading

import pytest

from nodeeditor.background import run_in_background

pytestmark = pytest.mark.gui


def test_the_result_arrives_on_the_gui_thread_without_a_kept_reference(qtbot):
    got = []
    run_in_background(lambda: threading.current_thread().name, lambda r: got.append((r, threading.current_thread())))
    gc.collect()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    worker, receiver = got[0]
    assert worker.startswith("layerloom-") and receiver is threading.main_thread()


def test_an_exception_arrives_with_its_traceback(qtbot):
    errors = []
    run_in_background(lambda: 1 / 0, lambda r: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ZeroDivisionError) and "ZeroDivisionError" in errors[0].traceback_text
