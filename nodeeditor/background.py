"""Run a slow call (a dataset preview, an export, importing torch) off the GUI thread and get its
result back on the GUI thread through a queued signal. The call must not touch widgets."""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

_running: set["BackgroundTask"] = set()   # alive until their result is delivered


class BackgroundTask(QObject):
    done = Signal(object)     # the call's return value
    failed = Signal(object)   # the exception it raised (with ``.traceback_text``)

    def __init__(self, fn: Callable[[], Any], name: str):
        super().__init__()
        self._fn = fn
        self.thread = threading.Thread(target=self._run, name=f"layerloom-{name}", daemon=True)

    def _release(self, _=None) -> None:
        # on the GUI thread: wait for the worker to let go of this object first, so the last reference
        # (and the QObject's deletion) goes away here and never on the worker thread
        self.thread.join()
        _running.discard(self)

    def _run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - delivered to the GUI, which shows it
            exc.traceback_text = traceback.format_exc()
            self._deliver(self.failed, exc)
            return
        self._deliver(self.done, result)

    @staticmethod
    def _deliver(signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            pass  # the application quit while this ran: nobody is left to tell


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any], None],
                      on_error: Callable[[BaseException], None] | None = None, name: str = "task") -> BackgroundTask:
    """Start ``fn()`` on a daemon thread; ``on_done(result)`` or ``on_error(exception)`` runs later on
    the thread that called this (the GUI thread)."""
    task = BackgroundTask(fn, name)
    task.done.connect(on_done)
    if on_error is not None:
        task.failed.connect(on_error)
    # connected last, so it runs after the caller's slots: releasing may delete the task
    task.done.connect(task._release)
    task.failed.connect(task._release)
    _running.add(task)
    task.thread.start()
    return task
