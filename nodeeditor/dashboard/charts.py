"""Live training charts: the loss, the task's score and the learning rate, drawn the TensorBoard way.

Design (pyqtgraph's scrolling-plot recipe):

- Events feed numpy buffers (``chart_series.LiveSeries``). ``add_step`` and ``add_epoch`` only append
  (amortised O(1)) and mark charts dirty; they never touch a plot, so a burst of events costs next to
  nothing.
- ``redraw()`` is called by the dashboard's timer (10-20 Hz). It pushes whole buffers into the curves
  with ``setData`` only for charts that changed; with nothing new it returns at once. Plots clip to
  the view and auto-downsample ('peak': spikes stay visible), so 100k+ points cost what 2k do.
  Per-step curves avoid antialiased pens wider than a pixel, which Qt draws ~20x slower.
- The smoothed loss is TensorBoard's debiased exponential moving average (``smoothing.py``), carried
  forward as new steps arrive and recomputed, vectorised, when the weight changes.
- x is the global step (an epoch's metrics sit at the step the epoch ended on) or, on request, the
  epoch (step / steps per epoch), which lines up runs trained with different batch sizes.
- Other runs are overlaid from ``RunCurves``, read from a run folder's ``metrics.csv`` and
  ``steps.csv`` by ``layerloom.training.records`` (the run folder's torch-free reader and writer).

Here is the widget (controls, events in, drawing, settings); how a chart looks and frames its data is
``chart_plots.py``, the hover readout ``chart_readout.py``, saving pictures and CSV ``chart_export.py``.
Non-finite values (a NaN loss, an R2 of one sample) are kept as NaN and drawn as gaps.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QToolButton,
                               QVBoxLayout, QWidget)

from layerloom.training.events import EpochEnd, RunStarted, Step
from layerloom.training.records import RunCurves

from layerloom.nodeeditor.dashboard.chart_export import export_button, save_png
from layerloom.nodeeditor.dashboard.chart_plots import (CHARTS, EXTRA, LR, MIN_CHART_HEIGHT, PER_STEP, SCORE_TITLES,
                                                        SCORES, TITLES, TRAIN, VAL, OverlayCurve, follow_data,
                                                        frame_constant, frame_from_zero, lay_out_legend, markers,
                                                        overlay_curves, pen, solid, style_plot, theme_plot)
from layerloom.nodeeditor.dashboard.chart_readout import Readout, epoch_suffix, value_text
from layerloom.nodeeditor.dashboard.chart_series import LiveSeries
from layerloom.nodeeditor.dashboard.smoothing import DEFAULT_SMOOTHING, MAX_SMOOTHING
from layerloom.nodeeditor.theme.style import DARK, Theme


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
        self.series = LiveSeries(self._smoothing)

        self.plots = {name: pg.PlotWidget() for name in CHARTS}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {name: {} for name in CHARTS}
        self._labels: dict[int, str] = {}   # id(curve) -> its name in the hover readout
        self._readouts: dict[str, Readout] = {}
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
        export, self.export_menu = export_button(self)

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
        self._legends[name] = style_plot(item)
        self._readouts[name] = Readout(item)
        self._proxies.append(pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30,
                                            slot=lambda args, name=name: self._mouse_moved(name, args[0])))
        plot.viewport().installEventFilter(self)  # to hide the readout when the mouse leaves
        plot.installEventFilter(self)             # to fit the legend to a new width

    def _build_curves(self) -> None:
        # 1-pixel or not antialiased pens for the per-step curves (chart_plots says why)
        self._add_curve("loss", "train_raw", None, pen(TRAIN, 1, 80), hover="train (raw)", **PER_STEP)
        self._add_curve("loss", "train", "train (smoothed)", pen(TRAIN, 2), **PER_STEP)
        self._add_curve("loss", "val", "validation", pen(VAL, 2), **markers(VAL, 6))
        self._add_curve("lr", "lr", None, pen(LR, 2), hover="learning rate", **PER_STEP)

    def _add_curve(self, chart: str, key: str, legend: str | None, line_pen, hover: str | None = None,
                   **style) -> pg.PlotDataItem:
        curve = pg.PlotDataItem([], [], pen=line_pen, name=legend, **style)
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
    def expect(self, task: str) -> None:
        """A run of ``task`` is about to start: its empty charts now, so that ``begin`` has only to
        take its ``RunStarted`` (F5 to the first step shown does not wait for a rebuild)."""
        self.reset(None, task=task)

    def begin(self, started: RunStarted) -> None:
        """The run ``expect`` prepared for has started: chart it (a full ``reset`` when it is another
        task than expected, or data arrived meanwhile)."""
        if started.task != self._task or not self.series.empty or self._started is not None:
            self.reset(started)
            return
        self._started = started
        self._apply_titles()

    def reset(self, started: RunStarted | None, previous: RunCurves | None = None, task: str | None = None) -> None:
        """Start charting a new run (None: nothing). ``previous`` prefills the history a resumed run
        had before (``RunCurves.from_run_dir(started.run_dir)``); otherwise a resumed run's curves
        start at its first new step. ``task``: the charts' task while there is no run (default: keep)."""
        self._started = started
        self.series = LiveSeries(self._smoothing)
        task = started.task if started is not None else (task or self._task)   # nothing shown: keep the curves
        if task != self._task or not self.curves["metric"]:
            self._task = task
            for curve in list(self.curves["metric"].values()):
                self._remove_curve("metric", curve)
            self.curves["metric"] = {}
            colors = (TRAIN, VAL, EXTRA)
            for (key, label), color in zip(SCORES.get(task, ()), colors):
                self._add_curve("metric", key, label.removesuffix(" accuracy"), pen(color, 2), hover=label,
                                **markers(color, 5))   # the chart's title says accuracy: a short legend
            self.plots["metric"].setVisible(task in SCORES)
        if previous is not None:
            self.series.load(previous, self._spe())
        self._apply_titles()
        self._dirty = {*CHARTS, "overlays"}  # the score chart's overlays follow the task
        self.redraw()
        self._show_legends()
        self.reset_view()

    def add_step(self, step: Step) -> None:
        """Record a Step event's losses (steps ``step.step - len(losses) + 1`` .. ``step.step``).
        Cheap: no drawing until ``redraw``."""
        if self.series.add_step(step):  # a constant rate repaints its chart once an epoch, not every tick
            self._dirty.add("lr")
        self._dirty.add("loss")

    def add_epoch(self, end: EpochEnd) -> None:
        """Record an epoch's metrics; they are drawn at the step the epoch ended on."""
        if self.series.add_epoch(end, self._spe()):   # not a repeat
            self._dirty.update(CHARTS)

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
        spe, series = self._spe(), self.series
        if "loss" in dirty:
            x = self._x(series.steps.view(), spe)
            self.curves["loss"]["train_raw"].setData(x, series.losses.view())
            self.curves["loss"]["train"].setData(x, series.smoothed.view())
            self.curves["loss"]["val"].setData(self._epoch_x(), self.series.metric("val_loss"))
            self._frame_sparse("loss", x, series.losses.view())
        if "metric" in dirty:
            for key, curve in self.curves["metric"].items():
                curve.setData(self._epoch_x(), self.series.metric(key))
            first = next(iter(self.curves["metric"]), None)
            self._frame_sparse("metric", self._epoch_x(), self.series.metric(first) if first else np.empty(0), 1.0)
        if "lr" in dirty:
            if series.lr_steps.size:
                x, y = self._x(series.lr_steps.view(), spe), series.lrs.view()
            else:  # no Step events (yet): the rate each epoch trained with
                x, y = self._epoch_x(), self.series.metric("lr")
            self.curves["lr"]["lr"].setData(x, y)
            self._frame_sparse("lr", x, y)
            self._frame_constant_lr()
        if "overlays" in dirty:
            self._draw_overlays()
        return True

    def _frame_sparse(self, chart: str, x: np.ndarray, y: np.ndarray, top: float | None = None) -> None:
        """Fewer than two points are framed from 0 (``chart_plots.frame_from_zero``) until the data spans
        a range of its own, then followed. An empty chart forgets the previous run's range."""
        view = self.plots[chart].getPlotItem().getViewBox()
        finite = np.isfinite(y) if len(y) else np.zeros(0, bool)
        if np.count_nonzero(finite) >= 2 and not self._overlays:
            if chart in self._framed:
                self._framed.discard(chart)
                follow_data(view, np.asarray(x, np.float64)[finite], np.asarray(y, np.float64)[finite])
            return
        if self._overlays:
            return
        self._framed.add(chart)
        frame_from_zero(view, np.asarray(x, np.float64)[finite], np.asarray(y, np.float64)[finite], top, self._spe())

    def _frame_constant_lr(self) -> None:
        """A constant rate is framed from 0 (``chart_plots.frame_constant``), the rates of the runs compared
        with it included: one rate shared by them all would otherwise sit in pyqtgraph's padded range
        around it (0.001 drawn at 0 on an axis of -0.4..0.4)."""
        view = self.plots["lr"].getPlotItem().getViewBox()
        values = [self.series.lrs.view() if self.series.lrs.size else self.series.metric("lr")]
        values += [np.asarray(item.yData, np.float64) for chart, _, item in self._overlay_items
                   if chart == "lr" and item.yData is not None]
        if not frame_constant(view, np.concatenate([np.asarray(v, np.float64).ravel() for v in values])):
            view.enableAutoRange(axis=pg.ViewBox.YAxis)

    def _x(self, steps: np.ndarray, spe: int) -> np.ndarray:
        return steps / spe if self._x_epochs and spe else steps

    def _epoch_x(self) -> np.ndarray:
        return self.series.epochs.view() if self._x_epochs else self.series.epoch_steps.view()

    def _draw_overlays(self) -> None:
        if self._overlays and self._framed:   # other runs' curves: every chart fits them all again
            for chart in self._framed:
                self.plots[chart].getPlotItem().getViewBox().enableAutoRange()
            self._framed.clear()
        for chart, _, item in self._overlay_items:
            self._remove_curve(chart, item)
        self._overlay_items = []
        for i, run in enumerate(self._overlays):
            for curve in overlay_curves(run, i, self._task, self._x_epochs, self._smoothing):
                self._overlay(curve)
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
        if self._legend_fit.get(name) != key:   # not laid out yet for these entries at this width
            self._legend_fit[name] = key
            lay_out_legend(legend, plot)

    def _overlay(self, overlay: OverlayCurve) -> None:
        y, style = np.asarray(overlay.y, np.float64), dict(overlay.style)
        style.setdefault("antialias", overlay.pen.widthF() <= 1)
        name = overlay.label.split(" · ")[0] if overlay.legend else None
        curve = pg.PlotDataItem(np.asarray(overlay.x, np.float64), np.where(np.isfinite(y), y, np.nan),
                                pen=overlay.pen, name=name, **style)
        curve.setZValue(-1)  # under the live run
        self.plots[overlay.chart].getPlotItem().addItem(curve)
        if overlay.legend:
            self._legends[overlay.chart].addItem(curve, name)
        self._labels[id(curve)] = overlay.label
        self._overlay_items.append((overlay.chart, overlay.label, curve))

    # ---------------------------------------------------------------- settings
    def set_smoothing(self, weight: float) -> None:
        """The EMA weight (0: raw .. 0.999), as TensorBoard's smoothing slider."""
        weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
        if weight == self._smoothing:
            return
        self._smoothing = weight
        self.series.set_smoothing(weight)
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
        if self.series.empty and not self._overlays:   # nothing: no old range
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
        """Colours from the editor's theme (``chart_plots.theme_plot``), for the readouts too."""
        self.theme = theme
        for name, plot in self.plots.items():
            theme_plot(plot, self._legends[name], theme)
            self._readouts[name].set_theme(theme)
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
        readout = self._readouts[chart]
        found = readout.nearest(self._labels, x, y)
        if found is None:
            readout.hide()
            return None
        curve, i = found
        cx, cy = curve.getOriginalDataset()
        px, py = float(cx[i]), float(cy[i])
        message = self._readout_text(curve, px, py, i)
        readout.show_point(px, py, message, solid(curve.opts.get("pen"), self.theme.text))
        return message

    def _readout_text(self, curve: pg.PlotDataItem, x: float, y: float, i: int) -> str:
        where = f"epoch {x:.4g}" if self._x_epochs else f"step {x:,.0f}"
        if not self._x_epochs:
            where += epoch_suffix(self.series.epochs.view(), self.series.epoch_steps.view(), x)
        train = self.curves["loss"]
        if curve is train["train"] or curve is train["train_raw"]:  # both values, as TensorBoard shows
            smoothed, raw = value_text(self.series.smoothed.view()[i]), value_text(self.series.losses.view()[i])
            return f"train\n{where}\n{smoothed} smoothed\n{raw} raw"
        return f"{self._labels[id(curve)]}\n{where}\n{value_text(y)}"

    def hide_readout(self, chart: str) -> None:
        self._readouts[chart].hide()

    # ---------------------------------------------------------------- what is plotted, exports
    def run_dir(self) -> str | None:
        """The folder of the run charted (None: none, or a run that saves no folder)."""
        return self._started.run_dir if self._started is not None else None

    def history(self) -> RunCurves:
        """The live run's data as plotted (copies); its smoothed loss is ``ema(losses, smoothing)``."""
        run_dir = self.run_dir()
        return self.series.history(Path(run_dir).name if run_dir else "run", self._spe())

    def export_png(self, chart: str, path: str | os.PathLike, width: int | None = None) -> Path:
        """Save one chart (``"loss"``, ``"metric"`` or ``"lr"``) as drawn, ``width`` pixels wide
        (default: its width on screen, at least 800) with the on-screen aspect ratio; the readout is
        left out (``chart_export.save_png``)."""
        if chart not in self.plots:
            raise ValueError(f"unknown chart {chart!r}; one of {', '.join(CHARTS)}")
        self.redraw()
        self.hide_readout(chart)
        return save_png(self.plots[chart], path, width)

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Save every value charted as one CSV (``LiveSeries.write_csv``): a ``kind`` column says
        ``step`` (loss, smoothed loss, and lr where a Step event reported it) or ``epoch`` (lr and every
        metric). Floats are written exactly (``repr``); an empty cell is a value not recorded."""
        return self.series.write_csv(path)
