"""How Try it shows an input and the model's answer: ``SampleView`` draws a sample as the dataset
has it (a crisp image, or a table of values) and ``ProbabilityBars`` the top classes with their
probabilities, the true class marked. Nothing here imports PyTorch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from layerloom.nodeeditor.dashboard.verdicts import BAD, CORRECT, GOOD
from layerloom.nodeeditor.theme.pictures import image_array, to_qimage


class SampleView(QWidget):
    """A sample as the dataset has it: an image drawn crisp (nearest neighbour, every pixel a square),
    or its values in a table."""

    def __init__(self, parent: QWidget | None = None, minimum: int = 96):
        super().__init__(parent)
        self._image: QImage | None = None
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["feature", "value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.setMinimumSize(minimum, minimum)

    @property
    def image(self) -> QImage | None:
        return self._image

    def set_sample(self, x, value_range: tuple[float, float] | None = None,
                   image_shape: Sequence[int] | None = None) -> None:
        pixels = image_array(x, image_shape)
        if pixels is not None:
            self._image = to_qimage(pixels, value_range)
            self.table.hide()
        else:
            self._image = None
            flat = np.asarray(x, dtype=np.float32).reshape(-1)
            self.table.setRowCount(len(flat))
            for row, value in enumerate(flat):
                self.table.setItem(row, 0, QTableWidgetItem(f"x{row}"))
                item = QTableWidgetItem(f"{value:.4g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, 1, item)
            self.table.show()
        self.update()

    def clear(self) -> None:
        """No sample shown."""
        self._image = None
        self.table.setRowCount(0)
        self.table.hide()
        self.update()

    def paintEvent(self, event) -> None:
        if self._image is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # nearest neighbour: crisp
        side = min(self.width(), self.height())
        scale = max(1, side // max(self._image.width(), self._image.height()))  # whole pixels per value
        width, height = self._image.width() * scale, self._image.height() * scale
        rect = QRectF((self.width() - width) // 2, (self.height() - height) // 2, width, height)
        painter.drawImage(rect, self._image)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect.adjusted(-1, -1, 0, 0))


class ProbabilityBars(QWidget):
    """The top classes as horizontal bars: name, bar, percentage. The true class (when known) is
    marked green; the top answer red when it is wrong."""

    ROW = 24

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[int, str, float]] = []
        self._true: int | None = None
        self.setMinimumWidth(200)

    def set_ranked(self, ranked: Sequence[tuple[int, str, float]], true_index: int | None = None) -> None:
        self._rows = [(int(i), str(name), float(p)) for i, name, p in ranked]
        self._true = true_index
        self.setMinimumHeight(self.ROW * max(1, len(self._rows)) + 4)
        self.update()

    def rows(self) -> list[tuple[str, float]]:
        return [(name, p) for _, name, p in self._rows]

    def sizeHint(self) -> QSize:
        return QSize(280, self.ROW * max(5, len(self._rows)) + 4)

    def bar_color(self, position: int) -> QColor:
        index = self._rows[position][0]
        if self._true is not None and index == self._true:
            return GOOD
        if position == 0 and self._true is not None:
            return BAD
        return CORRECT if position == 0 else QColor("#6b7686")

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        metrics = painter.fontMetrics()
        name_w = min(120, max((metrics.horizontalAdvance(name) for _, name, _ in self._rows), default=0) + 10)
        percent_w = metrics.horizontalAdvance("100.0%") + 8
        track = self.palette().color(QPalette.ColorRole.Base)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for position, (_, name, p) in enumerate(self._rows):
            top = position * self.ROW + 2
            bar = QRectF(name_w, top + 4, max(10.0, self.width() - name_w - percent_w), self.ROW - 8)
            painter.setPen(text)
            shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
            painter.drawText(QRectF(0, top, name_w - 8, self.ROW), Qt.AlignmentFlag.AlignRight |
                             Qt.AlignmentFlag.AlignVCenter, shown)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 3, 3)
            painter.setBrush(self.bar_color(position))
            painter.drawRoundedRect(QRectF(bar.left(), bar.top(), max(2.0, bar.width() * p), bar.height()), 3, 3)
            painter.setPen(text)
            painter.drawText(QRectF(bar.right() + 6, top, percent_w, self.ROW), Qt.AlignmentFlag.AlignVCenter,
                             f"{p * 100:.1f}%")
