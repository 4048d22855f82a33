"""How the training charts are drawn: which charts and curves there are, their colours, pens and
markers, a plot's set-up (pyqtgraph's scrolling-plot recipe: clip to the view, 'peak' downsampling,
major and minor grid lines), its title row with the legend, its theme colours, how a chart with too
few points or a constant rate is framed, and the curves another run is overlaid with.

Per-step curves can hold 100k+ points: Qt draws an antialiased pen wider than 1 pixel ~20x slower
(250 ms for 10k points here), so those are either 1 pixel wide or not antialiased. Per-epoch curves
have a handful of points and get the nicer pens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSizePolicy

from layerloom.training.records import RunCurves

from layerloom.nodeeditor.dashboard.smoothing import ema
from layerloom.nodeeditor.theme.style import Theme

CHARTS = ("loss", "metric", "lr")
TITLES = {"loss": "Loss", "metric": "Score", "lr": "Learning rate"}

# The score chart's curves per task: (metric key, legend label). "loss" tasks have no score chart.
SCORES = {
    "classification": (("train_accuracy", "train accuracy"), ("val_accuracy", "validation accuracy"),
                       ("val_f1", "validation F1 (macro)")),
    "binary": (("train_accuracy", "train accuracy"), ("val_accuracy", "validation accuracy"),
               ("val_f1", "validation F1")),
    "regression": (("val_r2", "validation R²"),),
}
SCORE_TITLES = {"classification": "Accuracy", "binary": "Accuracy", "regression": "R²"}

# Series colours, readable on both the dark and the light canvas; overlays cycle through the rest.
TRAIN, VAL, EXTRA, LR = "#3d8bfd", "#f08c2e", "#a371f7", "#2fb3a3"
OVERLAY_COLORS = ("#e05d8c", "#4caf50", "#c9a227", "#8d99a8", "#00a6d6", "#b46a3c")

# Per-step curves keep ~3 points per pixel column when zoomed out ('peak': each bin's min and max).
PER_STEP = {"autoDownsampleFactor": 1.5}
MIN_CHART_HEIGHT = 150


def style_plot(item: pg.PlotItem) -> pg.LegendItem:
    """Set a chart's plot up: downsampling and clipping for every curve added later, the grid, the
    axes, and a title row holding the legend (returned)."""
    item.setDownsampling(auto=True, mode="peak")  # applies to every curve added later
    item.setClipToView(True)
    item.showGrid(x=True, y=True, alpha=1.0)  # the pen's own colour: the theme's border colour
    item.setMenuEnabled(True)
    for axis in ("left", "bottom"):
        ax = item.getAxis(axis)
        ax.enableAutoSIPrefix(False)
        ax.setZValue(-200)  # its grid under the curves and the legend, not over them
        # major and minor grid lines only: the finest level cluttered the chart and cost half of
        # each repaint while the view follows new points
        ax.setStyle(maxTickLevel=1)
    item.getViewBox().setDefaultPadding(0.03)
    return title_row(item)


def title_row(item: pg.PlotItem) -> pg.LegendItem:
    """The plot's title row made of its title on the left and a legend on the right, outside the
    data area (a legend inside a chart covers the newest points). Part of the PlotItem, so exported
    pictures carry it too. Returns the legend."""
    item.setTitle(" ")   # makes the title row and its label visible
    item.layout.removeItem(item.titleLabel)
    legend = pg.LegendItem(colCount=3, labelTextSize="9pt", verSpacing=-6, horSpacing=14)
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    legend.setPen(None)
    legend.setBrush(None)
    row = pg.GraphicsLayout()
    row.layout.setContentsMargins(4, 0, 4, 0)
    row.addItem(item.titleLabel, 0, 0)
    gap = pg.GraphicsWidget()            # the space between: the legend keeps to the right
    gap.setMinimumSize(0, 0)
    gap.setPreferredSize(0, 0)
    row.addItem(gap, 0, 1)
    row.addItem(legend, 0, 2)
    row.layout.setColumnStretchFactor(1, 1)
    item.layout.addItem(row, 0, 1)
    item.layout.setRowFixedHeight(0, 26)
    return legend


def lay_out_legend(legend: pg.LegendItem, plot: pg.PlotWidget) -> None:
    """The legend in its chart's title row, above the data (never over the newest points): as many
    entries a line as the chart's width allows, more lines when they do not fit; hidden while it has
    none."""
    count = len(legend.items)
    legend.setVisible(bool(count))
    item = plot.getPlotItem()
    # the room beside the title: the plot less its left axis, the title and the row's margins
    room = plot.width() - item.getAxis("left").width() - item.titleLabel.boundingRect().width() - 28
    columns = max(count, 1)
    while True:   # as many entries a line as fit (measured by the legend's own layout)
        legend.setColumnCount(columns)
        if columns == 1 or legend.layout.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() <= room:
            break
        columns -= 1
    rows = math.ceil(count / columns) if count else 1
    item.layout.setRowFixedHeight(0, 8 + 18 * rows)


def theme_plot(plot: pg.PlotWidget, legend: pg.LegendItem, theme: Theme) -> None:
    """A chart in the editor's theme: the canvas behind it, its border colour for the axes and grid
    (pyqtgraph draws both with one pen), muted tick labels, text for the legend."""
    item = plot.getPlotItem()
    plot.setBackground(theme.canvas)
    plot.resetCachedContent()   # the view caches its background: repaint it in the new colour
    plot.viewport().update()
    for axis in ("left", "bottom"):
        ax = item.getAxis(axis)
        ax.setPen(pg.mkPen(theme.card_border, width=1))
        ax.setTextPen(pg.mkPen(theme.muted))
    legend.setLabelTextColor(theme.text)
    for _, label in legend.items:  # entries made before: their text is drawn already
        label.setText(label.text, color=theme.text)


def pen(color: str, width: float, alpha: int = 255, style=Qt.PenStyle.SolidLine):
    return pg.mkPen(with_alpha(color, alpha), width=width, style=style)


def markers(color: str, size: int) -> dict:
    """Style of a per-epoch curve: a dot on each epoch, antialiased (a few points only)."""
    return {"symbol": "o", "symbolSize": size, "symbolPen": None, "symbolBrush": color, "antialias": True}


def solid(line_pen, fallback: str) -> QColor:
    """A pen's colour made opaque (the readout's dot on the faint raw loss is solid all the same)."""
    color = QColor(line_pen.color() if line_pen is not None else fallback)
    color.setAlpha(255)
    return color


def with_alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


# ------------------------------------------------------------------ framing
def frame_from_zero(view: pg.ViewBox, x: np.ndarray, y: np.ndarray, top: float | None, spe: int) -> None:
    """Frame fewer than two points from 0 (they would sit in pyqtgraph's tiny padded range: x from -200
    to 200, y ticks like 2.309354066848760): x to a little past the last point (at least an epoch),
    y to ``top`` (default: a quarter above the highest point, or 1)."""
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    right = float(xs.max()) if xs.size else 0.0
    view.setXRange(0.0, max(right * 1.1, spe or 1.0, 1.0), padding=0)
    high = top if top is not None else (float(ys.max()) * 1.25 if ys.size and ys.max() > 0 else 1.0)
    view.setYRange(0.0, high, padding=0)


def follow_data(view: pg.ViewBox, x: np.ndarray, y: np.ndarray) -> None:
    """The data's own range now, from the arrays (the curves are clipped to the old view, and a chart
    not yet laid out cannot measure them), then follow it."""
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if xs.min() < xs.max():
        view.setXRange(float(xs.min()), float(xs.max()))
    if ys.min() < ys.max():
        view.setYRange(float(ys.min()), float(ys.max()))
    view.enableAutoRange()


def frame_constant(view: pg.ViewBox, values: np.ndarray) -> bool:
    """A constant rate (no schedule) would sit on pyqtgraph's padded range around it, where 0.001 reads
    as 0: frame it from 0 to above the value. False (nothing done) unless ``values`` are one positive
    value."""
    values = values[np.isfinite(values)]
    if not values.size or values.max() != values.min() or values.max() <= 0:
        return False
    view.setYRange(0.0, float(values.max()) * 1.25, padding=0)
    return True


# ------------------------------------------------------------------ another run's curves
@dataclass
class OverlayCurve:
    """One curve of an overlaid run: on ``chart``, named ``label`` in the readout (and, with
    ``legend``, by the run's name in the legend)."""

    chart: str
    label: str
    x: np.ndarray
    y: np.ndarray
    pen: object
    legend: bool = False
    style: dict = field(default_factory=dict)


def overlay_curves(run: RunCurves, index: int, task: str, x_epochs: bool, smoothing: float) -> list[OverlayCurve]:
    """The curves another run is drawn with, in the ``index``-th overlay colour: its smoothed loss,
    its validation loss and the task's scores per epoch (dashed), its learning rate. x in epochs with
    ``x_epochs``, else in global steps."""
    color = OVERLAY_COLORS[index % len(OVERLAY_COLORS)]
    spe = run.steps_per_epoch

    def x_of(steps) -> np.ndarray:
        steps = np.asarray(steps, np.float64)
        return steps / spe if x_epochs and spe else steps

    epoch_x = np.array(run.epochs, np.float64) if x_epochs else run.epoch_x()
    dashed = pen(color, 1.5, style=Qt.PenStyle.DashLine)
    curves = [OverlayCurve("loss", run.name, x_of(run.steps), ema(run.losses, smoothing), pen(color, 1), True,
                           dict(PER_STEP))]
    if run.metrics.get("val_loss"):
        curves.append(OverlayCurve("loss", f"{run.name} · validation", epoch_x, run.metrics["val_loss"], dashed,
                                   style=markers(color, 4)))
    scores = SCORES.get(task, ())
    for key, label in scores:
        if run.metrics.get(key):
            curves.append(OverlayCurve("metric", f"{run.name} · {label}", epoch_x, run.metrics[key], dashed,
                                       key == scores[-1][0], markers(color, 4)))
    if len(run.lrs):
        curves.append(OverlayCurve("lr", f"{run.name} · learning rate", x_of(run.lr_steps), run.lrs, pen(color, 1),
                                   True, dict(PER_STEP)))
    elif run.metrics.get("lr"):   # one point per epoch
        curves.append(OverlayCurve("lr", f"{run.name} · learning rate", epoch_x, run.metrics["lr"], pen(color, 1.5),
                                   True, {"antialias": True}))
    return curves
