"""Try the model: pick a validation sample, or draw a digit, and see what the model answers.

``TryItPanel`` takes a ``layerloom.training.inference.Predictor`` (or None before any training). It never imports
PyTorch itself: the predictor does, when it is built.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np
from layerloom.nodeeditor.dashboard.evaluation import BAD, CORRECT, GOOD
from layerloom.nodeeditor.theme.pictures import image_array, to_qimage
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

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


# ---------------------------------------------------------------------------- showing inputs and answers


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


# ---------------------------------------------------------------------------- the panel


class TryItPanel(QWidget):
    """Ask the model: a validation sample (by number, next, random) or, for small one-channel images,
    a drawing; the top classes with their probabilities, or the predicted value against the target."""

    TOP_K = 5
    WIDE = 620     # narrower than this, the answer goes under the input

    def __init__(self, predictor=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.predictor = None
        self.last_prediction = None
        self._rng = random.Random(0)

        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setContentsMargins(20, 0, 20, 0)
        self.message.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        # --- the input: a dataset sample, or a drawing
        self.index = QSpinBox()
        self.index.setPrefix("sample #")
        self.index.setKeyboardTracking(False)
        self.index.valueChanged.connect(self.show_sample)
        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("Previous sample")
        self.previous_button.clicked.connect(lambda: self.index.setValue(self.index.value() - 1))
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next sample")
        self.next_button.clicked.connect(lambda: self.index.setValue(self.index.value() + 1))
        self.random_button = QPushButton("Random")
        self.random_button.clicked.connect(self.random_sample)
        for button in (self.previous_button, self.next_button):
            button.setFixedWidth(32)
        picker = QHBoxLayout()
        picker.addWidget(self.index, 1)
        picker.addWidget(self.previous_button)
        picker.addWidget(self.next_button)
        picker.addWidget(self.random_button)
        self.sample_view = SampleView(minimum=160)
        self.truth = QLabel()
        self.truth.setAlignment(Qt.AlignmentFlag.AlignCenter)
        samples_page = QWidget()
        samples_layout = QVBoxLayout(samples_page)
        samples_layout.addLayout(picker)
        samples_layout.addWidget(self.sample_view, 1)
        samples_layout.addWidget(self.truth)

        self.pad = DrawingPad()
        self.pad.changed.connect(self.predict_drawing)
        self.model_input = SampleView(minimum=112)
        self.model_input.setToolTip("What the model sees of the drawing")
        seen = QVBoxLayout()
        seen.addStretch(1)
        seen.addWidget(QLabel("model input"), 0, Qt.AlignmentFlag.AlignHCenter)
        seen.addWidget(self.model_input)
        seen.addStretch(1)
        draw_page = QWidget()
        draw_layout = QHBoxLayout(draw_page)
        draw_layout.addWidget(self.pad, 1)
        draw_layout.addLayout(seen)

        self.sources = QTabWidget()
        self.sources.addTab(samples_page, "Validation samples")
        self.sources.addTab(draw_page, "Draw")
        self.sources.currentChanged.connect(self._source_changed)

        # --- the answer
        self.answer_title = QLabel("Prediction")
        font = self.answer_title.font()
        font.setBold(True)
        self.answer_title.setFont(font)
        self.bars = ProbabilityBars()
        self.value_label = QLabel()
        self.value_label.setTextFormat(Qt.TextFormat.RichText)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.value_label.setWordWrap(True)
        self.answer = QStackedWidget()
        self.answer.addWidget(self.bars)
        self.answer.addWidget(self.value_label)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        answer_box = QVBoxLayout()
        answer_box.addWidget(self.answer_title)
        answer_box.addWidget(self.answer)
        answer_box.addStretch(1)
        answer_box.addWidget(self.status)

        main = QWidget()
        main_layout = self._main_layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addWidget(self.sources, 3)
        main_layout.addLayout(answer_box, 2)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        self.pages.addWidget(main)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.caption)
        layout.addWidget(self.pages, 1)
        self.set_predictor(predictor)

    # ------------------------------------------------------------- set-up
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Side by side where there is room, the answer under the input in a narrow dock."""
        super().resizeEvent(event)
        direction = QBoxLayout.Direction.LeftToRight if self.width() >= self.WIDE else QBoxLayout.Direction.TopToBottom
        if self._main_layout.direction() != direction:
            self._main_layout.setDirection(direction)

    def set_caption(self, text: str) -> None:
        """Which run of which graph the answers come from."""
        self.caption.setText(text)

    def set_predictor(self, predictor, message: str | None = None) -> None:
        """Use ``predictor`` (a ``layerloom.training.inference.Predictor``), or None: say why there is nothing to
        try (``message``; by default, that training comes first)."""
        self.predictor = predictor
        self.last_prediction = None
        # nothing of the last predictor's stays on show: a predictor without samples (its dataset gone)
        # would otherwise sit under another run's sample, truth and answer
        self.sample_view.clear()
        self.model_input.clear()
        self.truth.setText("")
        self.bars.set_ranked([])
        self.value_label.setText("")
        if predictor is None:
            self.message.setText(message or "Train the model first: once a run has weights, pick validation "
                                 "samples (or draw a digit) here and see what the model answers.")
            self.pages.setCurrentWidget(self.message)
            return
        self.pages.setCurrentIndex(1)
        image_shape = predictor.image_shape
        can_draw = drawable(image_shape) and predictor.is_classifier
        self.sources.setTabVisible(1, can_draw)   # drawing is for models of small one-channel images
        if can_draw:
            self.pad.set_grid(tuple(image_shape[1:]), predictor.value_range)
        count = predictor.num_samples() if predictor.has_samples else 0
        self.sources.setTabEnabled(0, count > 0)
        self.index.blockSignals(True)
        self.index.setRange(0, max(0, count - 1))
        self.index.setValue(0)
        self.index.blockSignals(False)
        self.answer.setCurrentWidget(self.bars if predictor.is_classifier else self.value_label)
        split = "validation" if predictor.eval_split == "val" else "training"
        notes = [f"{count:,} {split} samples" if count else (predictor.note or "no dataset samples")]
        if not predictor.trained:
            notes.append("untrained weights: the answers are guesses")
        self.status.setText("; ".join(notes))
        if count:
            self.sources.setCurrentIndex(0)
            self.show_sample(0)
        elif can_draw:
            self.sources.setCurrentIndex(1)
            self.predict_drawing()

    def _source_changed(self, index: int) -> None:
        if index == 1:
            self.predict_drawing()
        elif self.predictor is not None and self.predictor.has_samples:
            self.show_sample(self.index.value())

    # ------------------------------------------------------------- predicting
    def random_sample(self) -> None:
        if self.index.maximum() > 0:
            self.index.setValue(self._rng.randint(0, self.index.maximum()))

    def show_sample(self, index: int) -> None:
        predictor = self.predictor
        if predictor is None or not predictor.has_samples:
            return
        sample = predictor.samples(None, [index])
        x, y = sample.x[0], sample.y[0]
        self.sample_view.set_sample(x, predictor.value_range, predictor.image_shape)
        prediction = predictor.predict(x, self.TOP_K)
        if predictor.is_classifier:
            true = int(predictor.true_classes(sample.y)[0])
            verdict = "right" if prediction.label == true else "wrong"
            self.truth.setText(f"true class: <b>{predictor.class_name(true)}</b> · the model is {verdict}")
            self._show(prediction, true)
        else:
            self.truth.setText("")
            self._show(prediction, target=np.asarray(y, dtype=np.float32).reshape(-1))

    def predict_drawing(self) -> None:
        predictor = self.predictor
        if predictor is None or self.sources.currentIndex() != 1 or not self.sources.isTabVisible(1):
            return
        values = self.pad.values()
        self.model_input.set_sample(values, predictor.value_range)
        if self.pad.is_empty():
            self.bars.set_ranked([])
            self.last_prediction = None
            return
        self._show(predictor.predict(values, self.TOP_K))

    def _show(self, prediction, true: int | None = None, target: np.ndarray | None = None) -> None:
        self.last_prediction = prediction
        if prediction.probabilities is not None:
            self.bars.set_ranked(prediction.top, true)
            return
        values = np.asarray(prediction.values).reshape(-1)
        lines = []
        for i, value in enumerate(values[:16]):
            name = f"output {i}: " if len(values) > 1 else ""
            line = f"{name}<span style='font-size:x-large'><b>{value:.4g}</b></span> predicted"
            if target is not None and i < len(target):
                line += f"<br>{target[i]:.4g} target · error {value - target[i]:+.3g}"
            lines.append(line)
        self.value_label.setText("<br><br>".join(lines))
