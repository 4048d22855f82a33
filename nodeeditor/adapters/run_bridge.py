"""The Qt adapter of a training run: the worker thread never touches a widget.

The runtime's ``TrainingSession`` trains on its own thread and puts immutable event records on a
thread-safe channel. ``RunBridge`` drains that channel from a timer on the GUI thread (20 times a
second by default) and re-emits what it found as signals, with every ``Step`` of a tick delivered in
one list: however fast the steps come, the GUI does a bounded amount of work per tick, and a chart
redraw is never asked for more than the timer's rate.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from layerloom.training.events import (TERMINAL, CheckpointSaved, EpochEnd, Note, Paused, Preparing, Resumed,
                                      RunStarted, Step)

TICK_MS = 50
FIRST_TICK_MS = 10   # until the first Step: the set-up's stages and the first step are seen at once


class RunBridge(QObject):
    preparing = Signal(object)        # Preparing: a set-up stage begins
    started = Signal(object)          # RunStarted
    steps = Signal(list)              # every Step since the previous tick, oldest first
    epochEnded = Signal(object)       # EpochEnd
    checkpointSaved = Signal(object)  # CheckpointSaved
    noted = Signal(object)            # Note: the run changed how it trains (a fallback, fewer threads)
    paused = Signal(object)           # Paused
    resumed = Signal(object)          # Resumed
    finished = Signal(object)         # the terminal event: Finished, Stopped or Failed

    def __init__(self, session, interval_ms: int = TICK_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.result = None
        self.run_started: RunStarted | None = None
        self.last_step: Step | None = None
        self._interval = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(min(FIRST_TICK_MS, interval_ms))
        self._timer.timeout.connect(self.drain)

    @property
    def running(self) -> bool:
        return self.result is None and self._timer.isActive()

    def start(self) -> "RunBridge":
        self.session.start()
        self._timer.start()
        return self

    def pause(self) -> None:
        self.session.pause()

    def resume(self) -> None:
        self.session.resume()

    def stop(self) -> None:
        self.session.stop()

    def stop_and_wait(self, timeout: float = 2.0) -> bool:
        """Ask the run to stop, wait up to ``timeout`` seconds for its thread, and deliver what is
        left (the terminal event included). True when the thread has ended."""
        self.session.stop()
        ended = self.session.join(timeout)
        if not ended and hasattr(self.session, "kill"):
            self.session.kill()  # a child process that did not stop in time
        self.drain()
        return ended

    def drain(self) -> None:
        """Deliver every event waiting now; called by the timer."""
        events = self.session.events.drain()
        if not events:
            return
        steps: list[Step] = []
        for event in events:
            if isinstance(event, Step):
                steps.append(event)
                continue
            if steps:  # keep the order: an epoch's steps reach the charts before its end
                self._emit_steps(steps)
                steps = []
            if isinstance(event, Preparing):
                self.preparing.emit(event)
            elif isinstance(event, RunStarted):
                self.run_started = event
                self.started.emit(event)
            elif isinstance(event, EpochEnd):
                self.epochEnded.emit(event)
            elif isinstance(event, CheckpointSaved):
                self.checkpointSaved.emit(event)
            elif isinstance(event, Note):
                self.noted.emit(event)
            elif isinstance(event, Paused):
                self.paused.emit(event)
            elif isinstance(event, Resumed):
                self.resumed.emit(event)
            elif isinstance(event, TERMINAL):
                self.result = event
                self._timer.stop()
                self.finished.emit(event)
        if steps:
            self._emit_steps(steps)

    def _emit_steps(self, steps: list[Step]) -> None:
        if self.last_step is None:
            self._timer.setInterval(self._interval)   # the run is going: the usual, bounded rate
        self.last_step = steps[-1]
        self.steps.emit(steps)
