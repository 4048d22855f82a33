"""The training loop: one ``Plan`` on one device, reporting through an ``EventChannel``.

``Trainer`` runs a plan to its one terminal event. This module holds its outline: setting up (device,
seeds, splits, optimizer, schedule), the epoch loop (validation, the best score, early stopping, the
``EpochEnd`` event) and how a run ends (``Finished``, ``Stopped`` or ``Failed``, with the message that
says why). The rest of the trainer lives beside it, one responsibility a module:

- ``steps``: the hot loop, one epoch of steps (forward, backward, step; losses to the host every
  ~0.1 s as ``Step`` events, divergence detected there) and the evaluation of a split;
- ``recorder``: what the run folder receives (config, metrics rows, checkpoints, evaluation, summary);
  checkpoints are written on a background thread (``checkpoint_writer``) while the next epoch trains;
- ``resume``: continuing from a checkpoint;
- ``health``: whether a finished run learned;
- ``compiling``: the ``compile`` setting (the network through ``torch.compile``, or a note saying why not).

Everything but the steps (validation, metrics, checkpoints, CSV rows) happens once per epoch.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from layerloom.core.errors import LayerLoomError
from layerloom.training.batches import Split
from layerloom.training.compiling import compile_for_training, wants_compile
from layerloom.training.memory_format import (choose_layout, layout_for_training, match_state_layout,
                                              will_measure)
from layerloom.training.control import RunControl
from layerloom.training.device import DeviceChoice, choose_device
from layerloom.training.events import EpochEnd, EventChannel, Failed, Finished, Note, Preparing, RunStarted, Stopped
from layerloom.training.health import chance_accuracy, learning_warnings
from layerloom.training.metrics import is_better, metric_mode, torchmetrics_functional
from layerloom.training.optim import Schedule, build_optimizer, penalized_weights
from layerloom.training.plan import Plan, effective_monitor
from layerloom.training.records import CONFIG_FILE, SUMMARY_FILE, iso_time
from layerloom.training.recorder import RunRecorder
from layerloom.training.resume import Resuming
from layerloom.training.runs import CheckpointError, DiskFullError, RunFolder, load_checkpoint, load_weights
from layerloom.training.steps import STEP_EVENT_INTERVAL, Diverged, StopRequested, TrainingSteps


@dataclass
class _Best:
    metric: str
    mode: str
    value: float | None = None
    epoch: int = 0
    bad_epochs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "epoch": self.epoch}


class Trainer(TrainingSteps, RunRecorder, Resuming):
    """Runs a plan to completion on the calling thread. ``TrainingSession`` runs it on a worker thread.

    ``run()`` never raises: whatever happens ends in exactly one terminal event (``Finished``,
    ``Stopped`` or ``Failed``), which it also returns. ``source``: the graph file being trained, recorded
    in the run folder (None: an unsaved graph; a resumed run keeps the one it recorded).

    A resume that is refused (a checkpoint that does not fit, a device that is missing) writes nothing:
    the run folder stays byte for byte as it was. A full disk stops the run with ``Failed`` of kind
    ``disk_full``, keeping the last complete checkpoint; a ``KeyboardInterrupt`` (a second Ctrl-C) ends
    it as ``Stopped``.
    """

    def __init__(self, plan: Plan, channel: EventChannel | None = None, control: RunControl | None = None,
                 run_dir: str | Path | None = None, resume: dict | None = None,
                 step_interval: float = STEP_EVENT_INTERVAL, source: str | None = None):
        self.plan = plan
        self.config = plan.config
        self.channel = channel or EventChannel()
        self.control = control or RunControl()
        self.folder = RunFolder(run_dir) if run_dir is not None else None
        self.resume_state = resume
        self.step_interval = step_interval
        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._paused_s = 0.0
        self._elapsed_before = 0.0   # seconds trained before a resume
        self._run_start: float | None = None  # perf_counter when the loop began
        self.source = source
        self._started_at = iso_time()
        self._last_checkpoint: Path | None = None
        self._evaluation: tuple | None = None  # (epoch, metrics, details) not yet in evaluation.json
        self._phase = "setup"        # setup, train, validate, test, checkpoint: where a failure happened
        self._first_loss: float | None = None   # the first step's loss
        self._start_epoch = 0                   # the epoch this session began at (a resume's checkpoint)
        # whether the run folder may be written: one that holds a run already (a resume in its own folder)
        # only once the checkpoint was restored, so a refused resume leaves it as it was
        self._writable = resume is None or self.folder is None or not any(
            (self.folder.path / name).exists() for name in (SUMMARY_FILE, CONFIG_FILE))

    # ------------------------------------------------------------------ entry point
    def run(self):
        self._started_at = iso_time()
        try:
            self._continue_records()
            self._setup()
            reason = self._loop()
            test = self._evaluate_test()
            warnings = self._health()
            message = _finish_message(reason, self.best, self.step if self.config.steps else None)
            if warnings:
                message += f"; but it did not learn: {' and '.join(warnings[:-1])}; {warnings[-1]}"
            self._settle_checkpoint()  # the last epoch's checkpoint, written while the test split ran
            event = Finished(reason, self.epoch, self.best.as_dict(), test, self._duration(), self._run_dir(),
                             message, tuple(warnings))
            if self.folder is not None and self._last_checkpoint is not None:
                self.folder.sync(self._last_checkpoint)
            self._summary("finished", event.message, reason, event.duration_s, test=test)
        except (StopRequested, KeyboardInterrupt) as exc:
            self._settle_checkpoint(quiet=True)
            verb = "Stopped" if isinstance(exc, StopRequested) else "Interrupted"
            event = Stopped(self.epoch, self.step, self._run_dir(),
                            f"{verb} at epoch {self.epoch:,}, step {self.step:,}{self._kept_text()}.", self._duration())
            self._summary("stopped", event.message, "stopped", event.duration_s)
        except Diverged as exc:
            self._settle_checkpoint(quiet=True)
            event = Failed(str(exc) + self._kept_text() + "; try a lower learning rate or gradient clipping",
                           "diverged", exc.epoch, exc.step, run_dir=self._run_dir(), duration_s=self._duration())
            self._restore_last_good()
            self._summary("diverged", event.message, "diverged", event.duration_s)
        except BaseException as exc:  # noqa: BLE001 - the worker must always end with an event
            self._settle_checkpoint(quiet=True)
            event = self._failure(exc)
            reason = event.kind if event.kind in ("out_of_memory", "disk_full") else "failed"
            self._summary("failed", event.message, reason, event.duration_s)
        finally:
            self._settle_checkpoint(quiet=True)
            if self.folder is not None:
                self._write_evaluation(quiet=True)
                self.folder.close()
            for split in (getattr(self, name, None) for name in ("train", "val", "test")):
                if split is not None:
                    split.release()  # a finished session kept in a run list holds no dataset copy
        self.channel.put(event)
        return event

    def _restore_last_good(self) -> None:
        """After a divergence the weights in memory hold NaNs: put the last good checkpoint's back, so
        whoever exports or evaluates the session's model gets a usable one."""
        if self._last_checkpoint is None:
            return
        try:
            load_weights(self.criterion, load_checkpoint(self._last_checkpoint)["weights"])
        except Exception:  # noqa: BLE001 - the run's outcome is already decided; keep its message
            pass

    def _failure(self, exc: BaseException) -> Failed:
        text = traceback.format_exc()
        if isinstance(exc, DiskFullError):
            message = (f"{exc}{self._kept_text()}; training stopped at epoch {self.epoch}: free some space, "
                       f"then resume the run")
            return Failed(message, "disk_full", self.epoch, self.step, "", type(exc).__name__, self._run_dir(),
                          duration_s=self._duration())
        if self._phase == "setup" and isinstance(exc, LayerLoomError):  # e.g. no CUDA: a message, no traceback
            return Failed(str(exc), "setup", exception_type=type(exc).__name__, run_dir=self._run_dir(),
                          duration_s=self._duration())
        where = {
            "setup": " while setting up",
            "train": f" at epoch {self.epoch}, step {self.step + 1}",
            "validate": f" while validating epoch {self.epoch}",
            "test": " while evaluating the test split",
            "checkpoint": f" while saving epoch {self.epoch}",
        }[self._phase]
        if isinstance(exc, torch.OutOfMemoryError) or isinstance(exc, MemoryError):
            batch = self.config.batch_size
            message = (f"out of memory{where} with batch size {batch}: try a smaller batch size "
                       f"(e.g. {max(1, batch // 2)}) or a smaller network")
            kind = "out_of_memory"
        elif isinstance(exc, CheckpointError):  # a run-folder write that failed: the message names the file
            message = f"training failed{where}: {exc}{self._kept_text()}"
            kind, text = "error", ""
        else:
            message = f"training failed{where}: {type(exc).__name__}: {exc}"
            kind = "error"
        step = self.step + 1 if self._phase == "train" else self.step
        return Failed(message, kind, self.epoch, step, text, type(exc).__name__, self._run_dir(),
                      duration_s=self._duration())

    def _note(self, text: str) -> None:
        """A run note: before ``RunStarted``, one of its ``notes``; after, a ``Note`` event."""
        if getattr(self, "_announced", False):
            self._record_note(f"epoch {self.epoch}, step {self.step}: {text}")
            self.channel.put(Note(self.epoch, self.step, text))
        else:
            self._notes.append(text)

    def _run_dir(self) -> str | None:
        return str(self.folder.path) if self.folder is not None else None

    def _kept_text(self) -> str:
        if self._last_checkpoint is None:
            return ""
        return f"; the last good checkpoint ({self._last_checkpoint.name}, epoch {self._checkpoint_epoch}) is kept"

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        plan, config = self.plan, self.config
        self.choice: DeviceChoice = choose_device(config.device, config.precision)
        device = self.choice.device
        torch.manual_seed(config.seed)
        self.shuffle_gen = torch.Generator().manual_seed(config.seed)
        self.augment_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
        self.criterion = plan.compiled.criterion.to(device)
        data = plan.dataset
        # one feature array per Input, one label array per Target (none: the loss compares with its input)
        self.train = Split(plan.features("train"), plan.labels("train"), device)
        self.val = Split(plan.features("val"), plan.labels("val"), device) if data.num_val else None
        self.test = Split(plan.features("test"), plan.labels("test"), device) if data.num_test else None
        # BatchNorm cannot train on a batch of one: such a last batch is left out of each epoch
        self.min_last = 2 if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                 for m in self.criterion.modules()) else 1
        self.steps_per_epoch = self.train.steps(config.batch_size, self.min_last)
        # a run given in steps ends inside the epoch that reaches them (``steps`` 0: at ``epochs``)
        self.epochs = math.ceil(config.steps / self.steps_per_epoch) if config.steps else config.epochs
        self.total_steps = config.steps or self.epochs * self.steps_per_epoch
        self.loss_is_sum = plan.loss_is_sum
        self._notes: list[str] = []
        # the layout first: the optimizer's state is created in it (``memory_format``)
        layout = choose_layout(config.memory_format, self.criterion, device, self.choice.precision)
        if will_measure(layout, self.total_steps):   # a few passes: a big network takes a while
            self.channel.put(Preparing("measuring", "Timing the network in each tensor layout (channels-last and "
                                                    "the default)…"))
        self.layout = layout_for_training(self.criterion, layout, lambda: self._trial_step(self.criterion),
                                          self._notes.append, run_steps=self.total_steps)
        self.optimizer = build_optimizer(config.optimizer, self.criterion.parameters(), device)
        monitor = effective_monitor(plan)
        self.best = _Best(monitor, metric_mode(monitor))
        self.schedule = Schedule(config.schedule, self.optimizer, self.epochs, self.steps_per_epoch,
                                 self.best.mode)
        self.scaler = torch.amp.GradScaler(device.type) if self.choice.precision == "fp16" else None
        self.l1_weights = penalized_weights(self.criterion) if config.l1 > 0 else []
        self.head = plan.heads[0] if plan.heads else None
        if self.head is not None and self.head.metric_names("val"):
            torchmetrics_functional()
        self._checkpoint_epoch = 0
        if self.resume_state is not None:
            self._restore(self.resume_state)
            match_state_layout(self.optimizer)  # a checkpoint saved in another layout
        self._start_epoch = self.epoch
        self.forward = self.criterion   # what the steps call: the criterion, or its compiled form
        if wants_compile(config.compile, device):
            self.channel.put(Preparing("compiling", "Compiling the network with torch.compile…"))
            self.forward = compile_for_training(self.criterion, device, self._trial_step, self._note)
        notes = [p.describe() for p in plan.warnings] + list(config.warnings) + self._notes
        if self.choice.note:
            notes.append(self.choice.note)
        self._run_notes = list(notes)   # config.json's "notes" (a later Note is added to them)
        self._announced = True  # notes from here on are Note events (``_note``)
        self._writable = True   # the resume is accepted: from here on the run folder is this run's
        if self.folder is not None:
            self.folder.clean_stray()
            self._write_run_files()
            self._summary("running", f"epoch {self.epoch} of {self.epochs}" if self.epoch else "first epoch")
        self.channel.put(RunStarted(
            self._run_dir(), device.type, self.choice.name, self.choice.precision, self.epochs, self.epoch,
            self.steps_per_epoch, self.train.size, self.val.size if self.val else 0,
            sum(p.numel() for p in self.criterion.parameters()), plan.task, data.classes, data.summary(),
            config.to_dict(), tuple(notes), memory_format=self.layout.memory_format,
            memory_format_reason=self.layout.reason))

    # ------------------------------------------------------------------ epochs
    def _loop(self) -> str:
        config = self.config
        patience = config.early_stopping["patience"] if config.early_stopping["enabled"] else None
        self._run_start = time.perf_counter()
        self._summary_at = self._run_start
        self._first_step = self.step
        if self._more_to_train():
            self.channel.put(Preparing("first_step", f"Running the first step on {self.choice.name}…"))
        while self._more_to_train():
            self.epoch += 1
            epoch_start = time.perf_counter()
            paused_before = self._paused_s
            lr = self.schedule.lr  # the rate this epoch trains with (one-cycle: its first step's)
            self._phase = "train"
            metrics = self._train_epoch()
            train_s = self._train_s = time.perf_counter() - epoch_start - (self._paused_s - paused_before)
            self._phase = "validate"
            self._details = {}
            if self.val is not None:
                metrics.update({f"val_{k}": v for k, v in self._evaluate(self.val, details=True).items()
                                if not isinstance(v, dict)})
            details = self._details
            for name in ("train_loss", "val_loss"):  # a NaN score (R2 of one sample) is not a divergence
                if name in metrics and not math.isfinite(metrics[name]):
                    raise Diverged(self.epoch, self.step, metrics[name])
            monitored = metrics.get(self.best.metric)
            self.schedule.after_epoch(monitored)
            improved = monitored is not None and is_better(monitored, self.best.value, self.best.mode,
                                                           config.early_stopping["min_delta"])
            if improved:
                self.best.value, self.best.epoch, self.best.bad_epochs = monitored, self.epoch, 0
            else:
                self.best.bad_epochs += 1
            self.history.append({"epoch": self.epoch, **metrics})
            self._phase = "checkpoint"
            self._row_written = False
            try:
                self._record_epoch(metrics, lr, improved, details)
            finally:   # a checkpoint that fails (a full disk) after metrics.csv has the row: the charts get it too
                if self._row_written or sys.exc_info()[0] is None:
                    duration = time.perf_counter() - epoch_start - (self._paused_s - paused_before)
                    self.channel.put(EpochEnd(self.epoch, metrics, lr, duration, train_s, improved,
                                              self.best.as_dict(), details))
            if patience is not None and self.best.bad_epochs >= patience:
                return "early_stopped"
        return "completed"

    def _more_to_train(self) -> bool:
        return self.epoch < self.epochs and self.step < self.total_steps

    def _elapsed(self) -> float:
        """Training seconds so far, pauses excluded, earlier sessions of a resumed run included."""
        return self._elapsed_before + time.perf_counter() - self._run_start - self._paused_s

    def _duration(self) -> float:
        """The run's duration as the terminal event and summary.json report it (``_elapsed``; the
        earlier sessions' alone when the loop never began)."""
        return self._elapsed() if self._run_start is not None else self._elapsed_before

    def _health(self) -> list[str]:
        """Why the finished run did not learn (``health.learning_warnings``; empty: nothing to say)."""
        return learning_warnings(self.history, self._first_loss, self._start_epoch != 0,
                                 chance_accuracy(self.plan.task, self.plan.dataset), self.config.optimizer.get("lr"),
                                 since_epoch=self._start_epoch, steps=self.step - self._first_step)


def _finish_message(reason: str, best: _Best, steps: int | None = None) -> str:
    head = "stopped early: no improvement" if reason == "early_stopped" else "finished"
    if steps is not None:
        head += f" after {steps:,} steps"
    if best.value is None:
        return head
    return f"{head}; best {best.metric} {best.value:.4g} at epoch {best.epoch}"
