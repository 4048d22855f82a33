"""How good the model is: the Evaluation panel of the shown run's latest validated epoch. For a
classifier it composes the confusion matrix (``confusion``), the per-class scores (``class_scores``)
and the most confident mistakes (``mistakes``); for a regression its errors and predicted against
true values (``mistakes.RegressionView``). The widgets take plain data (lists, numpy arrays,
``EpochEnd`` details); nothing here imports PyTorch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from layerloom.nodeeditor.dashboard.class_scores import PerClassTable
from layerloom.nodeeditor.dashboard.confusion import ConfusionMatrixView
from layerloom.nodeeditor.dashboard.mistakes import MisclassifiedGallery, RegressionView


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


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
