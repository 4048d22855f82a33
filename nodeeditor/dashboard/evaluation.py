"""How good the model is, class by class: a confusion matrix, per-class scores and the model's most
confident mistakes. The widgets take plain data (lists, numpy arrays, ``EpochEnd`` details); nothing
here imports PyTorch.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from layerloom.nodeeditor.theme.pictures import crisp_pixmap, image_array, to_qimage
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QIcon,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

CORRECT = QColor("#4c8dff")     # the diagonal: right answers
WRONG = QColor("#ff7043")       # off the diagonal: mistakes
GOOD = QColor("#4caf50")
BAD = QColor("#e0605e")


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = min(1.0, max(0.0, t))
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def _names(class_names: Sequence[str] | None, count: int) -> list[str]:
    names = list(class_names or [])
    return [names[i] if i < len(names) else str(i) for i in range(count)]


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%" if value >= 0.1 or value == 0 else f"{value * 100:.1f}%"


# ---------------------------------------------------------------------------- confusion matrix


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
        self._names = _names(class_names, len(m))
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
        return _mix(base, hue, 0.12 + 0.88 * math.sqrt(share)) if share > 0 else base

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


# ---------------------------------------------------------------------------- per-class scores


class _NumberItem(QTableWidgetItem):
    """A cell shown formatted, sorted by its number (NaN last)."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.value, getattr(other, "value", 0.0)
        if mine != mine or theirs != theirs:  # NaN
            return theirs != theirs and mine == mine
        return mine < theirs


class PerClassTable(QTableWidget):
    """Precision, recall and F1 of each class (and its support), sortable by any column."""

    COLUMNS = ("class", "precision", "recall", "F1", "support")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(48)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)

    def set_scores(self, per_class: dict, class_names: Sequence[str] | None = None, support=None) -> None:
        """``per_class``: ``{"precision": [...], "recall": [...], "f1": [...]}`` (as ``EpochEnd.details``);
        ``support``: samples per true class (row sums of the confusion matrix), optional."""
        keys = ("precision", "recall", "f1")
        count = max((len(per_class.get(k) or ()) for k in keys), default=0)
        names = _names(class_names, count)
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)  # rows are filled in place; sorting while filling scrambles them
        self.setRowCount(count)
        for row in range(count):
            name = _NumberItem(float(row), names[row])  # sorts by class order, not alphabetically
            name.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, 0, name)
            for col, key in enumerate(keys, start=1):
                values = per_class.get(key) or ()
                value = float(values[row]) if row < len(values) and values[row] is not None else float("nan")
                item = _NumberItem(value, "–" if value != value else f"{value:.3f}")
                if key == "f1" and value == value:
                    item.setForeground(_mix(BAD, GOOD, (value - 0.5) / 0.5) if value < 1.0 else GOOD)
                self.setItem(row, col, item)
            count_value = float(support[row]) if support is not None and row < len(support) else float("nan")
            shown = "–" if count_value != count_value else f"{count_value:,.0f}"
            self.setItem(row, 4, _NumberItem(count_value, shown))
        self.setSortingEnabled(sorting)

    def cell_text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return item.text() if item is not None else ""


# ---------------------------------------------------------------------------- mistakes


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
        names = _names(class_names, count)
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


# ---------------------------------------------------------------------------- the panel


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


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


class EvaluationPanel(QWidget):
    """The validation results of the shown run's latest epoch: for a classifier the confusion matrix,
    per-class scores and most confident mistakes; for a regression its errors and predicted against
    true values. ``caption`` says which run of which graph."""

    WIDE = 700     # narrower than this, the per-class table goes under the matrix

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.matrix = ConfusionMatrixView()
        self.table = PerClassTable()
        self.gallery = MisclassifiedGallery()
        self.gallery.setMinimumHeight(120)
        self.regression = RegressionView()
        self._classes: list[str] | None = None
        self._classifier = True
        self.task: str | None = None

        top = self._top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self._titled("Confusion matrix", self.matrix))
        top.addWidget(self._titled("Per-class scores", self.table))
        top.setSizes([520, 380])  # proportions: the matrix is square, the table needs its five columns
        self.mistakes_title = _heading("Most confident mistakes")
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(self._titled(self.mistakes_title, self.gallery))
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.pages = QStackedWidget()
        self.classifier_page = body
        self.regression_page = self._titled("Predicted vs true (validation)", self.regression)
        for page in (self.empty, body, self.regression_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.caption)
        layout.addWidget(self.summary)
        layout.addWidget(self.pages, 1)
        self.clear()

    @staticmethod
    def _titled(title: str | QLabel, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(title if isinstance(title, QLabel) else _heading(title))
        layout.addWidget(widget, 1)
        return box

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """The matrix beside its table where there is room, above it in a narrow dock."""
        super().resizeEvent(event)
        orientation = Qt.Orientation.Horizontal if self.width() >= self.WIDE else Qt.Orientation.Vertical
        if self._top.orientation() != orientation:
            self._top.setOrientation(orientation)

    def set_caption(self, text: str) -> None:
        """Which run of which graph the panel shows."""
        self.caption.setText(text)

    def clear(self, text: str = "No run of this graph yet: its evaluation appears after the first "
                                "validated epoch.") -> None:
        """Nothing to show (another graph, or no run yet)."""
        self._classes, self._classifier, self.task = None, True, None
        self.summary.setText("")
        self.summary.hide()
        self.matrix.placeholder = "No confusion matrix yet"
        self.matrix.set_matrix(np.zeros((0, 0)))
        self.table.set_scores({}, None)
        self.gallery.set_samples([], None, None, None, "No mistakes listed yet")
        self.mistakes_title.setText("Most confident mistakes")
        self.regression.clear()
        self.empty.setText(text)
        self.pages.setCurrentWidget(self.empty)

    @property
    def showing(self) -> str:
        """"empty", "classifier" or "regression": the page on screen."""
        page = self.pages.currentWidget()
        return "empty" if page is self.empty else "classifier" if page is self.classifier_page else "regression"

    def update_epoch(self, end, classes: Sequence[str] | None = None, task: str | None = None) -> None:
        """Show an ``EpochEnd``'s validation metrics and details (confusion matrix, per-class scores)."""
        self.show_epoch(end.epoch, end.metrics or {}, end.details or {}, classes, task)

    def show_epoch(self, epoch: int, metrics: dict, details: dict, classes: Sequence[str] | None = None,
                   task: str | None = None) -> None:
        """One validated epoch (from a live run's event, or a run folder's ``evaluation.json``)."""
        if classes is not None:
            self._classes = list(classes)
        confusion = details.get("confusion")
        self.task = task or ("classification" if confusion is not None else self.task)
        parts = [f"<b>Epoch {epoch}</b>"]
        for key, title in (("val_accuracy", "accuracy"), ("val_f1", "macro F1"), ("val_precision", "precision"),
                           ("val_recall", "recall"), ("val_r2", "R²"), ("val_mae", "MAE"), ("val_rmse", "RMSE"),
                           ("val_loss", "loss")):
            value = metrics.get(key)
            if isinstance(value, (int, float)) and value == value:
                shown = f"{value * 100:.1f}%" if key == "val_accuracy" else f"{value:.4g}"
                parts.append(f"{title} <b>{shown}</b>")
        self.summary.setText(" · ".join(parts))
        self.summary.show()
        self._classifier = confusion is not None or self.task in ("classification", "binary")
        if not self._classifier:
            self.pages.setCurrentWidget(self.regression_page if self.task == "regression" else self.empty)
            if self.task != "regression":
                self.empty.setText("This graph's loss has no classes or targets to score: the loss chart "
                                   "is its evaluation.")
            return
        self.pages.setCurrentWidget(self.classifier_page)
        self.matrix.placeholder = "No confusion matrix for this epoch"
        self.matrix.set_matrix(confusion if confusion is not None else np.zeros((0, 0)), self._classes)
        support = np.asarray(confusion).sum(1) if confusion is not None else None
        self.table.set_scores(details.get("per_class") or {}, self._classes, support)

    def set_misclassified(self, samples, classes: Sequence[str] | None = None,
                          value_range: tuple[float, float] | None = None,
                          image_shape: Sequence[int] | None = None, total: int | None = None,
                          epoch: int | None = None, unavailable: str | None = None) -> None:
        """``samples``: ``(index, input, true, predicted, confidence)`` tuples, most confident first;
        ``total``: how many mistakes there are in all (the title says "12 of 40"); ``epoch``: whose
        weights made them (the best epoch's, which Try it and Export use, may differ from the epoch
        the matrix above shows); ``unavailable``: why no sample could be checked (then the gallery says
        that, never "no mistakes")."""
        if classes is not None:
            self._classes = list(classes)
        samples = list(samples or [])
        shown = f"{len(samples)} of {total}" if total is not None and total > len(samples) else f"{len(samples)}"
        whose = f" of the epoch-{epoch} weights" if epoch is not None else ""
        self.mistakes_title.setText(f"Most confident mistakes{whose} ({shown})" if samples
                                    else f"Most confident mistakes{whose}")
        if unavailable:
            empty = f"Mistakes cannot be listed: {unavailable}"
        else:
            empty = "No mistakes on the validation split" if self._classifier else "Mistakes are listed for classifiers"
        self.gallery.set_samples(samples, self._classes, value_range, image_shape, empty)

    def set_regression_points(self, true, predicted) -> None:
        """Predicted against true values of the shown run's model on the validation split."""
        self.regression.set_points(true, predicted)
