"""Where the model misses, on the validation split: a classifier's most confident mistakes
(thumbnails for images, a table of values for other data) and a regression's predicted against true
values. Plain data in (``layerloom.training.inference.Mistake`` tuples, arrays); nothing here imports
PyTorch (pyqtgraph is imported when the regression plot is first built).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.nodeeditor.dashboard.verdicts import class_labels
from layerloom.nodeeditor.theme.pictures import crisp_pixmap, image_array, to_qimage


class MisclassifiedGallery(QWidget):
    """The model's mistakes: thumbnails captioned ``true → predicted (confidence)`` for images, a table
    of values for other data. ``set_samples`` takes ``(index, input, true, predicted, confidence)`` tuples
    (``layerloom.training.inference.Mistake``)."""

    THUMB = 64

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.empty = QLabel("No mistakes to show")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(self.THUMB, self.THUMB))
        self.grid.setGridSize(QSize(self.THUMB + 34, self.THUMB + 30))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWrapping(True)
        self.grid.setUniformItemSizes(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["#", "true", "predicted", "confidence", "values"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.stack = QStackedWidget()
        for widget in (self.empty, self.grid, self.table):
            self.stack.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def count(self) -> int:
        """How many mistakes are shown."""
        if self.stack.currentWidget() is self.grid:
            return self.grid.count()
        return self.table.rowCount() if self.stack.currentWidget() is self.table else 0

    @property
    def showing_images(self) -> bool:
        return self.stack.currentWidget() is self.grid

    def set_samples(self, samples, class_names: Sequence[str] | None = None,
                    value_range: tuple[float, float] | None = None, image_shape: Sequence[int] | None = None,
                    empty_text: str = "No mistakes on the validation split") -> None:
        samples = list(samples or [])
        self.grid.clear()
        self.table.setRowCount(0)
        if not samples:
            self.empty.setText(empty_text)
            self.stack.setCurrentWidget(self.empty)
            return
        count = 1 + max(max(int(s[2]), int(s[3])) for s in samples)
        names = class_labels(class_names, count)
        images = [image_array(s[1], image_shape) for s in samples]
        if all(image is not None for image in images):
            for (index, _, true, pred, conf), pixels in zip(samples, images):
                item = QListWidgetItem(QIcon(crisp_pixmap(to_qimage(pixels, value_range), self.THUMB)),
                                       f"{names[true]} → {names[pred]} ({conf * 100:.0f}%)")
                item.setToolTip(f"sample #{index}: true {names[true]}, predicted {names[pred]} "
                                f"with {conf * 100:.1f}% confidence")
                item.setData(Qt.ItemDataRole.UserRole, int(index))
                self.grid.addItem(item)
            self.stack.setCurrentWidget(self.grid)
            return
        self.table.setRowCount(len(samples))
        for row, (index, x, true, pred, conf) in enumerate(samples):
            flat = np.asarray(x, dtype=np.float32).reshape(-1)
            values = ", ".join(f"{v:.3g}" for v in flat[:12]) + (" …" if flat.size > 12 else "")
            for col, text in enumerate((str(index), names[true], names[pred], f"{conf * 100:.1f}%", values)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.stack.setCurrentWidget(self.table)

    def captions(self) -> list[str]:
        if self.showing_images:
            return [self.grid.item(i).text() for i in range(self.grid.count())]
        table = self.table
        return [f"{table.item(r, 1).text()} → {table.item(r, 2).text()}" for r in range(table.rowCount())]


class RegressionView(QWidget):
    """Predicted against true values on the validation split (the diagonal is a perfect model), as
    MATLAB's regression plot draws it: how far, and where, the model misses."""

    MAX_POINTS = 5000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        import pyqtgraph as pg

        self.plot = pg.PlotWidget()
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.3)
        item.setLabel("bottom", "true value")
        item.setLabel("left", "predicted")
        item.setMenuEnabled(False)
        self.points = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(76, 141, 255, 150))
        self.diagonal = pg.PlotDataItem([], [], pen=pg.mkPen("#f08c2e", width=1.5, style=Qt.PenStyle.DashLine))
        item.addItem(self.diagonal)
        item.addItem(self.points)
        self.note = QLabel("The points appear when the run has weights to predict with.")
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.note)
        self.count = 0

    def set_theme(self, theme) -> None:
        """The editor theme's canvas behind the points, its muted colour for the axes."""
        import pyqtgraph as pg

        self.plot.setBackground(theme.canvas)
        self.plot.resetCachedContent()
        for axis in ("left", "bottom"):
            ax = self.plot.getPlotItem().getAxis(axis)
            ax.setPen(pg.mkPen(theme.card_border))
            ax.setTextPen(pg.mkPen(theme.muted))

    def set_points(self, true, predicted, note: str = "") -> None:
        """Pairs of (true, predicted) values (every output of every sample, at most ``MAX_POINTS``)."""
        true = np.asarray(true, dtype=np.float64).reshape(-1)[: self.MAX_POINTS]
        predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)[: self.MAX_POINTS]
        keep = np.isfinite(true) & np.isfinite(predicted)
        true, predicted = true[keep], predicted[keep]
        self.count = int(true.size)
        self.points.setData(true, predicted)
        if true.size:
            low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
            self.diagonal.setData([low, high], [low, high])
        else:
            self.diagonal.setData([], [])
        self.note.setText(note or (f"{self.count:,} validation values; on the dashed line the prediction is exact."
                                   if self.count else "The points appear when the run has weights to predict with."))

    def clear(self) -> None:
        self.set_points([], [])
