"""Background tasks deliver their result on the GUI thread, even when the caller keeps no reference."""

from __future__ import annotations

import gc
import threading

import pytest

from layerloom.nodeeditor.adapters.background import TaskCancelled, run_in_background, run_in_process

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


# children of run_in_process: top-level functions, importable in the spawned process
def child_counts(payload, channel):
    for i in range(payload):
        channel.put(("message", i))
    channel.put(("done", payload * 10))


def child_raises(payload, channel):
    try:
        raise ValueError(payload)
    except ValueError as exc:
        import traceback
        channel.put(("error", (type(exc).__name__, str(exc), traceback.format_exc())))


def child_dies(payload, channel):
    import os
    os._exit(3)


def test_a_child_process_reports_messages_then_its_result(qtbot):
    messages, results = [], []
    run_in_process(child_counts, 3, results.append, on_message=messages.append, name="count")
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    assert messages == [0, 1, 2] and results == [30]


def test_a_child_process_error_and_death_are_reported(qtbot):
    errors = []
    run_in_process(child_raises, "bad input", lambda r: None, errors.append, name="raise")
    run_in_process(child_dies, None, lambda r: None, errors.append, name="die")
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=60_000)
    texts = sorted(str(e) for e in errors)
    assert texts[0] == "ValueError: bad input" and "ended unexpectedly (exit code 3)" in texts[1]


def child_sleeps(payload, channel):
    import time
    channel.put(("message", "started"))
    time.sleep(payload)
    channel.put(("done", "too late"))


def child_reports_torch(payload, channel):
    import sys
    channel.put(("done", "torch" in sys.modules))


def test_cancel_kills_the_child_at_once_and_runs_the_cancel_path_once(qtbot):
    messages, results, errors, cancels = [], [], [], []
    task = run_in_process(child_sleeps, 60, results.append, errors.append, messages.append, name="sleep",
                          on_cancel=lambda: cancels.append(1))
    qtbot.waitUntil(lambda: messages == ["started"], timeout=60_000)
    assert task.cancel() and not task.cancel()          # a second cancel does nothing
    assert cancels == [1] and not task.process.is_alive()
    assert task.process.exitcode is not None            # reaped: no zombie left behind
    qtbot.wait(300)
    assert results == [] and errors == [] and cancels == [1]
    # without an on_cancel, the error path hears it, once
    task = run_in_process(child_sleeps, 60, results.append, errors.append, name="sleep")
    task.cancel()
    assert len(errors) == 1 and isinstance(errors[0], TaskCancelled) and not task.process.is_alive()


def test_a_warm_child_runs_the_task_with_torch_already_in(qtbot, monkeypatch):
    from layerloom.training.worker import ENV_OFF, WarmProcess

    monkeypatch.delenv(ENV_OFF, raising=False)
    warm = WarmProcess().start()
    assert warm.wait_ready(120)
    results = []
    task = run_in_process(child_reports_torch, None, results.append, name="warm", warm=warm)
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    assert task.warm_used and task.worker is warm and results == [True]
    qtbot.waitUntil(lambda: not warm.alive, timeout=10_000)   # one job per child: it has left
