"""Try it's drawing pad: a square canvas to draw a digit on with the mouse, and what the model sees
of it (the drawing averaged down to the model's image grid, in the dataset's value range).
``drawable`` says which models' images can be drawn by hand. Nothing here imports PyTorch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QToolButton, QWidget

CANVAS = 224          # the drawing's own resolution (pixels per side), a multiple of the model's grid
BRUSH_CELLS = 1.9     # brush width in model pixels: the 8x8 digits' strokes are about two cells wide
MIN_BRUSH = 0.09      # ... and at least this share of the canvas (MNIST's 28x28 strokes: about 2.5 pixels)
THROTTLE_MS = 60      # at most ~16 live predictions a second while drawing
MAX_DRAW_SIDE = 64    # drawing makes sense for small single-channel images


def drawable(image_shape: Sequence[int] | None) -> bool:
    """Whether a model's images can be drawn by hand: one channel, at most 64 x 64."""
    return image_shape is not None and len(image_shape) == 3 and image_shape[0] == 1 \
        and max(image_shape[1:]) <= MAX_DRAW_SIDE


# ---------------------------------------------------------------------------- drawing


class DrawingPad(QWidget):
    """A square canvas to draw on with the mouse (left button draws, right button erases), and what
    the model sees of it: the drawing averaged down to ``grid`` cells in the dataset's ``value_range``.

    Averaging area is how the 8x8 digits were made (on-pixels counted in 4x4 blocks of a 32x32 bitmap,
    0..16), so a drawn digit has the same values as a dataset one. ``changed`` fires at most every
    ``THROTTLE_MS`` while drawing, and once when the stroke ends or the pad is cleared.
    """

    changed = Signal()

    def __init__(self, grid: tuple[int, int] = (8, 8), value_range: tuple[float, float] | None = (0.0, 16.0),
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = (8, 8)
        self._value_range = (0.0, 1.0)
        self._image = QImage()
        self._last: QPointF | None = None
        self._erasing = False
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(THROTTLE_MS)
        self._pending.timeout.connect(self.changed.emit)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Erase the drawing (right-drag erases a part)")
        self.clear_button.clicked.connect(self.clear)
        self.setMinimumSize(160, 160)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the left mouse button; the right button erases")
        self.set_grid(grid, value_range)

    def set_grid(self, grid: tuple[int, int], value_range: tuple[float, float] | None = None) -> None:
        """The model's image size ``(height, width)`` and the dataset's raw value range; clears the pad."""
        self._grid = (int(grid[0]), int(grid[1]))
        self._value_range = tuple(value_range) if value_range is not None else (0.0, 1.0)
        scale = max(1, round(CANVAS / max(self._grid)))
        self._image = QImage(self._grid[1] * scale, self._grid[0] * scale, QImage.Format.Format_Grayscale8)
        self.clear()

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def sizeHint(self) -> QSize:
        return QSize(240, 240)

    def clear(self) -> None:
        self._image.fill(0)
        self._last = None
        self._pending.stop()
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        return not self.pixels().any()

    def pixels(self) -> np.ndarray:
        """The canvas as a uint8 ``(height, width)`` array (0 background, 255 ink)."""
        width, height = self._image.width(), self._image.height()
        data = np.frombuffer(self._image.constBits(), dtype=np.uint8, count=self._image.sizeInBytes())
        return data.reshape(height, self._image.bytesPerLine())[:, :width].copy()

    def values(self) -> np.ndarray:
        """What the model sees: ``(1, H, W)`` float32, each cell the ink's mean over its area mapped to
        the value range (0..16 for the digits)."""
        rows, cols = self._grid
        pixels = self.pixels().astype(np.float32) / 255.0
        scale_y, scale_x = pixels.shape[0] // rows, pixels.shape[1] // cols
        cells = pixels[:rows * scale_y, :cols * scale_x].reshape(rows, scale_y, cols, scale_x).mean(axis=(1, 3))
        low, high = self._value_range
        return (low + cells * (high - low)).astype(np.float32)[None]

    # ------------------------------------------------------------- geometry
    def canvas_rect(self) -> QRectF:
        """Where the canvas is drawn: the largest square (or grid-shaped) area centred in the widget."""
        aspect = self._image.width() / self._image.height()
        width = min(self.width() - 2.0, (self.height() - 2.0) * aspect)
        height = width / aspect
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def _to_canvas(self, pos: QPointF) -> QPointF:
        rect = self.canvas_rect()
        return QPointF((pos.x() - rect.left()) * self._image.width() / rect.width(),
                       (pos.y() - rect.top()) * self._image.height() / rect.height())

    def resizeEvent(self, event) -> None:
        hint = self.clear_button.sizeHint()
        rect = self.canvas_rect()
        self.clear_button.move(int(rect.right() - hint.width() - 4), int(rect.top() + 4))
        super().resizeEvent(event)

    # ------------------------------------------------------------- drawing
    def brush_width(self) -> float:
        """The pen's width in canvas pixels."""
        side = max(self._image.width(), self._image.height())
        return side * max(MIN_BRUSH, BRUSH_CELLS / max(self._grid))

    def _stroke(self, a: QPointF, b: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pen = QPen(QColor(0, 0, 0) if self._erasing else QColor(255, 255, 255),
                   self.brush_width() * (2.0 if self._erasing else 1.0))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if a == b:
            painter.drawPoint(a)
        else:
            painter.drawLine(a, b)
        painter.end()
        self.update()
        if not self._pending.isActive():
            self._pending.start()

    def mousePressEvent(self, event) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mousePressEvent(event)
        self._erasing = event.button() == Qt.MouseButton.RightButton
        self._last = self._to_canvas(event.position())
        self._stroke(self._last, self._last)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._last is None:  # not drawing (hover): nothing to do
            return super().mouseMoveEvent(event)
        point = self._to_canvas(event.position())
        self._stroke(self._last, point)
        self._last = point
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._last is None:
            return super().mouseReleaseEvent(event)
        self._last = None
        self._pending.stop()
        self.changed.emit()  # the stroke is done: predict now, not a throttle interval later
        event.accept()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = self.canvas_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(rect, self._image)
        # the model's cells, faintly: how big to draw
        painter.setPen(QPen(QColor(255, 255, 255, 28), 1))
        rows, cols = self._grid
        if max(rows, cols) <= 32:
            for i in range(1, cols):
                x = rect.left() + rect.width() * i / cols
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for i in range(1, rows):
                y = rect.top() + rect.height() * i / rows
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        if self.is_empty():
            painter.setPen(QColor(255, 255, 255, 90))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "draw here")
