"""The evaluation widgets (confusion matrix, per-class table, mistakes gallery) and the try-it panel,
driven with real Qt events. The drawing pad is drawn on with mouse events, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from layerloom.nodeeditor.dashboard.class_scores import PerClassTable
from layerloom.nodeeditor.dashboard.confusion import ConfusionMatrixView
from layerloom.nodeeditor.dashboard.drawing_pad import THROTTLE_MS, DrawingPad
from layerloom.nodeeditor.dashboard.evaluation import EvaluationPanel
from layerloom.nodeeditor.dashboard.mistakes import MisclassifiedGallery
from layerloom.nodeeditor.dashboard.tryit import TryItPanel
from layerloom import load_graph
from layerloom.files.resources import example_path
from layerloom.training import EpochEnd

MATRIX = [[5, 1, 0],
          [2, 3, 0],
          [0, 0, 0]]  # rows: true a, b, c; columns: predicted


@pytest.fixture(scope="module")
def digits_predictor():
    """The digits MLP (Input [64]) with fresh weights: enough to check shapes, values and wiring."""
    from layerloom.training.inference import Predictor

    return Predictor(load_graph(example_path("digits_mlp")))


def matrix_view(qtbot, size=(360, 360)) -> ConfusionMatrixView:
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.set_matrix(MATRIX, ["a", "b", "c"])
    view.show()
    qtbot.waitExposed(view)
    return view


def center(rect) -> QPoint:
    return rect.center().toPoint()


def test_the_widgets_import_without_torch():
    """The dashboard builds these at start-up; PyTorch (two seconds) comes with the first Predictor."""
    script = ("import sys\n"
              "class NoTorch:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] == 'torch':\n"
              "            raise ImportError(name + ' was imported')\n"
              "sys.meta_path.insert(0, NoTorch())\n"
              "import layerloom.nodeeditor.dashboard.evaluation, layerloom.nodeeditor.dashboard.tryit\n"
              "import layerloom.nodeeditor.dashboard.confusion, layerloom.nodeeditor.dashboard.class_scores\n"
              "import layerloom.nodeeditor.dashboard.mistakes, layerloom.nodeeditor.dashboard.drawing_pad\n"
              "import layerloom.nodeeditor.dashboard.prediction_views, layerloom.nodeeditor.dashboard.verdicts\n"
              "print('ok')\n")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


# ---------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_cells_counts_and_tooltips(qtbot):
    view = matrix_view(qtbot)
    assert view.cell_at(QPointF(view.cell_rect(1, 0).center())) == (1, 0)
    assert view.share(1, 0) == pytest.approx(0.4) and view.share(2, 2) == 0.0
    assert view.count_label(0, 0) == "5" and view.count_label(1, 2) is None  # zero: left blank
    assert view.tooltip_for(1, 0) == "true b, predicted a: 2 samples (40% of the 5 true b, mistaken)"
    assert view.tooltip_for(0, 0) == "true a, predicted a: 5 samples (83% of the 6 true a, correct)"

    # a real tooltip event over cell (0, 1)
    pos = center(view.cell_rect(0, 1))
    QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, pos, view.mapToGlobal(pos)))
    assert QToolTip.text() == view.tooltip_for(0, 1)
    QTest.mouseMove(view, center(view.cell_rect(1, 1)))
    assert view._hover == (1, 1)

    # what is painted: blue for right answers, orange for mistakes, the background where nothing fell
    image = view.grab().toImage()
    correct, wrong = image.pixelColor(center(view.cell_rect(0, 0))), image.pixelColor(
        view.cell_rect(1, 0).topLeft().toPoint() + QPoint(3, 3))
    empty = image.pixelColor(view.cell_rect(2, 2).topLeft().toPoint() + QPoint(3, 3))
    assert correct.blue() > correct.red() + 60 and wrong.red() > wrong.blue() + 40
    assert empty == view.palette().color(view.palette().ColorRole.Base)


def test_confusion_matrix_counts_disappear_when_cells_are_too_small(qtbot):
    view = matrix_view(qtbot, (200, 200))
    view.set_matrix(np.arange(40 * 40).reshape(40, 40) + 1000)
    assert view.cell_rect(0, 0).width() < 10
    assert view.count_label(0, 0) is None and view.tooltip_for(0, 0).startswith("true 0, predicted 0: 1,000 samples")
    with pytest.raises(ValueError, match="square"):
        view.set_matrix([[1, 2, 3]])


# ---------------------------------------------------------------------------- table and gallery


def test_per_class_table_formats_and_sorts_by_value(qtbot):
    table = PerClassTable()
    qtbot.addWidget(table)
    table.set_scores({"precision": [0.5, 1.0, float("nan")], "recall": [0.25, 0.9, 0.0],
                      "f1": [1 / 3, 0.947, 0.0]}, ["cat", "dog", "eel"], support=[4, 10, 0])
    assert table.rowCount() == 3
    assert [table.cell_text(0, c) for c in range(5)] == ["cat", "0.500", "0.250", "0.333", "4"]
    assert table.cell_text(2, 1) == "–"  # NaN
    table.sortItems(3, Qt.SortOrder.AscendingOrder)  # by F1, as numbers
    assert [table.cell_text(r, 0) for r in range(3)] == ["eel", "cat", "dog"]
    table.sortItems(4, Qt.SortOrder.DescendingOrder)  # by support: 10 before 4 (not text order)
    assert [table.cell_text(r, 0) for r in range(3)] == ["dog", "cat", "eel"]


def test_gallery_shows_thumbnails_for_images_and_a_table_otherwise(qtbot):
    gallery = MisclassifiedGallery()
    qtbot.addWidget(gallery)
    rng = np.random.default_rng(0)
    images = [(i, rng.uniform(0, 16, (1, 8, 8)), 3, 5, 0.9 - i / 10) for i in range(5)]
    gallery.set_samples(images, [str(i) for i in range(10)], (0.0, 16.0))
    assert gallery.showing_images and gallery.count() == 5
    assert gallery.captions()[0] == "3 → 5 (90%)"
    icon = gallery.grid.item(0).icon().pixmap(64, 64)
    assert not icon.isNull() and icon.width() == 64

    rows = [(7, np.array([0.1, 2.0, 3.5, -1.0]), 0, 1, 0.75), (9, np.array([1.0, 1.0, 1.0, 1.0]), 1, 0, 0.6)]
    gallery.set_samples(rows, ["no", "yes"])
    assert not gallery.showing_images and gallery.count() == 2
    assert [gallery.table.item(0, c).text() for c in range(4)] == ["7", "no", "yes", "75.0%"]

    gallery.set_samples([])
    assert gallery.count() == 0


def test_evaluation_panel_reads_an_epoch_end(qtbot):
    panel = EvaluationPanel()
    qtbot.addWidget(panel)
    per_class = {"precision": [0.71, 0.75, 0.0], "recall": [0.83, 0.6, 0.0], "f1": [0.77, 0.67, 0.0]}
    end = EpochEnd(3, {"val_accuracy": 8 / 11, "val_f1": 0.72}, 1e-3, 1.0, 0.8, True, {},
                   {"confusion": MATRIX, "per_class": per_class})
    panel.update_epoch(end, ["a", "b", "c"])
    np.testing.assert_array_equal(panel.matrix.matrix, MATRIX)
    assert panel.table.rowCount() == 3 and panel.table.cell_text(1, 4) == "5"  # support: the row sum
    assert "Epoch 3" in panel.summary.text() and "72.7%" in panel.summary.text()

    mistakes = [(4, np.full((1, 8, 8), 8.0), 1, 0, 0.8)]
    panel.set_misclassified(mistakes, total=3)
    assert panel.gallery.count() == 1 and panel.gallery.captions() == ["b → a (80%)"]
    assert panel.mistakes_title.text() == "Most confident mistakes (1 of 3)"

    assert panel.showing == "classifier"
    panel.update_epoch(EpochEnd(4, {"val_r2": 0.9, "val_mae": 0.25}, 1e-3, 1.0, 0.8, True, {}), task="regression")
    assert panel.showing == "regression"        # a regression's own view, not an empty confusion matrix
    assert "R² <b>0.9</b>" in panel.summary.text() and "MAE <b>0.25</b>" in panel.summary.text()
    panel.set_regression_points([1.0, 2.0, 3.0], [1.1, 1.9, 3.2])
    assert panel.regression.count == 3
    panel.clear("No run of “B” yet.")
    assert panel.showing == "empty" and panel.empty.text() == "No run of “B” yet."
    assert panel.matrix.matrix.shape == (0, 0) and panel.table.rowCount() == 0 and panel.gallery.count() == 0


# ---------------------------------------------------------------------------- drawing


def send_mouse(widget, kind: QEvent.Type, pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    """A mouse event with the button state a real drag has (QTest.mouseMove sends no buttons in Qt 6)."""
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event_button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), event_button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def stroke(pad: DrawingPad, points, button=Qt.MouseButton.LeftButton) -> None:
    """Drag through ``points`` given as fractions of the canvas."""
    rect = pad.canvas_rect()
    where = [QPointF(rect.left() + fx * rect.width(), rect.top() + fy * rect.height()) for fx, fy in points]
    QTest.mousePress(pad, button, Qt.KeyboardModifier.NoModifier, where[0].toPoint())
    for pos in where[1:]:
        send_mouse(pad, QEvent.Type.MouseMove, pos, button)
    QTest.mouseRelease(pad, button, Qt.KeyboardModifier.NoModifier, where[-1].toPoint())


def try_panel(qtbot, predictor) -> TryItPanel:
    panel = TryItPanel(predictor)
    qtbot.addWidget(panel)
    panel.resize(760, 440)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_a_drawn_vertical_stroke_is_a_digit_in_the_middle_columns(qtbot, digits_predictor):
    panel = try_panel(qtbot, digits_predictor)
    panel.sources.setCurrentIndex(1)
    pad = panel.pad
    assert pad.grid == (8, 8) and pad.is_empty()
    emitted = []
    pad.changed.connect(lambda: emitted.append(1))
    stroke(pad, [(0.5, 0.15), (0.5, 0.3), (0.5, 0.5), (0.5, 0.7), (0.5, 0.85)])
    assert len(emitted) == 1  # throttled while drawing (no event loop turn), then once at release

    values = pad.values()
    assert values.shape == (1, 8, 8) and values.dtype == np.float32
    assert 12.0 < values.max() <= 16.0 and values.min() >= 0.0  # the digits' own range, 0..16
    ink_columns = np.flatnonzero(values[0].sum(0) > 0.5)
    assert set(ink_columns) <= {3, 4} and values[0, :, 3:5].sum() > 0.95 * values.sum()
    ink_rows = np.flatnonzero(values[0].sum(1) > 0.5)
    assert ink_rows.min() <= 1 and ink_rows.max() >= 6  # top to bottom

    prediction = panel.last_prediction
    assert prediction is not None and prediction.probabilities.shape == (10,)
    expected = digits_predictor.predict(values.reshape(64))  # the flat [64] Input: the pad reshapes nothing
    np.testing.assert_allclose(prediction.probabilities, expected.probabilities, atol=1e-6)
    assert len(panel.bars.rows()) == TryItPanel.TOP_K and panel.model_input.image is not None

    QTest.mouseClick(pad.clear_button, Qt.MouseButton.LeftButton)
    assert pad.is_empty() and panel.bars.rows() == [] and panel.last_prediction is None


def test_drawing_updates_live_at_most_every_throttle_interval(qtbot):
    pad = DrawingPad((8, 8), (0.0, 16.0))
    qtbot.addWidget(pad)
    pad.resize(240, 240)
    pad.show()
    emitted = []
    pad.changed.connect(lambda: emitted.append(pad.values().sum()))
    rect = pad.canvas_rect()
    path = [QPointF(rect.left() + fx * rect.width(), rect.top() + fy * rect.height())
            for fx, fy in ((0.2, 0.2), (0.7, 0.2), (0.7, 0.9))]
    QTest.mousePress(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, path[0].toPoint())
    send_mouse(pad, QEvent.Type.MouseMove, path[1])
    assert emitted == []
    qtbot.waitUntil(lambda: len(emitted) == 1, timeout=THROTTLE_MS * 20)  # while the button is still down
    assert emitted[0] > 0
    send_mouse(pad, QEvent.Type.MouseMove, path[2])
    QTest.mouseRelease(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, path[2].toPoint())
    assert len(emitted) == 2 and emitted[1] > emitted[0]
    drawn = pad.values()
    assert drawn[0, 6:, 5].sum() > 0 and drawn[0, 6:, :3].sum() == 0  # the down stroke, on the right
    # the right button erases along the same path (with a wider pen)
    stroke(pad, [(0.2, 0.2), (0.7, 0.2), (0.7, 0.9)], Qt.MouseButton.RightButton)
    assert pad.values().sum() < 0.02 * drawn.sum()


def test_a_28_pixel_model_gets_a_28_pixel_drawing(qtbot):
    pad = DrawingPad((28, 28), (0.0, 255.0))
    qtbot.addWidget(pad)
    pad.resize(280, 280)
    pad.show()
    stroke(pad, [(0.2, 0.5), (0.8, 0.5)])  # horizontal
    values = pad.values()
    assert values.shape == (1, 28, 28) and values.max() > 200
    rows = np.flatnonzero(values[0].sum(1) > 1)
    assert 12 <= rows.min() and rows.max() <= 15


# ---------------------------------------------------------------------------- try-it panel


def test_try_it_without_a_model_asks_for_training(qtbot):
    panel = try_panel(qtbot, None)
    assert panel.pages.currentWidget() is panel.message and "Train the model first" in panel.message.text()


def test_try_it_steps_through_validation_samples(qtbot, digits_predictor):
    panel = try_panel(qtbot, digits_predictor)
    assert panel.sources.currentIndex() == 0 and panel.index.maximum() == 359
    assert "untrained" in panel.status.text()
    first = panel.sample_view.image.copy()
    assert (first.width(), first.height()) == (8, 8)
    QTest.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    assert panel.index.value() == 1 and panel.sample_view.image != first
    sample = digits_predictor.samples(None, [1])
    expected = digits_predictor.predict(sample.x[0])
    assert [name for name, _ in panel.bars.rows()] == [r.name for r in expected.top]
    assert f"true class: <b>{sample.y[0]}</b>" in panel.truth.text()
    bar = panel.bars.bar_color(0)
    assert bar in (QColor("#4caf50"), QColor("#e0605e"))  # right (green) or wrong (red): the truth is known


def test_try_it_shows_regression_values_against_the_target(qtbot):
    from layerloom.training.inference import Predictor

    predictor = Predictor(load_graph(example_path("regression_mlp")))
    panel = try_panel(qtbot, predictor)
    assert not panel.sources.isTabVisible(1)  # nothing to draw for tabular data: no Draw tab
    assert panel.answer.currentWidget() is panel.value_label
    sample = predictor.samples(None, [0])
    value = float(predictor.predict(sample.x[0]).values[0])
    text = panel.value_label.text()
    assert f"{value:.4g}" in text and f"{float(sample.y[0, 0]):.4g} target" in text
    assert panel.sample_view.image is None and panel.sample_view.table.rowCount() == 8
