"""Live training charts: the loss, the task's score and the learning rate, drawn the TensorBoard way.

Design (pyqtgraph's scrolling-plot recipe):

- Events feed numpy buffers. ``add_step`` and ``add_epoch`` only append (amortised O(1)) and mark
  charts dirty; they never touch a plot, so a burst of events costs next to nothing.
- ``redraw()`` is called by the dashboard's timer (10-20 Hz). It pushes whole buffers into the curves
  with ``setData`` only for charts that changed; with nothing new it returns at once. Plots clip to
  the view and auto-downsample ('peak': spikes stay visible), so 100k+ points cost what 2k do.
  Per-step curves avoid antialiased pens wider than a pixel, which Qt draws ~20x slower.
- The smoothed loss is TensorBoard's debiased exponential moving average. It is carried forward as
  new steps arrive (state: the running average and the count of finite points) and recomputed,
  vectorised, when the weight changes.
- x is the global step (an epoch's metrics sit at the step the epoch ended on) or, on request, the
  epoch (step / steps per epoch), which lines up runs trained with different batch sizes.
- Other runs are overlaid from ``RunCurves``, read from a run folder's ``metrics.csv`` and
  ``steps.csv`` by ``layerloom.training.records`` (the run folder's torch-free reader).

Non-finite values (a NaN loss, an R2 of one sample) are kept as NaN and drawn as gaps.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QMenu,
                               QMessageBox, QSizePolicy, QSlider, QToolButton, QVBoxLayout, QWidget)

from layerloom.training.events import EpochEnd, RunStarted, Step
from layerloom.training.records import RunCurves

from layerloom.nodeeditor.theme.style import DARK, Theme

CHARTS = ("loss", "metric", "lr")
TITLES = {"loss": "Loss", "metric": "Score", "lr": "Learning rate"}
DEFAULT_SMOOTHING = 0.6
MAX_SMOOTHING = 0.999

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


# ------------------------------------------------------------------ smoothing
def ema(values, weight: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``values`` (non-finite points stay as
    they are and do not move the average)."""
    return _ema_extend(values, weight, 0.0, 0)[0]


def _ema_extend(values, weight: float, last: float, count: int) -> tuple[np.ndarray, float, int]:
    """Continue the average over ``values`` from ``last`` (the biased running value) after ``count``
    finite points; returns the smoothed values and the new ``(last, count)``.

    Vectorised: within a chunk, last_j = w^(j+1) * (last + (1 - w) * sum_k<=j x_k / w^(k+1)); chunks
    are short enough that w^-(k+1) stays below 1e200."""
    out = np.array(values, dtype=np.float64)
    finite = np.isfinite(out)
    x = out[finite]
    if x.size == 0:
        return out, last, count
    weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
    if weight == 0.0:
        out[finite] = x
        return out, float(x[-1]), count + x.size
    chunk = max(1, int(200 * math.log(10) / -math.log(weight)))
    biased = np.empty_like(x)
    for start in range(0, x.size, chunk):
        part = x[start:start + chunk]
        decay = weight ** np.arange(1, part.size + 1, dtype=np.float64)
        biased[start:start + part.size] = decay * (last + (1.0 - weight) * np.cumsum(part / decay))
        last = float(biased[start + part.size - 1])
    seen = count + np.arange(1, x.size + 1, dtype=np.float64)
    out[finite] = biased / (1.0 - weight ** seen)
    return out, last, count + x.size


class _Buffer:
    """A growable 1-D numpy array: amortised O(1) appends, ``view()`` without a copy."""

    def __init__(self, dtype=np.float64, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=dtype)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self._data.dtype).reshape(-1)
        end = self.size + values.size
        if end > self._data.size:
            grown = np.empty(max(end, 2 * self._data.size), dtype=self._data.dtype)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:end] = values
        self.size = end

    def view(self) -> np.ndarray:
        return self._data[:self.size]


# ------------------------------------------------------------------ the widget
class TrainingCharts(QWidget):
    """Loss (raw and smoothed per step, validation per epoch), the task's score per epoch and the
    learning rate, with a hover readout, log scale, x in steps or epochs, overlays and exports."""

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None):
        super().__init__(parent)
        self.theme = theme
        self._started: RunStarted | None = None
        self._task = "loss"
        self._smoothing = DEFAULT_SMOOTHING
        self._x_epochs = False
        self._overlays: list[RunCurves] = []
        self._overlay_items: list[tuple[str, str, pg.PlotDataItem]] = []  # (chart, label, item)
        self._dirty: set[str] = set()
        self._drawn: dict[str, int] = {}   # chart -> the redraw that last drew it
        self._legends: dict[str, pg.LegendItem] = {}   # chart -> its legend, in the title row
        self._legend_fit: dict[str, tuple] = {}         # chart -> (width, entries) its legend was fitted to
        self._framed: set[str] = set()                  # charts framed by hand while they hold < 2 points
        self._draws = 0
        self._clear_buffers()

        self.plots = {name: pg.PlotWidget() for name in CHARTS}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {name: {} for name in CHARTS}
        self._labels: dict[int, str] = {}   # id(curve) -> its name in the hover readout
        self._readouts: dict[str, tuple] = {}
        self._proxies: list[pg.SignalProxy] = []  # a SignalProxy stops working when collected
        for name, plot in self.plots.items():
            self._setup_plot(name, plot)
        self._build_curves()
        self._build_ui()
        self.set_theme(theme)
        self.reset(None)

    # ---------------------------------------------------------------- layout
    def _build_ui(self) -> None:
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, int(MAX_SMOOTHING * 1000))
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, MAX_SMOOTHING)
        self.smoothing_spin.setDecimals(3)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_slider.valueChanged.connect(lambda v: self.set_smoothing(v / 1000))
        self.smoothing_spin.valueChanged.connect(self.set_smoothing)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Logarithmic y axis for the loss")
        self.log_check.toggled.connect(self.set_log_loss)
        # the plot's own context menu has a log switch too: keep the checkbox in step with it
        self.plots["loss"].getPlotItem().ctrl.logYCheck.toggled.connect(lambda _: self._sync_controls())
        self.x_combo = QComboBox()
        self.x_combo.addItems(["Step", "Epoch"])
        self.x_combo.setToolTip("x axis: the global step, or epochs (compares runs with different batch sizes)")
        self.x_combo.currentIndexChanged.connect(lambda i: self.set_x_epochs(i == 1))
        reset = QToolButton()
        reset.setText("Reset view")
        reset.setToolTip("Fit every chart to its data again (and follow new points)")
        reset.clicked.connect(self.reset_view)
        export = QToolButton()
        export.setText("Save Chart ▾")
        export.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")   # the ▾ says it
        export.setToolTip("Save a chart as a PNG picture, or every charted value as CSV (the model's own "
                          "export is Run > Export…)")
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(export)
        for name in CHARTS:
            menu.addAction(f"{TITLES[name]} chart as PNG…", lambda name=name: self._ask_png(name))
        menu.addSeparator()
        menu.addAction("Metrics as CSV…", self._ask_csv)
        export.setMenu(menu)
        self.export_menu = menu

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing_slider)
        bar.addWidget(self.smoothing_spin)
        bar.addSpacing(12)
        bar.addWidget(self.log_check)
        bar.addSpacing(12)
        bar.addWidget(QLabel("x axis"))
        bar.addWidget(self.x_combo)
        bar.addStretch(1)
        bar.addWidget(reset)
        bar.addWidget(export)
        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        bottom.addWidget(self.plots["metric"], 1)
        bottom.addWidget(self.plots["lr"], 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(bar)
        # the loss (per step, the one watched) and the per-epoch charts share the height evenly: at
        # 1366x768 each is well over 220 px tall in the Train workspace
        layout.addWidget(self.plots["loss"], 1)
        layout.addLayout(bottom, 1)
        for plot in self.plots.values():
            plot.setMinimumHeight(MIN_CHART_HEIGHT)
        self._sync_controls()

    def _setup_plot(self, name: str, plot: pg.PlotWidget) -> None:
        item = plot.getPlotItem()
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
        self._legends[name] = _title_row(item)
        # the hover readout: a guide line, a dot on the nearest point and its values
        line = pg.InfiniteLine(angle=90, movable=False)
        dot = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=8)
        text = pg.TextItem(anchor=(0, 1))
        for z, part in enumerate((line, text, dot)):
            part.setZValue(30 + z)
            part.hide()
            item.addItem(part, ignoreBounds=True)
        self._readouts[name] = (line, dot, text)
        self._proxies.append(pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30,
                                            slot=lambda args, name=name: self._mouse_moved(name, args[0])))
        plot.viewport().installEventFilter(self)  # to hide the readout when the mouse leaves
        plot.installEventFilter(self)             # to fit the legend to a new width

    def _build_curves(self) -> None:
        # Per-step curves can hold 100k+ points: Qt draws an antialiased pen wider than 1 pixel ~20x
        # slower (250 ms for 10k points here), so those are either 1 pixel wide or not antialiased.
        # Per-epoch curves have a handful of points and get the nicer pens.
        self._add_curve("loss", "train_raw", None, _pen(TRAIN, 1, 80), hover="train (raw)", **PER_STEP)
        self._add_curve("loss", "train", "train (smoothed)", _pen(TRAIN, 2), **PER_STEP)
        self._add_curve("loss", "val", "validation", _pen(VAL, 2), **_markers(VAL, 6))
        self._add_curve("lr", "lr", None, _pen(LR, 2), hover="learning rate", **PER_STEP)

    def _add_curve(self, chart: str, key: str, legend: str | None, pen, hover: str | None = None,
                   **style) -> pg.PlotDataItem:
        curve = pg.PlotDataItem([], [], pen=pen, name=legend, **style)
        self.plots[chart].getPlotItem().addItem(curve)
        if legend:
            self._legends[chart].addItem(curve, legend)
        self.curves[chart][key] = curve
        self._labels[id(curve)] = hover or legend or key
        return curve

    def _remove_curve(self, chart: str, curve: pg.PlotDataItem) -> None:
        self.plots[chart].getPlotItem().removeItem(curve)
        self._legends[chart].removeItem(curve)
        self._labels.pop(id(curve), None)

    # ---------------------------------------------------------------- events in
    def _clear_buffers(self) -> None:
        self._steps = _Buffer()                  # global step of each loss (float: plotted as is)
        self._step_epochs = _Buffer(np.int32)
        self._losses = _Buffer()
        self._smoothed = _Buffer()
        self._ema_state = (0.0, 0)
        self._lr_steps = _Buffer()
        self._lrs = _Buffer()
        self._epochs = _Buffer()
        self._epoch_steps = _Buffer()
        self._metrics: dict[str, _Buffer] = {}
        self._last_step = 0
        self._last_step_epoch = 0

    def expect(self, task: str) -> None:
        """A run of ``task`` is about to start: its empty charts now, so that ``begin`` has only to
        take its ``RunStarted`` (F5 to the first step shown does not wait for a rebuild)."""
        self.reset(None, task=task)

    def begin(self, started: RunStarted) -> None:
        """The run ``expect`` prepared for has started: chart it (a full ``reset`` when it is another
        task than expected, or data arrived meanwhile)."""
        if started.task != self._task or self._steps.size or self._epochs.size or self._started is not None:
            self.reset(started)
            return
        self._started = started
        self._apply_titles()

    def reset(self, started: RunStarted | None, previous: RunCurves | None = None, task: str | None = None) -> None:
        """Start charting a new run (None: nothing). ``previous`` prefills the history a resumed run
        had before (``RunCurves.from_run_dir(started.run_dir)``); otherwise a resumed run's curves
        start at its first new step. ``task``: the charts' task while there is no run (default: keep)."""
        self._started = started
        self._clear_buffers()
        task = started.task if started is not None else (task or self._task)   # nothing shown: keep the curves
        if task != self._task or not self.curves["metric"]:
            self._task = task
            for curve in list(self.curves["metric"].values()):
                self._remove_curve("metric", curve)
            self.curves["metric"] = {}
            colors = (TRAIN, VAL, EXTRA)
            for (key, label), color in zip(SCORES.get(task, ()), colors):
                self._add_curve("metric", key, label.removesuffix(" accuracy"), _pen(color, 2), hover=label,
                                **_markers(color, 5))   # the chart's title says accuracy: a short legend
            self.plots["metric"].setVisible(task in SCORES)
        if previous is not None:
            self._load(previous)
        self._apply_titles()
        self._dirty = {*CHARTS, "overlays"}  # the score chart's overlays follow the task
        self.redraw()
        self._show_legends()
        self.reset_view()

    def _load(self, run: RunCurves) -> None:
        self._append_losses(np.asarray(run.steps, np.float64), np.asarray(run.losses, np.float64), None)
        if len(run.steps):
            self._last_step = int(run.steps[-1])
        self._lr_steps.extend(run.lr_steps)
        self._lrs.extend(run.lrs)
        x = run.epoch_x()
        for i, epoch in enumerate(run.epochs):
            self._append_epoch(epoch, float(x[i]), {k: v[i] for k, v in run.metrics.items() if i < len(v)})

    def add_step(self, step: Step) -> None:
        """Record a Step event's losses (steps ``step.step - len(losses) + 1`` .. ``step.step``).
        Cheap: no drawing until ``redraw``."""
        values = np.asarray(step.losses if step.losses else (step.loss,), np.float64)
        first = step.step - values.size + 1
        steps = np.arange(first, step.step + 1, dtype=np.float64)
        if first <= self._last_step:  # already seen (a resumed run's prefilled history): keep x increasing
            keep = steps > self._last_step
            steps, values = steps[keep], values[keep]
        if steps.size:
            self._append_losses(steps, values, step.epoch)
            self._last_step = step.step
        self._last_step_epoch = step.epoch
        if not self._lr_steps.size or step.step > self._lr_steps.view()[-1]:
            changed = not self._lrs.size or self._lrs.view()[-1] != step.lr
            self._lr_steps.extend((step.step,))
            self._lrs.extend((step.lr,))
            if changed:  # a constant rate repaints its chart once an epoch (add_epoch), not every tick
                self._dirty.add("lr")
        self._dirty.add("loss")

    def _append_losses(self, steps: np.ndarray, values: np.ndarray, epoch: int | None) -> None:
        values = np.where(np.isfinite(values), values, np.nan)
        smoothed, *state = _ema_extend(values, self._smoothing, *self._ema_state)
        self._ema_state = tuple(state)
        self._steps.extend(steps)
        self._losses.extend(values)
        self._smoothed.extend(smoothed)
        epochs = np.full(steps.size, epoch) if epoch is not None else _epoch_of(steps, self._spe())
        self._step_epochs.extend(epochs)

    def add_epoch(self, end: EpochEnd) -> None:
        """Record an epoch's metrics; they are drawn at the step the epoch ended on."""
        if self._epochs.size and end.epoch <= self._epochs.view()[-1]:
            return  # a repeat
        if self._last_step and self._last_step_epoch == end.epoch:
            x = float(self._last_step)
        else:
            x = float(end.epoch * self._spe()) if self._spe() else float(end.epoch)
        self._append_epoch(end.epoch, x, {**end.metrics, "lr": end.lr})
        self._dirty.update(CHARTS)

    def _append_epoch(self, epoch: int, x: float, values: dict[str, float]) -> None:
        count = self._epochs.size
        for name in values:
            if name not in self._metrics:
                self._metrics[name] = buffer = _Buffer(capacity=64)
                buffer.extend(np.full(count, np.nan))
        self._epochs.extend((epoch,))
        self._epoch_steps.extend((x,))
        for name, buffer in self._metrics.items():
            try:
                value = float(values[name])
            except (KeyError, TypeError, ValueError):
                value = math.nan  # not reported this epoch
            buffer.extend((value if math.isfinite(value) else math.nan,))

    def _spe(self) -> int:
        return self._started.steps_per_epoch if self._started is not None else 0

    # ---------------------------------------------------------------- drawing
    @property
    def pending(self) -> bool:
        """Data has arrived that ``redraw`` has not drawn yet."""
        return bool(self._dirty)

    def redraw(self, force: bool = False, limit: int | None = None) -> bool:
        """Push new data into the curves of the charts that changed; False when nothing had.

        ``limit``: update at most this many charts now (the loss first) and leave the rest for the next
        call. Each chart costs a paint of 15-25 ms here: a live dashboard passes 1, so an epoch's end,
        which changes all three, never blocks the event loop for the sum of their paints."""
        dirty = set(CHARTS) if force else self._dirty
        if not dirty:
            return False
        if limit is not None and not force:
            # the charts that have waited longest first: the loss changes every tick and would
            # otherwise starve the other two
            waiting = sorted((name for name in CHARTS if name in dirty), key=lambda n: self._drawn.get(n, -1))
            chosen = set(waiting[:limit]) | ({"overlays"} & dirty)
            self._dirty = dirty - chosen
            dirty = chosen
        else:
            self._dirty = set()
        self._draws += 1
        for name in dirty:
            self._drawn[name] = self._draws
        spe = self._spe()
        if "loss" in dirty:
            x = self._x(self._steps.view(), spe)
            self.curves["loss"]["train_raw"].setData(x, self._losses.view())
            self.curves["loss"]["train"].setData(x, self._smoothed.view())
            self.curves["loss"]["val"].setData(self._epoch_x(), self._metric("val_loss"))
            self._frame_sparse("loss", x, self._losses.view())
        if "metric" in dirty:
            for key, curve in self.curves["metric"].items():
                curve.setData(self._epoch_x(), self._metric(key))
            first = next(iter(self.curves["metric"]), None)
            self._frame_sparse("metric", self._epoch_x(), self._metric(first) if first else np.empty(0), 1.0)
        if "lr" in dirty:
            if self._lr_steps.size:
                x, y = self._x(self._lr_steps.view(), spe), self._lrs.view()
            else:  # no Step events (yet): the rate each epoch trained with
                x, y = self._epoch_x(), self._metric("lr")
            self.curves["lr"]["lr"].setData(x, y)
            self._frame_sparse("lr", x, y)
            self._frame_constant_lr()
        if "overlays" in dirty:
            self._draw_overlays()
        return True

    def _frame_sparse(self, chart: str, x: np.ndarray, y: np.ndarray, top: float | None = None) -> None:
        """Fewer than two points would sit in pyqtgraph's tiny padded range (x from -200 to 200, y ticks
        like 2.309354066848760): frame them from 0 instead, until the data spans a range of its own.
        An empty chart forgets the previous run's range."""
        view = self.plots[chart].getPlotItem().getViewBox()
        finite = np.isfinite(y) if len(y) else np.zeros(0, bool)
        if np.count_nonzero(finite) >= 2 and not self._overlays:
            if chart in self._framed:
                self._framed.discard(chart)
                # the data's own range now, from the arrays (the curves are clipped to the old view,
                # and a chart not yet laid out cannot measure them), then follow it
                xs, ys = np.asarray(x, np.float64)[finite], np.asarray(y, np.float64)[finite]
                if xs.min() < xs.max():
                    view.setXRange(float(xs.min()), float(xs.max()))
                if ys.min() < ys.max():
                    view.setYRange(float(ys.min()), float(ys.max()))
                view.enableAutoRange()
            return
        if self._overlays:
            return
        self._framed.add(chart)
        xs, ys = np.asarray(x, np.float64)[finite], np.asarray(y, np.float64)[finite]
        right = float(xs.max()) if xs.size else 0.0
        view.setXRange(0.0, max(right * 1.1, self._spe() or 1.0, 1.0), padding=0)
        high = top if top is not None else (float(ys.max()) * 1.25 if ys.size and ys.max() > 0 else 1.0)
        view.setYRange(0.0, high, padding=0)

    def _frame_constant_lr(self) -> None:
        """A constant rate (no schedule) would sit on pyqtgraph's padded range around it, where 0.001
        reads as 0: frame it from 0 to above the value instead."""
        view = self.plots["lr"].getPlotItem().getViewBox()
        values = self._lrs.view() if self._lrs.size else self._metric("lr")
        values = values[np.isfinite(values)]
        if self._overlays or not values.size or values.max() != values.min() or values.max() <= 0:
            view.enableAutoRange(axis=pg.ViewBox.YAxis)
            return
        view.setYRange(0.0, float(values.max()) * 1.25, padding=0)

    def _x(self, steps: np.ndarray, spe: int) -> np.ndarray:
        return steps / spe if self._x_epochs and spe else steps

    def _epoch_x(self) -> np.ndarray:
        return self._epochs.view() if self._x_epochs else self._epoch_steps.view()

    def _metric(self, name: str) -> np.ndarray:
        buffer = self._metrics.get(name)
        return buffer.view() if buffer is not None else np.full(self._epochs.size, np.nan)

    def _draw_overlays(self) -> None:
        if self._overlays and self._framed:   # other runs' curves: every chart fits them all again
            for chart in self._framed:
                self.plots[chart].getPlotItem().getViewBox().enableAutoRange()
            self._framed.clear()
        for chart, _, item in self._overlay_items:
            self._remove_curve(chart, item)
        self._overlay_items = []
        for i, run in enumerate(self._overlays):
            color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
            spe = run.steps_per_epoch
            epoch_x = np.array(run.epochs, np.float64) if self._x_epochs else run.epoch_x()
            steps = np.asarray(run.steps, np.float64)
            dashed = _pen(color, 1.5, style=Qt.PenStyle.DashLine)
            self._overlay("loss", run.name, self._x(steps, spe), ema(run.losses, self._smoothing), _pen(color, 1),
                          legend=True, **PER_STEP)
            if run.metrics.get("val_loss"):
                self._overlay("loss", f"{run.name} · validation", epoch_x, run.metrics["val_loss"], dashed,
                              **_markers(color, 4))
            scores = SCORES.get(self._task, ())
            for key, label in scores:
                if run.metrics.get(key):
                    self._overlay("metric", f"{run.name} · {label}", epoch_x, run.metrics[key], dashed,
                                  legend=key == scores[-1][0], **_markers(color, 4))
            if len(run.lrs):
                self._overlay("lr", f"{run.name} · learning rate", self._x(np.asarray(run.lr_steps, float), spe),
                              run.lrs, _pen(color, 1), legend=True, **PER_STEP)
            elif run.metrics.get("lr"):
                self._overlay("lr", f"{run.name} · learning rate", epoch_x, run.metrics["lr"], _pen(color, 1.5),
                              legend=True, antialias=True)  # one point per epoch
        self._frame_constant_lr()   # a constant rate's framing gives way to the runs compared with it
        self._show_legends()

    def legend(self, chart: str) -> pg.LegendItem:
        """The legend of ``chart`` (``"loss"``, ``"metric"`` or ``"lr"``), in its title row."""
        return self._legends[chart]

    def _show_legends(self) -> None:
        """Each legend in its chart's title row, above the data (never over the newest points): as
        many entries a line as the chart's width allows, more lines when they do not fit; hidden while
        it has none."""
        for name in self.plots:
            self._fit_legend(name)

    def _fit_legend(self, name: str) -> None:
        legend, plot = self._legends[name], self.plots[name]
        key = (plot.width(), tuple(label.text for _, label in legend.items))
        if self._legend_fit.get(name) == key:
            return   # the same entries at the same width: laid out already
        self._legend_fit[name] = key
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

    def _overlay(self, chart: str, label: str, x, y, pen, legend: bool = False, **style) -> None:
        y = np.asarray(y, np.float64)
        style.setdefault("antialias", pen.widthF() <= 1)
        curve = pg.PlotDataItem(np.asarray(x, np.float64), np.where(np.isfinite(y), y, np.nan), pen=pen,
                                name=label.split(" · ")[0] if legend else None, **style)
        curve.setZValue(-1)  # under the live run
        self.plots[chart].getPlotItem().addItem(curve)
        if legend:
            self._legends[chart].addItem(curve, label.split(" · ")[0])
        self._labels[id(curve)] = label
        self._overlay_items.append((chart, label, curve))

    # ---------------------------------------------------------------- settings
    def set_smoothing(self, weight: float) -> None:
        """The EMA weight (0: raw .. 0.999), as TensorBoard's smoothing slider."""
        weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
        if weight == self._smoothing:
            return
        self._smoothing = weight
        smoothed, *state = _ema_extend(self._losses.view(), weight, 0.0, 0)
        self._ema_state = tuple(state)
        self._smoothed.view()[:] = smoothed
        self._sync_controls()
        self._dirty.update(("loss", "overlays"))
        self.redraw()

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_log_loss(self, on: bool) -> None:
        """Logarithmic y axis for the loss chart."""
        self.plots["loss"].getPlotItem().setLogMode(y=bool(on))
        self._sync_controls()

    def set_x_epochs(self, on: bool) -> None:
        """x in epochs (True) or in global steps (False) on every chart."""
        if bool(on) == self._x_epochs:
            return
        self._x_epochs = bool(on)
        self._apply_titles()
        self._sync_controls()
        self._dirty.update((*CHARTS, "overlays"))
        self.redraw()
        self.reset_view()

    def set_overlays(self, runs: Iterable[RunCurves]) -> None:
        """Draw other runs under the live one (each in its own colour; empty: none)."""
        self._overlays = list(runs)
        self._dirty.add("overlays")
        self.redraw()

    def reset_view(self) -> None:
        """Fit every chart to its data and follow new points again."""
        self._framed.clear()
        for plot in self.plots.values():
            plot.getPlotItem().enableAutoRange()
        if not self._steps.size and not self._epochs.size and not self._overlays:   # nothing: no old range
            for name in CHARTS:
                self._frame_sparse(name, np.empty(0), np.empty(0), 1.0 if name == "metric" else None)

    def _sync_controls(self) -> None:
        if not hasattr(self, "smoothing_spin"):
            return
        for widget, value in ((self.smoothing_slider, round(self._smoothing * 1000)),
                              (self.smoothing_spin, self._smoothing),
                              (self.log_check, self.plots["loss"].getPlotItem().ctrl.logYCheck.isChecked()),
                              (self.x_combo, int(self._x_epochs))):
            widget.blockSignals(True)
            if isinstance(widget, QCheckBox):
                widget.setChecked(value)
            elif isinstance(widget, QComboBox):
                widget.setCurrentIndex(value)
            else:
                widget.setValue(value)
            widget.blockSignals(False)

    def _apply_titles(self) -> None:
        x_label = "epoch" if self._x_epochs else "step"
        titles = {**TITLES, "metric": SCORE_TITLES.get(self._task, TITLES["metric"])}
        for name, plot in self.plots.items():
            item = plot.getPlotItem()
            item.titleLabel.setText(titles[name], color=self.theme.text, size="10pt", bold=True)
            item.setLabel("bottom", x_label, color=self.theme.muted)

    def set_theme(self, theme: Theme) -> None:
        """Colours from the editor's theme: the canvas behind the charts, its border colour for the
        axes and grid (pyqtgraph draws both with one pen), muted tick labels, text for titles."""
        self.theme = theme
        for name, plot in self.plots.items():
            item = plot.getPlotItem()
            plot.setBackground(theme.canvas)
            plot.resetCachedContent()   # the view caches its background: repaint it in the new colour
            plot.viewport().update()
            for axis in ("left", "bottom"):
                ax = item.getAxis(axis)
                ax.setPen(pg.mkPen(theme.card_border, width=1))
                ax.setTextPen(pg.mkPen(theme.muted))
            legend = self._legends[name]
            legend.setLabelTextColor(theme.text)
            for _, label in legend.items:  # entries made before: their text is drawn already
                label.setText(label.text, color=theme.text)
            line, dot, text = self._readouts[name]
            line.setPen(pg.mkPen(theme.muted, width=1, style=Qt.PenStyle.DashLine))
            dot.setSymbolPen(pg.mkPen(theme.canvas, width=1.5))
            text.fill = pg.mkBrush(_alpha(theme.card, 235))
            text.border = pg.mkPen(theme.card_border)
            text.setColor(theme.text)
        self._apply_titles()

    # ---------------------------------------------------------------- hover readout
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            for name, plot in self.plots.items():
                if plot is watched:
                    self._fit_legend(name)
        if event.type() == QEvent.Type.Leave:
            for name, plot in self.plots.items():
                if plot.viewport() is watched:
                    self.hide_readout(name)
        return super().eventFilter(watched, event)

    def _mouse_moved(self, chart: str, scene_pos) -> None:
        vb = self.plots[chart].getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            self.hide_readout(chart)
            return
        point = vb.mapSceneToView(scene_pos)
        self.show_readout(chart, point.x(), point.y())

    def show_readout(self, chart: str, x: float, y: float) -> str | None:
        """Mark the point nearest to view position (x, y) on ``chart`` and show its values; returns
        the text shown (None: no data). ``y`` is in view units (log10 of the value in log mode)."""
        item = self.plots[chart].getPlotItem()
        vb = item.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        sx = max(vb.width(), 1.0) / max(x1 - x0, 1e-300)  # pixels per unit
        sy = max(vb.height(), 1.0) / max(y1 - y0, 1e-300)
        log_y = item.ctrl.logYCheck.isChecked()
        best = None  # (distance in pixels, curve, index)
        for curve in item.listDataItems():
            if id(curve) not in self._labels or not curve.isVisible():
                continue
            cx, cy = curve.getOriginalDataset()
            if cx is None or len(cx) == 0:
                continue
            found = _nearest(cx, _log10(cy) if log_y else cy, x, y, sx, sy)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], curve, found[1])
        if best is None:
            self.hide_readout(chart)
            return None
        _, curve, i = best
        cx, cy = curve.getOriginalDataset()
        px, py = float(cx[i]), float(cy[i])
        message = self._readout_text(curve, px, py, i)
        line, dot, text = self._readouts[chart]
        line.setPos(px)
        dot.setData([px], [py], symbolBrush=_solid(curve.opts.get("pen"), self.theme.text))
        shown_y = math.log10(py) if log_y and py > 0 else py
        text.setText(message)
        # beside the dot, on the side towards the middle of the view, so it is never clipped
        text.setAnchor((1.04 if px > (x0 + x1) / 2 else -0.04, -0.1 if shown_y > (y0 + y1) / 2 else 1.1))
        text.setPos(px, shown_y)
        for part in (line, dot, text):
            part.setVisible(True)  # not show(): TextItem refreshes its scale only in its setVisible
        return message

    def _readout_text(self, curve: pg.PlotDataItem, x: float, y: float, i: int) -> str:
        where = f"epoch {x:.4g}" if self._x_epochs else f"step {x:,.0f}"
        if not self._x_epochs:
            where += _epoch_suffix(self._epochs.view(), self._epoch_steps.view(), x)
        train = self.curves["loss"]
        if curve is train["train"] or curve is train["train_raw"]:  # both values, as TensorBoard shows
            smoothed, raw = _value(self._smoothed.view()[i]), _value(self._losses.view()[i])
            return f"train\n{where}\n{smoothed} smoothed\n{raw} raw"
        return f"{self._labels[id(curve)]}\n{where}\n{_value(y)}"

    def hide_readout(self, chart: str) -> None:
        for part in self._readouts[chart]:
            part.hide()

    # ---------------------------------------------------------------- what is plotted, exports
    def history(self) -> RunCurves:
        """The live run's data as plotted (copies); its smoothed loss is ``ema(losses, smoothing)``."""
        name = Path(self._started.run_dir).name if self._started is not None and self._started.run_dir else "run"
        return RunCurves(
            name, self._steps.view().astype(np.int64), self._losses.view().copy(),
            [int(e) for e in self._epochs.view()], {k: b.view().tolist() for k, b in self._metrics.items()},
            self._epoch_steps.view().tolist(), self._lr_steps.view().astype(np.int64), self._lrs.view().copy(),
            self._spe())

    def export_png(self, chart: str, path: str | os.PathLike, width: int | None = None) -> Path:
        """Save one chart (``"loss"``, ``"metric"`` or ``"lr"``) as drawn, ``width`` pixels wide
        (default: its width on screen, at least 800) with the on-screen aspect ratio; the readout is
        left out. The chart is laid out at that size for the export rather than scaled (pyqtgraph's
        scaled export misplaces the legend), then put back."""
        if chart not in self.plots:
            raise ValueError(f"unknown chart {chart!r}; one of {', '.join(CHARTS)}")
        self.redraw()
        plot = self.plots[chart]
        old = plot.size()
        on_screen = plot.isVisible() and old.width() >= 50 and old.height() >= 50
        width = int(width or max(800, old.width() if on_screen else 0))
        height = round(width * old.height() / old.width()) if on_screen else round(width * 0.5)
        self.hide_readout(chart)
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

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Save every value charted as one CSV: a ``kind`` column says ``step`` (loss, smoothed loss,
        and lr where a Step event reported it) or ``epoch`` (lr and every metric). Floats are written
        exactly (``repr``); an empty cell is a value not recorded."""
        metric_names = [n for n in self._metrics if n != "lr"]
        columns = ["kind", "epoch", "step", "loss", "loss_smoothed", "lr", *metric_names]
        lr_at = dict(zip(self._lr_steps.view().astype(np.int64).tolist(), self._lrs.view().tolist()))
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for step, epoch, loss, smooth in zip(self._steps.view().astype(np.int64).tolist(),
                                                 self._step_epochs.view().tolist(), self._losses.view().tolist(),
                                                 self._smoothed.view().tolist()):
                writer.writerow(["step", epoch, step, _cell(loss), _cell(smooth), _cell(lr_at.get(step)),
                                 *[""] * len(metric_names)])
            for i, epoch in enumerate(self._epochs.view().tolist()):
                step = self._epoch_steps.view()[i]
                writer.writerow(["epoch", int(epoch), int(step) if math.isfinite(step) else "", "", "",
                                 _cell(self._metric("lr")[i]), *[_cell(self._metrics[n].view()[i])
                                                                for n in metric_names]])
        return path

    def _ask_png(self, chart: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export the {TITLES[chart].lower()} chart",
                                              str(self._export_dir() / f"{chart}.png"), "PNG image (*.png)")
        if path:
            self._export(lambda: self.export_png(chart, path))

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the metrics", str(self._export_dir() / "charts.csv"),
                                              "CSV file (*.csv)")
        if path:
            self._export(lambda: self.export_csv(path))

    def _export(self, action) -> None:
        try:
            action()
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))

    def _export_dir(self) -> Path:
        run_dir = self._started.run_dir if self._started is not None else None
        return Path(run_dir) if run_dir and Path(run_dir).is_dir() else Path.cwd()


# ------------------------------------------------------------------ small helpers
def _title_row(item: pg.PlotItem) -> pg.LegendItem:
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


def _pen(color: str, width: float, alpha: int = 255, style=Qt.PenStyle.SolidLine):
    return pg.mkPen(_alpha(color, alpha), width=width, style=style)


def _layout_at(plot: pg.PlotWidget, width: int, height: int) -> None:
    """Give a plot this size now, shown or not (a hidden widget would only resize when shown)."""
    plot.resize(width, height)
    plot.resizeEvent(None)  # pyqtgraph's handler lays the plot out; it does not read the event


def _markers(color: str, size: int) -> dict:
    """Style of a per-epoch curve: a dot on each epoch, antialiased (a few points only)."""
    return {"symbol": "o", "symbolSize": size, "symbolPen": None, "symbolBrush": color, "antialias": True}


def _solid(pen, fallback: str) -> QColor:
    """A pen's colour made opaque (the readout's dot on the faint raw loss is solid all the same)."""
    color = QColor(pen.color() if pen is not None else fallback)
    color.setAlpha(255)
    return color


def _alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _nearest(x: np.ndarray, y: np.ndarray, mx: float, my: float, sx: float, sy: float):
    """(distance in pixels, index) of the finite point nearest to (mx, my), looking at the points
    within 10 pixels in x (or the two either side of mx when none is)."""
    lo = int(np.searchsorted(x, mx - 10 / sx))
    hi = int(np.searchsorted(x, mx + 10 / sx))
    if hi - lo > 20000:  # a dense stretch: the points closest in x are enough
        middle = int(np.searchsorted(x, mx))
        lo, hi = max(0, middle - 10000), middle + 10000
    if hi <= lo:
        lo, hi = max(0, lo - 1), min(len(x), lo + 1)
    dx, dy = (x[lo:hi] - mx) * sx, (y[lo:hi] - my) * sy
    distance = np.hypot(dx, dy)
    distance[~np.isfinite(distance)] = np.inf
    if distance.size == 0 or not np.isfinite(distance.min()):
        return None
    i = int(np.argmin(distance))
    return float(distance[i]), lo + i


def _epoch_of(steps: np.ndarray, spe: int) -> np.ndarray:
    return np.ceil(steps / spe).astype(np.int32) if spe else np.zeros(steps.size, np.int32)


def _epoch_suffix(epochs: np.ndarray, epoch_steps: np.ndarray, x: float) -> str:
    hits = np.nonzero(epoch_steps == x)[0]
    return f" (epoch {int(epochs[hits[0]])})" if hits.size else ""


def _value(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{v:.3e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5) else f"{v:.4f}"


def _cell(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else str(value)
