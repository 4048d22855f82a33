"""Run slow work off the GUI thread and get its result back on the GUI thread.

``run_in_background`` runs a call on a thread (a dataset preview, a device probe): cheap to start,
but the call shares the interpreter lock with the window. ``run_in_process`` runs a top-level
function in a child process (an export: seconds of Python-heavy work that would make the window
stutter): it shares nothing, and reports through a queue the GUI polls. Given a warm child
(``layerloom.training.worker.WarmProcess``, or a ``WarmPool`` to take one from) it skips the child's start-up
and torch import; ``cancel()`` kills the child at once. Neither touches widgets."""

from __future__ import annotations

import queue
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from layerloom.training.worker import start_job

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


class TaskCancelled(Exception):
    """What ``on_error`` receives for a cancelled task when the caller gave no ``on_cancel``."""


class ProcessTask(QObject):
    """A child process running ``child(payload, channel)``; ``channel`` carries ``("message", x)``
    pairs and then one ``("done", result)`` or ``("error", (type, text, traceback))``.

    Exactly one of ``done``, ``failed`` or ``cancelled`` is emitted, once. ``warm``: a warm child to run
    in (``warm_used`` says whether it did; a dead one is replaced by a fresh spawn)."""

    done = Signal(object)
    failed = Signal(object)
    message = Signal(object)
    cancelled = Signal()

    def __init__(self, child: Callable[[Any, Any], None], payload: Any, name: str, poll_ms: int = 50,
                 warm: Any = None):
        super().__init__()
        self.name = name
        self._job = ("call", child, payload)
        self._warm = warm
        self.worker = None
        self.process = None
        self.channel = None
        self.warm_used = False
        self.finished = False
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> "ProcessTask":
        self.worker, self.warm_used = start_job(self._job, self._warm, name=f"layerloom-{self.name}")
        self._warm = self._job = None
        self.process, self.channel = self.worker.process, self.worker.events
        self.timer.start()
        return self

    def cancel(self) -> bool:
        """Kill the child now and reap it; ``cancelled`` follows. False when it had already finished."""
        if self.finished:
            return False
        self._end(kill=True)
        self.cancelled.emit()
        return True

    def poll(self) -> None:
        if self.finished:
            return
        if self._deliver(wait=0.0):
            return
        if not self.process.is_alive() and not self._deliver(wait=0.3):
            self._end()
            self.failed.emit(RuntimeError(f"the {self.name} process ended unexpectedly "
                                          f"(exit code {self.process.exitcode})"))

    def _deliver(self, wait: float) -> bool:
        """Pass on what the child said; True once it has finished (its result or error delivered)."""
        while not self.finished:
            try:
                kind, value = self.channel.get(timeout=wait) if wait else self.channel.get_nowait()
            except queue.Empty:
                return False
            if kind == "message":
                self.message.emit(value)
                continue
            self._end()
            if kind == "done":
                self.done.emit(value)
            else:
                type_name, text, trace = value
                error = RuntimeError(f"{type_name}: {text}")
                error.traceback_text = trace
                self.failed.emit(error)
            return True
        return True

    def _end(self, kill: bool = False) -> None:
        self.finished = True
        self.timer.stop()
        if self.worker is not None:
            if kill:
                self.worker.kill()
            self.worker.close(0 if kill else 2)    # kills it if still there, reaps it: no zombie
        _running.discard(self)


def run_in_process(child: Callable[[Any, Any], None], payload: Any, on_done: Callable[[Any], None],
                   on_error: Callable[[BaseException], None] | None = None,
                   on_message: Callable[[Any], None] | None = None, name: str = "task", *,
                   warm: Any = None, on_cancel: Callable[[], None] | None = None) -> ProcessTask:
    """Start ``child(payload, channel)`` (a top-level, importable function; ``payload`` picklable) in a
    child process (``warm``: a warm one, see ``ProcessTask``); its messages, result or error arrive
    here on the GUI thread. ``task.cancel()`` ends it: ``on_cancel()`` runs, or else ``on_error``
    with a ``TaskCancelled``; nothing else arrives after it."""
    task = ProcessTask(child, payload, name, warm=warm)
    if on_message is not None:
        task.message.connect(on_message)
    task.done.connect(on_done)
    if on_error is not None:
        task.failed.connect(on_error)
    if on_cancel is not None:
        task.cancelled.connect(on_cancel)
    elif on_error is not None:
        task.cancelled.connect(lambda: on_error(TaskCancelled(f"the {name} was cancelled")))
    _running.add(task)
    return task.start()
