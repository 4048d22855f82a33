"""Pause, resume and stop requests from any thread, polled by the training loop at each step."""

from __future__ import annotations

import threading
import time


class RunControl:
    """The loop reads ``pending`` (a plain attribute: one load per step) and calls ``wait_if_paused``
    only when it is set, so an idle control costs nothing on the hot path."""

    def __init__(self):
        self.pending = False
        self._stop = False
        self._pause = False
        self._cond = threading.Condition()

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @property
    def pause_requested(self) -> bool:
        return self._pause and not self._stop

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self.pending = True
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._pause = True
            self.pending = True

    def resume(self) -> None:
        with self._cond:
            self._pause = False
            self.pending = self._stop
            self._cond.notify_all()

    def wait_if_paused(self, on_pause=None, on_resume=None) -> float:
        """Block while paused (waking at once on resume or stop). Returns the seconds spent paused."""
        with self._cond:
            if not self.pause_requested:
                return 0.0
        if on_pause is not None:
            on_pause()
        start = time.perf_counter()
        with self._cond:
            while self.pause_requested:
                self._cond.wait(0.5)
        if on_resume is not None and not self._stop:
            on_resume()
        return time.perf_counter() - start
