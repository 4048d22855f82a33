"""Saving the training charts: a chart as a PNG picture laid out at the asked width, and the
"Save Chart ▾" button whose menu asks where to save a chart's picture or every charted value as CSV
(``chart_series.LiveSeries.write_csv``). The model's own export is Run > Export….
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolButton

from layerloom.nodeeditor.dashboard.chart_plots import CHARTS, TITLES

if TYPE_CHECKING:  # pragma: no cover
    from layerloom.nodeeditor.dashboard.charts import TrainingCharts


def save_png(plot: pg.PlotWidget, path: str | os.PathLike, width: int | None = None) -> Path:
    """Save ``plot`` as drawn, ``width`` pixels wide (default: its width on screen, at least 800) with
    the on-screen aspect ratio. The plot is laid out at that size for the export rather than scaled
    (pyqtgraph's scaled export misplaces the legend), then put back."""
    old = plot.size()
    on_screen = plot.isVisible() and old.width() >= 50 and old.height() >= 50
    width = int(width or max(800, old.width() if on_screen else 0))
    height = round(width * old.height() / old.width()) if on_screen else round(width * 0.5)
    try:
        _layout_at(plot, width, max(height, 120))
        exporter = ImageExporter(plot.getPlotItem())
        exporter.parameters()["width"] = width
        path = Path(path)
        if not exporter.export(str(path)):
            raise OSError(f"{path}: cannot write the image")
    finally:
        _layout_at(plot, old.width(), old.height())
    return path


def _layout_at(plot: pg.PlotWidget, width: int, height: int) -> None:
    """Give a plot this size now, shown or not (a hidden widget would only resize when shown)."""
    plot.resize(width, height)
    plot.resizeEvent(None)  # pyqtgraph's handler lays the plot out; it does not read the event


def export_button(charts: TrainingCharts) -> tuple[QToolButton, QMenu]:
    """The "Save Chart ▾" button of ``charts`` and its menu: each chart as PNG, the metrics as CSV."""
    button = QToolButton()
    button.setText("Save Chart ▾")
    button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")   # the ▾ says it
    button.setToolTip("Save a chart as a PNG picture, or every charted value as CSV (the model's own "
                      "export is Run > Export…)")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    for name in CHARTS:
        menu.addAction(f"{TITLES[name]} chart as PNG…", lambda name=name: _ask_png(charts, name))
    menu.addSeparator()
    menu.addAction("Metrics as CSV…", lambda: _ask_csv(charts))
    button.setMenu(menu)
    return button, menu


def _ask_png(charts: TrainingCharts, chart: str) -> None:
    path, _ = QFileDialog.getSaveFileName(charts, f"Export the {TITLES[chart].lower()} chart",
                                          str(_export_dir(charts) / f"{chart}.png"), "PNG image (*.png)")
    if path:
        _export(charts, lambda: charts.export_png(chart, path))


def _ask_csv(charts: TrainingCharts) -> None:
    path, _ = QFileDialog.getSaveFileName(charts, "Export the metrics", str(_export_dir(charts) / "charts.csv"),
                                          "CSV file (*.csv)")
    if path:
        _export(charts, lambda: charts.export_csv(path))


def _export(charts: TrainingCharts, action) -> None:
    try:
        action()
    except OSError as exc:
        QMessageBox.warning(charts, "Export failed", str(exc))


def _export_dir(charts: TrainingCharts) -> Path:
    """The live run's folder (where a run's pictures belong), else the working folder."""
    run_dir = charts.run_dir()
    return Path(run_dir) if run_dir and Path(run_dir).is_dir() else Path.cwd()
