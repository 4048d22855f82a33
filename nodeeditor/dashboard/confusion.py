"""The confusion matrix of a classifier as a heatmap: rows the true classes, columns the predicted
ones, each cell coloured by its share of the row, with a count where it fits and a tooltip that says
it in words. Plain data in (a square array of counts); nothing here imports PyTorch.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from layerloom.nodeeditor.dashboard.verdicts import CORRECT, WRONG, class_labels, mix


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%" if value >= 0.1 or value == 0 else f"{value * 100:.1f}%"


class ConfusionMatrixView(QWidget):
    """A heatmap of a confusion matrix: rows are the true classes, columns the predicted ones (as
    torchmetrics and scikit-learn lay it out). Colour is the share of the row, blue on the diagonal,
    orange off it, so a class's mistakes stand out however rare the class is."""

    MARGIN = 8

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self._names: list[str] = []
        self._hover: tuple[int, int] | None = None
        self.placeholder = "No confusion matrix yet"
        self.setMouseTracking(True)
        self.setMinimumSize(220, 220)

    def set_matrix(self, matrix, class_names: Sequence[str] | None = None) -> None:
        m = np.asarray(matrix if matrix is not None else np.zeros((0, 0)), dtype=np.int64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"a confusion matrix is square, not {list(m.shape)}")
        self._matrix = m
        self._names = class_labels(class_names, len(m))
        self._hover = None
        self.update()

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix

    def sizeHint(self) -> QSize:
        return QSize(420, 400)

    # ------------------------------------------------------------- geometry
    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.9))
        return font

    def _layout(self) -> tuple[QRectF, float]:
        """The cells' area and one cell's side."""
        n = max(1, len(self._matrix))
        metrics = QFontMetrics(self._label_font())
        label_w = min(90, max((metrics.horizontalAdvance(s) for s in self._names), default=0) + 6)
        title_h = metrics.height() + 4
        left = self.MARGIN + title_h + label_w
        top = self.MARGIN + title_h + metrics.height() + 4
        side = min((self.width() - left - self.MARGIN) / n, (self.height() - top - self.MARGIN) / n)
        side = max(1.0, side)
        return QRectF(left, top, side * n, side * n), side

    def cell_rect(self, row: int, col: int) -> QRectF:
        area, side = self._layout()
        return QRectF(area.left() + col * side, area.top() + row * side, side, side)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        area, side = self._layout()
        if len(self._matrix) == 0 or not area.contains(pos):
            return None
        n = len(self._matrix)
        return (min(n - 1, int((pos.y() - area.top()) // side)), min(n - 1, int((pos.x() - area.left()) // side)))

    def share(self, row: int, col: int) -> float:
        """The cell's count as a fraction of its row (the true class's samples)."""
        total = int(self._matrix[row].sum())
        return self._matrix[row, col] / total if total else 0.0

    def tooltip_for(self, row: int, col: int) -> str:
        count, total = int(self._matrix[row, col]), int(self._matrix[row].sum())
        true, pred = self._names[row], self._names[col]
        what = "correct" if row == col else "mistaken"
        samples = "sample" if count == 1 else "samples"
        return (f"true {true}, predicted {pred}: {count:,} {samples} ({_percent(self.share(row, col))} of the "
                f"{total:,} true {true}, {what})")

    def _count_font(self, side: float) -> QFont:
        font = self._label_font()
        font.setPointSizeF(max(6.0, min(font.pointSizeF(), side * 0.3)))
        return font

    def count_label(self, row: int, col: int) -> str | None:
        """The count written in the cell, or None: an empty cell, or one too small for its number."""
        count = int(self._matrix[row, col])
        if not count:
            return None
        side = self._layout()[1]
        metrics = QFontMetrics(self._count_font(side))
        label = f"{count:,}"
        return label if metrics.horizontalAdvance(label) + 4 <= side and metrics.height() <= side else None

    # ------------------------------------------------------------- events
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(QPointF(event.pos()))
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_for(*cell), self)
            return True
        return super().event(event)

    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position())
        if cell != self._hover:
            self._hover = cell
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    # ------------------------------------------------------------- painting
    def cell_color(self, row: int, col: int) -> QColor:
        base = self.palette().color(QPalette.ColorRole.Base)
        hue = CORRECT if row == col else WRONG
        share = self.share(row, col)
        return mix(base, hue, 0.12 + 0.88 * math.sqrt(share)) if share > 0 else base

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        if len(self._matrix) == 0:
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        area, side = self._layout()
        n = len(self._matrix)
        label_font = self._label_font()
        metrics = QFontMetrics(label_font)
        painter.setFont(self._count_font(side))
        for row in range(n):
            for col in range(n):
                rect = self.cell_rect(row, col)
                color = self.cell_color(row, col)
                painter.fillRect(rect, color)
                label = self.count_label(row, col)
                if label is not None:
                    painter.setPen(QColor("#111111") if color.lightnessF() > 0.6 else QColor("#f2f2f2"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Window), 1))
        for i in range(n + 1):  # thin gaps between the cells
            x = area.left() + i * side
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            painter.drawLine(QPointF(area.left(), area.top() + i * side), QPointF(area.right(), area.top() + i * side))
        if self._hover is not None:
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.HighlightedText), 2))
            painter.drawRect(self.cell_rect(*self._hover).adjusted(1, 1, -1, -1))
        self._paint_labels(painter, area, side, label_font, metrics, text, muted)

    def _paint_labels(self, painter, area: QRectF, side: float, font: QFont, metrics: QFontMetrics,
                      text: QColor, muted: QColor) -> None:
        n = len(self._matrix)
        painter.setFont(font)
        step = max(1, math.ceil(metrics.height() / side))  # every step-th label when cells are tiny
        label_w = area.left() - self.MARGIN - metrics.height() - 4
        for i in range(0, n, step):
            name = metrics.elidedText(self._names[i], Qt.TextElideMode.ElideRight, int(label_w - 4))
            painter.setPen(text)
            painter.drawText(QRectF(area.left() - label_w, area.top() + i * side, label_w - 4, side),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            column = metrics.elidedText(self._names[i], Qt.TextElideMode.ElideRight, int(max(side, 24)))
            painter.drawText(QRectF(area.left() + i * side - side, area.top() - metrics.height() - 2, 3 * side,
                                    metrics.height()), Qt.AlignmentFlag.AlignCenter, column)
        title = QFont(font)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(muted)
        painter.drawText(QRectF(area.left(), self.MARGIN - 2, area.width(), metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, "predicted")
        painter.save()
        painter.translate(self.MARGIN + metrics.height() / 2, area.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-area.height() / 2, -metrics.height() / 2, area.height(), metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, "true")
        painter.restore()
