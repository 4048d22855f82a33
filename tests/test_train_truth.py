"""What the Train workspace shows is true: a constant learning rate stays readable while runs are compared
with it."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.training.events import RunStarted, Step

pytestmark = pytest.mark.gui


def _started(epochs: int = 1, spe: int = 20) -> RunStarted:
    return RunStarted(None, "cpu", "CPU (x86_64, 1 thread)", "fp32", epochs, 0, spe, spe * 32, 360, 4810,
                      "classification", tuple("0123456789"), "digits")


def test_a_constant_rate_compared_with_a_run_of_the_same_rate_is_framed_from_zero(qtbot):
    """A run selected in the Runs list, then a new run trains at the same constant rate: the rate was
    drawn at 0 on an axis of -0.4..0.4 (the framing was skipped whenever runs were compared)."""
    from layerloom.nodeeditor.dashboard.charts import TrainingCharts
    from layerloom.training.records import RunCurves

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(900, 600)
    other = RunCurves("earlier-run", np.arange(1, 21), np.linspace(2, 1, 20), [1], {"val_loss": [1.2], "lr": [1e-3]},
                      [20.0], np.arange(1, 21), np.full(20, 1e-3))
    charts.set_overlays([other])
    charts.reset(_started())
    for step in range(1, 21):
        charts.add_step(Step(1, step, 2.0 - step / 20, 1e-3, 100.0, (2.0 - step / 20,), step / 20, None))
        charts.redraw(limit=1)                        # the live dashboard's path: a chart per tick
    charts.redraw()
    view = charts.plots["lr"].getPlotItem().getViewBox()
    view.updateAutoRange()
    low, high = view.viewRange()[1]
    assert low == 0.0 and high == pytest.approx(1.25e-3)
    faster = RunCurves("faster", np.arange(1, 21), np.linspace(2, 1, 20), [1], {"lr": [5e-3]}, [20.0],
                       np.arange(1, 21), np.full(20, 5e-3))
    charts.set_overlays([other, faster])              # different rates: every curve in view
    view.updateAutoRange()
    low, high = view.viewRange()[1]
    assert low <= 1e-3 and 5e-3 <= high
