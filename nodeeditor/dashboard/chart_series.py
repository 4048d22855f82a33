"""The live run's numbers as the training charts plot them, and their CSV export.

``LiveSeries`` holds numpy buffers: per step the global step, its epoch, the loss and the smoothed
loss (carried forward with ``smoothing.ema_extend``), the learning rate where a Step reported one; per
epoch its number, the step it ended on and every metric. Events only append (amortised O(1)); the
charts read the buffers' views without a copy. Other runs come as ``RunCurves`` (the run folder's
reader, ``layerloom.training.records``). Numpy only: no Qt.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from layerloom.training.events import EpochEnd, Step
from layerloom.training.records import RunCurves

from layerloom.nodeeditor.dashboard.smoothing import DEFAULT_SMOOTHING, ema_extend


class Buffer:
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


class LiveSeries:
    """One run's curves as they arrive: per-step losses (raw and smoothed with weight ``smoothing``)
    and learning rates, per-epoch metrics. ``spe`` arguments are the run's steps per epoch (0: unknown)."""

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING):
        self.smoothing = smoothing
        self.steps = Buffer()                  # global step of each loss (float: plotted as is)
        self.step_epochs = Buffer(np.int32)
        self.losses = Buffer()
        self.smoothed = Buffer()
        self._ema_state = (0.0, 0)
        self.lr_steps = Buffer()
        self.lrs = Buffer()
        self.epochs = Buffer()
        self.epoch_steps = Buffer()            # the global step each epoch ended on (its metrics' x)
        self.metrics: dict[str, Buffer] = {}
        self.last_step = 0
        self._last_step_epoch = 0

    @property
    def empty(self) -> bool:
        return not self.steps.size and not self.epochs.size

    # ---------------------------------------------------------------- in
    def load(self, run: RunCurves, spe: int) -> None:
        """A resumed run's earlier history (read from its folder)."""
        self._append_losses(np.asarray(run.steps, np.float64), np.asarray(run.losses, np.float64), None, spe)
        if len(run.steps):
            self.last_step = int(run.steps[-1])
        self.lr_steps.extend(run.lr_steps)
        self.lrs.extend(run.lrs)
        x = run.epoch_x()
        for i, epoch in enumerate(run.epochs):
            self._append_epoch(epoch, float(x[i]), {k: v[i] for k, v in run.metrics.items() if i < len(v)})

    def add_step(self, step: Step) -> bool:
        """A Step event's losses (steps ``step.step - len(losses) + 1`` .. ``step.step``) and rate;
        True when the learning rate changed (a constant one need not be drawn again)."""
        values = np.asarray(step.losses if step.losses else (step.loss,), np.float64)
        first = step.step - values.size + 1
        steps = np.arange(first, step.step + 1, dtype=np.float64)
        if first <= self.last_step:  # already seen (a resumed run's prefilled history): keep x increasing
            keep = steps > self.last_step
            steps, values = steps[keep], values[keep]
        if steps.size:
            self._append_losses(steps, values, step.epoch, 0)
            self.last_step = step.step
        self._last_step_epoch = step.epoch
        changed = False
        if not self.lr_steps.size or step.step > self.lr_steps.view()[-1]:
            changed = not self.lrs.size or self.lrs.view()[-1] != step.lr
            self.lr_steps.extend((step.step,))
            self.lrs.extend((step.lr,))
        return changed

    def add_epoch(self, end: EpochEnd, spe: int) -> bool:
        """An epoch's metrics, at the step the epoch ended on; False for a repeat (left out)."""
        if self.epochs.size and end.epoch <= self.epochs.view()[-1]:
            return False
        if self.last_step and self._last_step_epoch == end.epoch:
            x = float(self.last_step)
        else:
            x = float(end.epoch * spe) if spe else float(end.epoch)
        self._append_epoch(end.epoch, x, {**end.metrics, "lr": end.lr})
        return True

    def set_smoothing(self, weight: float) -> None:
        """Smooth every loss again with ``weight``."""
        self.smoothing = weight
        smoothed, *state = ema_extend(self.losses.view(), weight, 0.0, 0)
        self._ema_state = tuple(state)
        self.smoothed.view()[:] = smoothed

    def _append_losses(self, steps: np.ndarray, values: np.ndarray, epoch: int | None, spe: int) -> None:
        values = np.where(np.isfinite(values), values, np.nan)
        smoothed, *state = ema_extend(values, self.smoothing, *self._ema_state)
        self._ema_state = tuple(state)
        self.steps.extend(steps)
        self.losses.extend(values)
        self.smoothed.extend(smoothed)
        epochs = np.full(steps.size, epoch) if epoch is not None else _epoch_of(steps, spe)
        self.step_epochs.extend(epochs)

    def _append_epoch(self, epoch: int, x: float, values: dict[str, float]) -> None:
        count = self.epochs.size
        for name in values:
            if name not in self.metrics:
                self.metrics[name] = buffer = Buffer(capacity=64)
                buffer.extend(np.full(count, np.nan))
        self.epochs.extend((epoch,))
        self.epoch_steps.extend((x,))
        for name, buffer in self.metrics.items():
            try:
                value = float(values[name])
            except (KeyError, TypeError, ValueError):
                value = math.nan  # not reported this epoch
            buffer.extend((value if math.isfinite(value) else math.nan,))

    # ---------------------------------------------------------------- out
    def metric(self, name: str) -> np.ndarray:
        """One value per epoch (NaN where the metric was not reported)."""
        buffer = self.metrics.get(name)
        return buffer.view() if buffer is not None else np.full(self.epochs.size, np.nan)

    def history(self, name: str, spe: int) -> RunCurves:
        """The series as ``RunCurves`` (copies)."""
        return RunCurves(
            name, self.steps.view().astype(np.int64), self.losses.view().copy(),
            [int(e) for e in self.epochs.view()], {k: b.view().tolist() for k, b in self.metrics.items()},
            self.epoch_steps.view().tolist(), self.lr_steps.view().astype(np.int64), self.lrs.view().copy(), spe)

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Every value as one CSV: a ``kind`` column says ``step`` (loss, smoothed loss, and lr where a
        Step event reported it) or ``epoch`` (lr and every metric). Floats are written exactly
        (``repr``); an empty cell is a value not recorded."""
        metric_names = [n for n in self.metrics if n != "lr"]
        columns = ["kind", "epoch", "step", "loss", "loss_smoothed", "lr", *metric_names]
        lr_at = dict(zip(self.lr_steps.view().astype(np.int64).tolist(), self.lrs.view().tolist()))
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for step, epoch, loss, smooth in zip(self.steps.view().astype(np.int64).tolist(),
                                                 self.step_epochs.view().tolist(), self.losses.view().tolist(),
                                                 self.smoothed.view().tolist()):
                writer.writerow(["step", epoch, step, _cell(loss), _cell(smooth), _cell(lr_at.get(step)),
                                 *[""] * len(metric_names)])
            for i, epoch in enumerate(self.epochs.view().tolist()):
                step = self.epoch_steps.view()[i]
                writer.writerow(["epoch", int(epoch), int(step) if math.isfinite(step) else "", "", "",
                                 _cell(self.metric("lr")[i]), *[_cell(self.metrics[n].view()[i])
                                                                for n in metric_names]])
        return path


def _epoch_of(steps: np.ndarray, spe: int) -> np.ndarray:
    return np.ceil(steps / spe).astype(np.int32) if spe else np.zeros(steps.size, np.int32)


def _cell(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else str(value)
