"""The live training charts: events in, curves out, checked against TensorBoard's smoothing and the
trainer's own run-folder writer."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QToolButton

from layerloom.training.events import EpochEnd, RunStarted, Step

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ synthetic runs
def started(task: str = "classification", epochs: int = 3, spe: int = 400, start_epoch: int = 0,
            run_dir: str | None = None) -> RunStarted:
    return RunStarted(run_dir, "cpu", "CPU (x86_64, 2 threads)", "fp32", epochs, start_epoch, spe, spe * 32, 360,
                      4810, task, tuple("0123456789") if task == "classification" else None, "digits")


def realistic_events(task: str = "classification", epochs: int = 3, spe: int = 400, chunk: int = 37,
                     start_epoch: int = 0, seed: int = 0) -> list:
    """What a trainer sends for a run like digits-MLP: noisy falling losses in Step events of ``chunk``
    steps, a cosine learning rate, and an EpochEnd with the task's metrics after each epoch."""
    rng = np.random.default_rng(seed)
    total = epochs * spe
    events, step = [], start_epoch * spe
    for epoch in range(start_epoch + 1, epochs + 1):
        done = 0
        while done < spe:
            n = min(chunk, spe - done)
            s = np.arange(step + 1, step + n + 1)
            loss = 2.3 * np.exp(-s / 150) + 0.12 + rng.normal(0, 0.06, n) * np.exp(-s / 600) + 0.03 * rng.random(n)
            step, done = step + n, done + n
            lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
            events.append(Step(epoch, step, float(loss[-1]), lr, 9.6e4, tuple(loss.tolist()), step / total, 1.5))
        val = 2.3 * math.exp(-step / 150) + 0.15 + 0.02 * epoch
        metrics = {"train_loss": val - 0.03, "val_loss": val}
        if task == "regression":
            metrics.update(val_mae=val / 2, val_rmse=val / 1.5, val_r2=1 - val / 3)
        elif task in ("classification", "binary"):
            metrics.update(train_accuracy=1 - val / 3 + 0.02, val_accuracy=1 - val / 3, val_precision=0.9,
                           val_recall=0.9, val_f1=1 - val / 3 - 0.01)
        events.append(EpochEnd(epoch, metrics, 1e-3, 1.2, 1.0, True, {"metric": "val_loss", "value": val,
                                                                         "epoch": epoch}))
    return events


def feed(charts, events) -> None:
    for event in events:
        (charts.add_step if isinstance(event, Step) else charts.add_epoch)(event)


def tensorboard_ema(values, weight):
    """TensorBoard's resmoothDataset (vz_line_chart2), transcribed loop for loop."""
    last, num_accum, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        num_accum += 1
        debias = 1 - weight ** num_accum if weight != 1 else 1
        out.append(last / debias)
    return np.array(out, dtype=float)


@pytest.fixture
def charts(qtbot):
    from layerloom.nodeeditor.dashboard.charts import TrainingCharts

    widget = TrainingCharts()
    qtbot.addWidget(widget)
    widget.resize(1100, 750)
    return widget


def steps_of(events):
    steps = [s for e in events if isinstance(e, Step) for s in range(e.step - len(e.losses) + 1, e.step + 1)]
    losses = [v for e in events if isinstance(e, Step) for v in e.losses]
    return np.array(steps, float), np.array(losses, float)


# ------------------------------------------------------------------ tests
def test_importing_the_charts_does_not_import_torch():
    script = "import sys, layerloom.nodeeditor.dashboard.charts; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.95, 0.999])
def test_ema_is_tensorboards_debiased_ema_in_one_go_and_in_pieces(weight):
    from layerloom.nodeeditor.dashboard.smoothing import ema, ema_extend

    rng = np.random.default_rng(1)
    values = rng.lognormal(0, 1, 5000)
    values[[3, 700, 701, 4000]] = [np.nan, np.inf, np.nan, -np.inf]
    expected = tensorboard_ema(values, weight)
    np.testing.assert_allclose(ema(values, weight), expected, rtol=1e-9, atol=1e-12)
    pieces, state = [], (0.0, 0)
    for part in np.array_split(values, [1, 2, 50, 51, 3000]):  # as Step events bring them
        smoothed, *state = ema_extend(part, weight, *state)
        pieces.append(smoothed)
    np.testing.assert_allclose(np.concatenate(pieces), expected, rtol=1e-9, atol=1e-12)


def test_steps_and_epochs_reach_the_curves(charts):
    events = realistic_events()
    charts.reset(started())
    feed(charts, events)
    charts.redraw()
    steps, losses = steps_of(events)
    x, y = charts.curves["loss"]["train_raw"].getData()
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, losses)
    x, y = charts.curves["loss"]["train"].getData()
    np.testing.assert_allclose(y, tensorboard_ema(losses, 0.6), rtol=1e-9)
    ends = [e for e in events if isinstance(e, EpochEnd)]
    x, y = charts.curves["loss"]["val"].getData()
    assert x.tolist() == [400.0, 800.0, 1200.0]  # each epoch at the step it ended on
    assert y.tolist() == [e.metrics["val_loss"] for e in ends]
    assert set(charts.curves["metric"]) == {"train_accuracy", "val_accuracy", "val_f1"}
    for key, curve in charts.curves["metric"].items():
        assert curve.getData()[1].tolist() == [e.metrics[key] for e in ends]
    x, y = charts.curves["lr"]["lr"].getData()
    assert x.tolist() == [e.step for e in events if isinstance(e, Step)]
    assert y.tolist() == [e.lr for e in events if isinstance(e, Step)]
    history = charts.history()
    np.testing.assert_array_equal(history.losses, losses)
    assert history.epochs == [1, 2, 3] and history.metrics["val_f1"] == [e.metrics["val_f1"] for e in ends]


def test_changing_the_smoothing_recomputes_the_ema_and_moves_the_controls(charts):
    events = realistic_events(epochs=1)
    charts.reset(started(epochs=1))
    feed(charts, events)
    _, losses = steps_of(events)
    charts.smoothing_spin.setValue(0.95)
    assert charts.smoothing_slider.value() == 950 and charts.smoothing == 0.95
    np.testing.assert_allclose(charts.curves["loss"]["train"].getData()[1], tensorboard_ema(losses, 0.95), rtol=1e-9)
    charts.smoothing_slider.setValue(0)
    assert charts.smoothing_spin.value() == 0.0
    np.testing.assert_array_equal(charts.curves["loss"]["train"].getData()[1], losses)


def test_events_do_not_draw_and_redraw_does_nothing_when_nothing_changed(charts, monkeypatch):
    charts.reset(started())
    calls = []
    for chart in charts.curves.values():
        for key, curve in chart.items():
            monkeypatch.setattr(curve, "setData", lambda *a, key=key, **k: calls.append(key))
    feed(charts, realistic_events(epochs=1))
    assert calls == []
    assert charts.redraw() is True
    assert "train" in calls and "lr" in calls
    calls.clear()
    assert charts.redraw() is False
    assert calls == []


def test_log_scale_checkbox_sets_the_loss_chart_log_mode(charts):
    events = realistic_events(epochs=1)
    charts.reset(started(epochs=1))
    feed(charts, events)
    charts.redraw()
    item = charts.plots["loss"].getPlotItem()
    assert not item.ctrl.logYCheck.isChecked()
    charts.log_check.setChecked(True)
    assert item.ctrl.logYCheck.isChecked()
    assert item.getAxis("left").logMode is True
    _, losses = steps_of(events)
    np.testing.assert_allclose(charts.curves["loss"]["train_raw"].getData()[1], np.log10(losses))
    assert not charts.plots["lr"].getPlotItem().ctrl.logYCheck.isChecked()
    charts.set_log_loss(False)
    assert not charts.log_check.isChecked() and not item.ctrl.logYCheck.isChecked()


@pytest.fixture
def export_sizes(monkeypatch):
    """The size of each chart's widget when pyqtgraph exports it: the chart must be laid out at the
    asked size (a scaled export cuts the legend off), whether or not it is on screen."""
    from pyqtgraph.exporters import ImageExporter

    export, sizes = ImageExporter.export, []

    def spy(self, *args, **kwargs):
        view = self.item.getViewWidget()
        sizes.append((view.width(), view.height()))
        return export(self, *args, **kwargs)

    monkeypatch.setattr(ImageExporter, "export", spy)
    return sizes


def test_export_png_writes_an_image_of_the_asked_width_in_the_theme(charts, tmp_path, export_sizes):
    from layerloom.nodeeditor.theme.style import LIGHT

    charts.set_theme(LIGHT)
    charts.reset(started())
    feed(charts, realistic_events())
    charts.show()
    for name in ("loss", "metric", "lr"):
        before = charts.plots[name].size()
        path = charts.export_png(name, tmp_path / f"{name}.png", width=640)
        image = QImage(str(path))
        assert not image.isNull() and path.stat().st_size > 2000
        assert image.width() == 640 and image.height() > 100
        assert image.pixelColor(3, image.height() // 2) == QColor(LIGHT.canvas)  # left margin: the canvas
        assert export_sizes[-1] == (640, image.height()) and charts.plots[name].size() == before
    with pytest.raises(ValueError, match="unknown chart"):
        charts.export_png("accuracy", tmp_path / "x.png")


def test_export_png_works_before_the_widget_is_ever_shown(charts, tmp_path, export_sizes):
    charts.reset(started())
    feed(charts, realistic_events(epochs=1))
    image = QImage(str(charts.export_png("loss", tmp_path / "loss.png")))
    assert image.width() == 800 and image.height() == 400
    assert export_sizes == [(800, 400)]


def test_export_menu_asks_for_a_file_and_reset_view_follows_the_data_again(charts, tmp_path, monkeypatch):
    import layerloom.nodeeditor.dashboard.chart_export as export_module

    charts.reset(started(epochs=1))
    feed(charts, realistic_events(epochs=1))
    asked = []

    def ask(parent, title, suggested, filters):
        asked.append((title, Path(suggested).name))
        return str(tmp_path / Path(suggested).name), filters

    monkeypatch.setattr(export_module.QFileDialog, "getSaveFileName", ask)
    for action in charts.export_menu.actions():
        action.trigger()
    assert [name for _, name in asked] == ["loss.png", "metric.png", "lr.png", "charts.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts.csv", "loss.png", "lr.png", "metric.png"]
    vb = charts.plots["loss"].getPlotItem().getViewBox()
    vb.setRange(xRange=(10, 20), yRange=(0, 1))  # zoomed in: no longer following new points
    assert not any(vb.autoRangeEnabled())
    reset = next(b for b in charts.findChildren(QToolButton) if b.text() == "Reset view")
    reset.click()
    assert all(vb.autoRangeEnabled())


def test_export_csv_round_trips_every_number(charts, tmp_path):
    events = realistic_events(epochs=2, spe=50, chunk=7)
    e = events[3]
    events[3] = Step(e.epoch, e.step, e.loss, e.lr, 1.0, (*e.losses[:2], math.nan, *e.losses[3:]), 0.2, None)
    charts.reset(started(epochs=2, spe=50))
    feed(charts, events)
    charts.set_smoothing(0.8)
    path = charts.export_csv(tmp_path / "charts.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    step_rows = [r for r in rows if r["kind"] == "step"]
    epoch_rows = [r for r in rows if r["kind"] == "epoch"]
    steps, losses = steps_of(events)
    assert [int(r["step"]) for r in step_rows] == steps.astype(int).tolist()
    np.testing.assert_array_equal([float(r["loss"]) for r in step_rows], losses)  # NaN == NaN here
    np.testing.assert_allclose([float(r["loss_smoothed"]) for r in step_rows], tensorboard_ema(losses, 0.8),
                               rtol=1e-9)
    lr = {e.step: e.lr for e in events if isinstance(e, Step)}
    assert {int(r["step"]): float(r["lr"]) for r in step_rows if r["lr"]} == lr
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [int(r["epoch"]) for r in epoch_rows] == [1, 2] and [int(r["step"]) for r in epoch_rows] == [50, 100]
    for row, end in zip(epoch_rows, ends):
        assert {k: float(row[k]) for k in end.metrics} == end.metrics
        assert float(row["lr"]) == end.lr and row["loss"] == ""


def test_regression_shows_r2_and_a_loss_only_task_has_no_score_chart(charts):
    events = realistic_events("regression", epochs=2)
    charts.reset(started("regression", epochs=2))
    feed(charts, events)
    charts.redraw()
    assert list(charts.curves["metric"]) == ["val_r2"]
    assert charts.curves["metric"]["val_r2"].getData()[1].tolist() == [
        e.metrics["val_r2"] for e in events if isinstance(e, EpochEnd)]
    assert "R²" in charts.plots["metric"].getPlotItem().titleLabel.text
    assert not charts.plots["metric"].isHidden()
    charts.reset(started("loss"))
    assert charts.curves["metric"] == {} and charts.plots["metric"].isHidden()
    charts.reset(started("binary"))
    assert "val_accuracy" in charts.curves["metric"] and not charts.plots["metric"].isHidden()


def _write_run_folder(path: Path, events: list) -> None:
    """A run folder written by the trainer's own writer, so the reader is checked against it."""
    from layerloom.training.records import RunFolder

    folder = RunFolder(path)
    path.mkdir()
    step_epoch = {}
    for event in events:
        if isinstance(event, Step):
            first = event.step - len(event.losses) + 1
            folder.append_steps([(first + i, event.epoch, v, event.lr) for i, v in enumerate(event.losses)])
            step_epoch[event.epoch] = event.step
        else:
            folder.append_epoch({"epoch": event.epoch, "step": step_epoch[event.epoch], "time_s": 1.0,
                                 "train_s": 0.9, "lr": event.lr, **event.metrics})
    folder.close()


def test_run_curves_read_a_run_folder_and_overlay_it(charts, tmp_path):
    from layerloom.nodeeditor.dashboard.smoothing import ema
    from layerloom.training.records import RunCurves

    old = realistic_events(epochs=2, spe=100, chunk=30, seed=5)
    _write_run_folder(tmp_path / "baseline", old)
    run = RunCurves.from_run_dir(tmp_path / "baseline")
    steps, losses = steps_of(old)
    assert run.name == "baseline" and run.steps_per_epoch == 100
    np.testing.assert_array_equal(run.steps, steps)
    np.testing.assert_array_equal(run.losses, losses)
    assert run.epochs == [1, 2] and run.epoch_steps == [100.0, 200.0]
    assert run.metrics["val_accuracy"] == [e.metrics["val_accuracy"] for e in old if isinstance(e, EpochEnd)]
    assert run.metrics["lr"] == [1e-3, 1e-3] and len(run.lrs) == 200

    charts.reset(started(epochs=2, spe=50))
    feed(charts, realistic_events(epochs=2, spe=50))
    charts.show()
    assert not charts.legend("lr").isVisible()  # the live lr curve has no entry
    charts.set_overlays([run])
    overlays = {label: (chart, item) for chart, label, item in charts._overlay_items}
    chart, loss = overlays["baseline"]
    assert chart == "loss"
    np.testing.assert_array_equal(loss.getOriginalDataset()[0], steps)
    np.testing.assert_allclose(loss.getOriginalDataset()[1], ema(losses, 0.6))
    assert overlays["baseline · validation accuracy"][0] == "metric"
    assert overlays["baseline · learning rate"][0] == "lr"
    legend_names = [label.text for _, label in charts.legend("loss").items]
    assert "baseline" in legend_names
    assert charts.legend("lr").isVisible()  # shown once it has an entry
    charts.set_x_epochs(True)  # x in epochs lines up runs of different batch sizes
    _, loss = {label: (c, i) for c, label, i in charts._overlay_items}["baseline"]
    np.testing.assert_allclose(loss.getOriginalDataset()[0], steps / 100)
    np.testing.assert_allclose(charts.curves["loss"]["train_raw"].getOriginalDataset()[0], np.arange(1, 101) / 50)
    assert charts.curves["loss"]["val"].getOriginalDataset()[0].tolist() == [1.0, 2.0]
    charts.reset(started("regression"))  # a new run of another task: the score overlays follow it
    assert [label for chart, label, _ in charts._overlay_items if chart == "metric"] == []
    charts.reset(started("classification"))
    assert "baseline · validation F1 (macro)" in [label for chart, label, _ in charts._overlay_items]
    charts.set_overlays([])
    assert charts._overlay_items == [] and "baseline" not in [
        label.text for _, label in charts.legend("loss").items]
    assert not charts.legend("lr").isVisible()


def test_run_curves_tolerate_missing_and_damaged_files(tmp_path):
    from layerloom.training.records import RunCurves

    empty = RunCurves.from_run_dir(tmp_path / "nothing-here")
    assert empty.steps.size == 0 and empty.epochs == [] and empty.metrics == {}
    folder = tmp_path / "crashed"
    folder.mkdir()
    (folder / "steps.csv").write_text("step,epoch,loss,lr\n1,1,0.9,0.1\n2,1,0.8,0.1\n3,1,oops,0.1\n4,1,0.7\n5,1")
    (folder / "metrics.csv").write_text("epoch,step,time_s,train_s,lr,train_loss,val_loss\n1,4,1.0,0.9,0.1,0.8,")
    run = RunCurves.from_run_dir(folder, name="crashed run")
    assert run.name == "crashed run"
    assert run.steps.tolist() == [1, 2, 4] and run.losses.tolist() == [0.9, 0.8, 0.7]
    assert run.lr_steps.tolist() == [1, 2]
    assert run.epochs == [1] and run.metrics["train_loss"] == [0.8] and math.isnan(run.metrics["val_loss"][0])
    (folder / "steps.csv").write_bytes(b"step,epoch,loss,lr\n1,1,0.5,0.1\n2,1,0.4\x00\x00,0.1\n")
    assert RunCurves.from_run_dir(folder).steps.tolist() == [1]


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # pyqtgraph's bounds of an all-NaN curve
def test_nan_and_inf_are_gaps_and_nothing_breaks(charts, tmp_path):
    charts.reset(started(epochs=1, spe=6))
    charts.add_step(Step(1, 3, 0.5, 0.1, 1.0, (1.0, math.nan, 0.8), 0.5, None))
    charts.add_step(Step(1, 6, 0.5, 0.1, 1.0, (math.inf, 0.6, 0.5), 1.0, None))
    charts.add_epoch(EpochEnd(1, {"train_loss": math.nan, "val_loss": math.inf, "val_accuracy": 0.5}, 0.1,
                              1.0, 1.0, False, {}))
    charts.show()
    charts.redraw()
    y = charts.curves["loss"]["train_raw"].getData()[1]
    assert np.isnan(y[[1, 3]]).all() and y[[0, 2, 4, 5]].tolist() == [1.0, 0.8, 0.6, 0.5]
    smoothed = charts.curves["loss"]["train"].getData()[1]
    np.testing.assert_allclose(smoothed, tensorboard_ema([1.0, math.nan, 0.8, math.nan, 0.6, 0.5], 0.6))
    assert math.isnan(charts.curves["loss"]["val"].getData()[1][0])
    charts.log_check.setChecked(True)
    charts.reset_view()
    assert charts.show_readout("loss", 3.0, math.log10(0.7)) is not None
    charts.export_png("loss", tmp_path / "nan.png")
    charts.export_csv(tmp_path / "nan.csv")


def test_an_empty_run_draws_and_exports(charts, tmp_path):
    charts.reset(started())
    charts.show()
    assert charts.redraw() is False  # reset drew already
    assert charts.show_readout("loss", 1.0, 1.0) is None
    assert not QImage(str(charts.export_png("lr", tmp_path / "lr.png"))).isNull()
    with open(charts.export_csv(tmp_path / "empty.csv"), newline="") as handle:
        assert list(csv.reader(handle)) == [["kind", "epoch", "step", "loss", "loss_smoothed", "lr"]]
    history = charts.history()
    assert history.steps.size == 0 and history.epochs == []


def test_epoch_metrics_sit_at_the_step_the_epoch_ended_on(charts):
    # a run resumed with another batch size: its steps per epoch no longer say where epochs end
    charts.reset(started(epochs=2, spe=40))
    feed(charts, realistic_events(epochs=2, spe=30, chunk=7))
    charts.redraw()
    assert charts.curves["loss"]["val"].getData()[0].tolist() == [30.0, 60.0]
    assert charts.history().epoch_steps == [30.0, 60.0]
    charts.reset(started(epochs=2, spe=40))
    charts.add_epoch(EpochEnd(1, {"val_loss": 0.5}, 0.1, 1.0, 1.0, True, {}))  # no steps reported: spe decides
    assert charts.history().epoch_steps == [40.0]


def test_a_resumed_run_starts_at_its_checkpoint_or_continues_its_history(charts, tmp_path):
    from layerloom.training.records import RunCurves

    events = realistic_events(epochs=3, spe=40, chunk=9)
    resumed = [e for e in events if e.epoch >= 3]
    charts.reset(started(epochs=3, spe=40, start_epoch=2))
    feed(charts, resumed)
    charts.redraw()
    x = charts.curves["loss"]["train_raw"].getData()[0]
    assert x[0] == 81 and x[-1] == 120
    assert charts.curves["loss"]["val"].getData()[0].tolist() == [120.0]

    _write_run_folder(tmp_path / "run", [e for e in events if e.epoch < 3])
    charts.reset(started(epochs=3, spe=40, start_epoch=2, run_dir=str(tmp_path / "run")),
                 previous=RunCurves.from_run_dir(tmp_path / "run"))
    feed(charts, resumed)
    feed(charts, resumed[:2])  # a repeated event changes nothing
    charts.redraw()
    steps, losses = steps_of(events)
    x, y = charts.curves["loss"]["train_raw"].getData()
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, losses)
    np.testing.assert_allclose(charts.curves["loss"]["train"].getData()[1], tensorboard_ema(losses, 0.6))
    assert charts.curves["loss"]["val"].getData()[0].tolist() == [40.0, 80.0, 120.0]
    assert charts.history().name == "run"


def test_hover_shows_the_nearest_point_through_the_mouse_signal(charts, qtbot):
    events = realistic_events(epochs=2, spe=100)
    charts.reset(started(epochs=2, spe=100))
    feed(charts, events)
    charts.show()
    charts.redraw()
    qtbot.waitExposed(charts)
    plot = charts.plots["metric"]
    item = plot.getPlotItem()
    item.setRange(xRange=(0, 250), yRange=(0.5, 1.1), padding=0)
    ends = [e for e in events if isinstance(e, EpochEnd)]
    target = ends[1].metrics["val_accuracy"]
    text = charts.show_readout("metric", 199, target + 0.002)
    assert text == f"validation accuracy\nstep 200 (epoch 2)\n{target:.4f}"
    line, label = charts._readouts["metric"].line, charts._readouts["metric"].text
    assert line.value() == 200 and label.isVisible()
    charts.hide_readout("metric")
    assert not label.isVisible()
    item.setRange(xRange=(0, 2500), yRange=(0.4, 1.0), padding=0)  # zoomed while the readout was hidden
    qtbot.wait(20)
    charts.show_readout("metric", 199, target)
    view = item.getViewBox().sceneBoundingRect()
    assert view.contains(label.sceneBoundingRect())  # scaled for the new view at once, on its inner side
    # the same through the mouse: the scene signal, rate-limited by a SignalProxy
    charts.hide_readout("metric")
    scene_pos = item.getViewBox().mapViewToScene(QPointF(100, ends[0].metrics["train_accuracy"]))
    plot.scene().sigMouseMoved.emit(scene_pos)
    qtbot.waitUntil(label.isVisible, timeout=2000)
    assert label.toPlainText().startswith("train accuracy\nstep 100 (epoch 1)")
    assert view.contains(label.sceneBoundingRect())
    QApplication.sendEvent(plot.viewport(), QEvent(QEvent.Type.Leave))  # the mouse leaves the chart
    assert not label.isVisible()
    _, losses = steps_of(events)
    text = charts.show_readout("loss", 50, losses[49])  # on the raw point of step 50: both values
    smoothed = tensorboard_ema(losses, 0.6)[49]
    assert text == f"train\nstep 50\n{smoothed:.4f} smoothed\n{losses[49]:.4f} raw"


def test_redraw_with_200k_points_downsamples_for_the_screen(charts, qtbot):
    spe = 50_000
    charts.reset(started("classification", epochs=4, spe=spe))
    rng = np.random.default_rng(0)
    for first in range(1, 4 * spe + 1, 1000):
        losses = tuple((1 / np.sqrt(np.arange(first, first + 1000)) + rng.random(1000) * 0.05).tolist())
        charts.add_step(Step(first // spe + 1, first + 999, losses[-1], 1e-3, 1.0, losses, 0.5, None))
    charts.show()
    assert charts.redraw() is True
    qtbot.waitExposed(charts)
    qtbot.wait(50)  # the view fits the new data, then the curve downsamples for it
    raw = charts.curves["loss"]["train_raw"]
    assert raw.getOriginalDataset()[0].size == 200_000
    shown = raw.getData()[0].size
    assert 0 < shown < 20_000  # peak-downsampled to about the plot's width
    assert charts.show_readout("loss", 123_456, 0.05) is not None


def test_theme_colours_the_background_axes_and_legend(charts):
    from layerloom.nodeeditor.theme.style import DARK, LIGHT

    for theme in (LIGHT, DARK):
        charts.set_theme(theme)
        charts.reset(started())
        for plot in charts.plots.values():
            assert plot.backgroundBrush().color() == QColor(theme.canvas)
            assert plot.getPlotItem().getAxis("left").textPen().color() == QColor(theme.muted)
        legend = charts.legend("loss")
        assert legend.items and all(QColor(theme.text).name() in label.item.toHtml() for _, label in legend.items)


def test_screenshot_of_three_epochs(charts, qtbot, tmp_path):
    """A look at the real thing (saved, and checked to show the theme's canvas and some curves)."""
    from layerloom.nodeeditor.theme.style import DARK

    charts.reset(started())
    feed(charts, realistic_events())
    charts.show()
    charts.redraw()
    qtbot.waitExposed(charts)
    path = tmp_path / "charts.png"
    assert charts.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() == 1100
    loss = charts.plots["loss"].geometry()
    colours = {image.pixelColor(x, y).name() for x in range(loss.left(), loss.right(), 3)
               for y in range(loss.top() + 40, loss.bottom() - 30, 3)}
    assert DARK.canvas in colours and len(colours) > 20


def test_redraw_with_a_limit_draws_the_loss_first_and_leaves_the_rest_pending(charts):
    charts.reset(started(epochs=1, spe=5))
    feed(charts, realistic_events(epochs=1, spe=5, chunk=5))
    assert charts.redraw(limit=1) and charts.pending
    assert len(charts.curves["loss"]["train"].getData()[0]) == 5
    assert charts.curves["metric"]["val_accuracy"].getData()[0] is None
    assert charts.redraw(limit=1) and charts.pending
    assert len(charts.curves["metric"]["val_accuracy"].getData()[0]) == 1
    assert charts.redraw(limit=1) and not charts.pending
    assert charts.redraw(limit=1) is False


def test_a_limited_redraw_never_starves_a_chart(charts):
    """The loss changes on every tick; the score and learning-rate charts still get their turn while
    steps keep coming."""
    charts.reset(started(epochs=2, spe=5))
    events = realistic_events(epochs=2, spe=5, chunk=1)
    first_end = next(i for i, e in enumerate(events) if isinstance(e, EpochEnd))
    for event in events[: first_end + 4]:  # epoch 1, its end, then three steps of epoch 2
        feed(charts, [event])
        charts.redraw(limit=1)
    assert len(charts.curves["metric"]["val_accuracy"].getData()[0]) == 1
    assert len(charts.curves["lr"]["lr"].getData()[0]) >= 5


def test_a_constant_learning_rate_is_framed_from_zero(charts):
    charts.reset(started(epochs=1, spe=5))
    for step in range(1, 6):
        charts.add_step(Step(1, step, 1.0, 0.001, 1.0, (1.0,), step / 5, 1.0))
    charts.redraw()
    low, high = charts.plots["lr"].getPlotItem().getViewBox().viewRange()[1]
    assert low == 0.0 and high == pytest.approx(0.00125)


def test_legends_sit_above_the_data_never_over_it(charts, qtbot):
    """A legend inside the plot covered the newest points: each chart's legend is in its title row,
    outside the area the curves are drawn in, overlays included."""
    from layerloom.training.records import RunCurves

    charts.resize(900, 600)
    charts.reset(started())
    feed(charts, realistic_events())
    other = RunCurves("other-run", np.arange(1, 11), np.linspace(2, 1, 10), [1, 2], {"val_loss": [1.5, 1.2],
                      "val_accuracy": [0.5, 0.6], "lr": [0.01, 0.01]}, [5.0, 10.0])
    charts.set_overlays([other])
    charts.show()
    charts.redraw(force=True)
    qtbot.waitExposed(charts)
    for name in ("loss", "metric"):
        legend = charts.legend(name)
        data = charts.plots[name].getPlotItem().getViewBox().sceneBoundingRect()
        assert legend.isVisible() and legend.items
        assert not legend.sceneBoundingRect().intersects(data), name
        assert legend.sceneBoundingRect().bottom() <= data.top()


def test_a_first_point_is_framed_from_zero_and_an_empty_chart_forgets_the_old_range(charts):
    """One point sat in pyqtgraph's tiny padded range (x from -200 to 200, y ticks 2.309354066848760)."""
    charts.reset(started())
    charts.add_step(Step(1, 1, 2.3093540668487597, 1e-3, 100.0, (2.3093540668487597,), 0.001, None))
    charts.redraw(force=True)
    (x0, x1), (y0, y1) = charts.plots["loss"].getPlotItem().getViewBox().viewRange()
    assert x0 == 0 and x1 >= 400 and y0 == 0 and y1 == pytest.approx(2.3093540668487597 * 1.25)
    charts.add_step(Step(1, 2, 2.0, 1e-3, 100.0, (2.0,), 0.002, None))
    charts.redraw(force=True)
    (x0, x1), _ = charts.plots["loss"].getPlotItem().getViewBox().viewRange()
    assert x1 < 100                                   # two points: the chart follows its data again
    charts.reset(None)
    (x0, x1), _ = charts.plots["metric"].getPlotItem().getViewBox().viewRange()
    assert x0 == 0 and x1 <= 400                      # nothing of the last run's range


def test_an_overlaid_run_is_inside_the_view_of_a_framed_chart(charts):
    """A run compared with a constant learning rate (framed from 0 to just above it) was drawn off
    the chart: the overlay did not reopen the view."""
    from layerloom.training.records import RunCurves

    charts.reset(started())
    for step in range(1, 30):
        charts.add_step(Step(1, step, 2.0, 1e-3, 100.0, (2.0,), step / 1000, None))
    charts.redraw(force=True)
    other = RunCurves("fast-lr", np.arange(1, 11), np.linspace(2, 1, 10), [1, 2], {"lr": [50.0, 50.0]}, [5.0, 10.0],
                      np.arange(1, 11), np.full(10, 50.0))
    charts.set_overlays([other])                      # it redraws what changed: the overlays
    view = charts.plots["lr"].getPlotItem().getViewBox()
    view.updateAutoRange()
    (_, _), (y0, y1) = view.viewRange()
    assert y0 <= 50.0 <= y1
