"""Try the model: pick a validation sample, or draw a digit, and see what the model answers.

``TryItPanel`` takes a ``layerloom.training.inference.Predictor`` (or None before any training). It
lays out the input (``prediction_views.SampleView``, ``drawing_pad.DrawingPad``) beside the answer
(``prediction_views.ProbabilityBars``, or the predicted values). It never imports PyTorch itself:
the predictor does, when it is built.
"""

from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from layerloom.nodeeditor.dashboard.drawing_pad import DrawingPad, drawable
from layerloom.nodeeditor.dashboard.prediction_views import ProbabilityBars, SampleView


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
