"""Mouse gestures shared by the pytest-qt tests (kept out of helpers.py so headless tests import no Qt)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def press_drag_release(qtbot, view, start, end) -> None:
    """A left-button drag in five moves (QTest's mouseMove cannot hold a button down in Qt 6)."""
    viewport = view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, 6):
        point = start + (end - start) * k / 5
        move = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                           Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, move)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


class ScriptedSession:
    """What the window uses of a ``ProcessSession``, for tests about what the window shows of a run: its
    events are put by the test (``session.events.put(RunStarted(...))``). Patched in as
    ``layerloom.training.process.ProcessSession``; ``kwargs`` keeps what the window asked for."""

    def __init__(self, graph, config=None, **kwargs):
        from layerloom.training.control import RunControl
        from layerloom.training.events import EventChannel

        self.graph, self.config, self.kwargs, self.base_dir = graph, config, kwargs, kwargs.get("base_dir")
        self.events, self.control, self.run_dir = EventChannel(), RunControl(), None

    def start(self):
        return self

    @property
    def paused(self) -> bool:
        return self.control.pause_requested

    def pause(self):
        self.control.pause()

    def resume(self):
        self.control.resume()

    def stop(self):
        from layerloom.training.events import Stopped

        self.events.put(Stopped(1, 3, None, "Stopped at epoch 1, step 3."))

    def join(self, timeout=None):
        return True

