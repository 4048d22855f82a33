"""The charts' hover readout: under the mouse, a guide line, a dot on the nearest point of any curve
(nearest in pixels, looking at the points within 10 pixels in x) and a label with its values, beside
the dot on the side towards the middle of the view so it is never clipped. Also how a readout writes
a value and an x position.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from layerloom.nodeeditor.dashboard.chart_plots import with_alpha
from layerloom.nodeeditor.theme.style import Theme


class Readout:
    """One chart's readout: ``line``, ``dot`` and ``text``, hidden until ``show_point``."""

    def __init__(self, item: pg.PlotItem):
        self.item = item
        self.line = pg.InfiniteLine(angle=90, movable=False)
        self.dot = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=8)
        self.text = pg.TextItem(anchor=(0, 1))
        for z, part in enumerate((self.line, self.text, self.dot)):
            part.setZValue(30 + z)
            part.hide()
            item.addItem(part, ignoreBounds=True)

    def set_theme(self, theme: Theme) -> None:
        self.line.setPen(pg.mkPen(theme.muted, width=1, style=Qt.PenStyle.DashLine))
        self.dot.setSymbolPen(pg.mkPen(theme.canvas, width=1.5))
        self.text.fill = pg.mkBrush(with_alpha(theme.card, 235))
        self.text.border = pg.mkPen(theme.card_border)
        self.text.setColor(theme.text)

    def hide(self) -> None:
        for part in (self.line, self.dot, self.text):
            part.hide()

    def nearest(self, curves: dict[int, str], x: float, y: float):
        """``(curve, index)`` of the point nearest to view position (x, y) among the visible curves
        whose ids ``curves`` names; None when none has a point. ``y`` is in view units (log10 of the
        value in log mode)."""
        vb = self.item.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        sx = max(vb.width(), 1.0) / max(x1 - x0, 1e-300)  # pixels per unit
        sy = max(vb.height(), 1.0) / max(y1 - y0, 1e-300)
        log_y = self.item.ctrl.logYCheck.isChecked()
        best = None  # (distance in pixels, curve, index)
        for curve in self.item.listDataItems():
            if id(curve) not in curves or not curve.isVisible():
                continue
            cx, cy = curve.getOriginalDataset()
            if cx is None or len(cx) == 0:
                continue
            found = _nearest(cx, _log10(cy) if log_y else cy, x, y, sx, sy)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], curve, found[1])
        return None if best is None else best[1:]

    def show_point(self, px: float, py: float, message: str, color) -> None:
        """The readout at data point (px, py): the guide line, a dot in ``color`` and ``message``."""
        (x0, x1), (y0, y1) = self.item.getViewBox().viewRange()
        log_y = self.item.ctrl.logYCheck.isChecked()
        self.line.setPos(px)
        self.dot.setData([px], [py], symbolBrush=color)
        shown_y = math.log10(py) if log_y and py > 0 else py
        self.text.setText(message)
        # beside the dot, on the side towards the middle of the view, so it is never clipped
        self.text.setAnchor((1.04 if px > (x0 + x1) / 2 else -0.04, -0.1 if shown_y > (y0 + y1) / 2 else 1.1))
        self.text.setPos(px, shown_y)
        for part in (self.line, self.dot, self.text):
            part.setVisible(True)  # not show(): TextItem refreshes its scale only in its setVisible


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


def epoch_suffix(epochs: np.ndarray, epoch_steps: np.ndarray, x: float) -> str:
    """The text after a step ``x`` that an epoch ended on: ``" (epoch N)"``; empty for other steps."""
    hits = np.nonzero(epoch_steps == x)[0]
    return f" (epoch {int(epochs[hits[0]])})" if hits.size else ""


def value_text(v: float) -> str:
    """A value as the readout writes it: 4 decimals, or 3 significant digits in e-notation when tiny
    or huge."""
    if not math.isfinite(v):
        return str(v)
    return f"{v:.3e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5) else f"{v:.4f}"
