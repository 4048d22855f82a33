"""The training loop: one ``Plan`` on one device, reporting through an ``EventChannel``.

The hot loop does only what a tight hand-written loop does (index a batch, forward, backward, step)
plus two cheap records per step: the detached loss and, for classification, the argmax. Losses reach
the host in one transfer every ~0.1 s, where divergence is detected and a ``Step`` event goes out.
Everything else (validation, metrics, checkpoints, CSV rows) happens once per epoch.
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

from layerloom import __version__
from layerloom.core.errors import LayerLoomError
from layerloom.files.graphfile import graph_to_dict
from layerloom.training.batches import Split
from layerloom.training.control import RunControl
from layerloom.training.device import DeviceChoice, choose_device
from layerloom.training.events import (CheckpointSaved, EpochEnd, EventChannel, Failed, Finished, Paused, Preparing, Resumed,
                     RunStarted, Step, Stopped)
from layerloom.training.metrics import is_better, metric_mode, torchmetrics_functional
from layerloom.training.optim import Schedule, build_optimizer, l1_penalty, penalized_weights
from layerloom.training.plan import Plan, effective_monitor
from layerloom.training.records import CONFIG_FILE, SUMMARY_FILE, iso_time, read_run
from layerloom.training.runs import CheckpointError, DiskFullError, RunFolder, load_checkpoint, load_weights

STEP_EVENT_INTERVAL = 0.1  # seconds between Step events (and host syncs of the loss)


class _Stop(Exception):
    pass


class _Diverged(Exception):
    def __init__(self, epoch: int, step: int, value: float):
        super().__init__(f"diverged at epoch {epoch}, step {step}: the loss became {value}")
        self.epoch, self.step, self.value = epoch, step, value


@dataclass
class _Best:
    metric: str
    mode: str
    value: float | None = None
    epoch: int = 0
    bad_epochs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "epoch": self.epoch}


class Trainer:
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
            message = _finish_message(reason, self.best)
            if warnings:
                message += f"; but it did not learn: {' and '.join(warnings[:-1])}; {warnings[-1]}"
            event = Finished(reason, self.epoch, self.best.as_dict(), test, self._duration(), self._run_dir(),
                             message, tuple(warnings))
            if self.folder is not None and self._last_checkpoint is not None:
                self.folder.sync(self._last_checkpoint)
            self._summary("finished", event.message, reason, event.duration_s, test=test)
        except (_Stop, KeyboardInterrupt) as exc:
            verb = "Stopped" if isinstance(exc, _Stop) else "Interrupted"
            event = Stopped(self.epoch, self.step, self._run_dir(),
                            f"{verb} at epoch {self.epoch:,}, step {self.step:,}{self._kept_text()}.", self._duration())
            self._summary("stopped", event.message, "stopped", event.duration_s)
        except _Diverged as exc:
            event = Failed(str(exc) + self._kept_text() + "; try a lower learning rate or gradient clipping",
                           "diverged", exc.epoch, exc.step, run_dir=self._run_dir(), duration_s=self._duration())
            self._restore_last_good()
            self._summary("diverged", event.message, "diverged", event.duration_s)
        except BaseException as exc:  # noqa: BLE001 - the worker must always end with an event
            event = self._failure(exc)
            reason = event.kind if event.kind in ("out_of_memory", "disk_full") else "failed"
            self._summary("failed", event.message, reason, event.duration_s)
        finally:
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

    def _continue_records(self) -> None:
        """A resumed run in its own folder keeps its first start and the graph file it recorded."""
        if self.folder is None or self.resume_state is None:
            return
        summary, config = self.folder.read_json(SUMMARY_FILE), self.folder.read_json(CONFIG_FILE)
        first = summary.get("started_at")
        if not isinstance(first, str) or not first:  # a run from before started_at: its folder's time
            started = read_run(self.folder.path).started if config else None
            first = iso_time(started) if started is not None else None
        self._started_at = first or self._started_at
        if self.source is None:
            self.source = summary.get("source") or config.get("source")

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
        labels = plan.has_target  # a graph whose loss compares with its own input takes no labels
        self.train = Split(data.x_train, data.y_train if labels else None, device)
        self.val = Split(data.x_val, data.y_val if labels else None, device) if data.num_val else None
        self.test = Split(data.x_test, data.y_test if labels else None, device) if data.num_test else None
        # BatchNorm cannot train on a batch of one: such a last batch is left out of each epoch
        self.min_last = 2 if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                 for m in self.criterion.modules()) else 1
        self.steps_per_epoch = self.train.steps(config.batch_size, self.min_last)
        self.loss_is_sum = plan.loss_is_sum
        self.optimizer = build_optimizer(config.optimizer, self.criterion.parameters(), device)
        monitor = effective_monitor(plan)
        self.best = _Best(monitor, metric_mode(monitor))
        self.schedule = Schedule(config.schedule, self.optimizer, config.epochs, self.steps_per_epoch,
                                 self.best.mode)
        self.scaler = torch.amp.GradScaler(device.type) if self.choice.precision == "fp16" else None
        self.l1_weights = penalized_weights(self.criterion) if config.l1 > 0 else []
        self.head = plan.heads[0] if plan.heads else None
        if self.head is not None and self.head.metric_names("val"):
            torchmetrics_functional()
        self._checkpoint_epoch = 0
        self._notes: list[str] = []
        if self.resume_state is not None:
            self._restore(self.resume_state)
        self._start_epoch = self.epoch
        notes = [p.describe() for p in plan.warnings] + list(config.warnings) + self._notes
        if self.choice.note:
            notes.append(self.choice.note)
        self._writable = True   # the resume is accepted: from here on the run folder is this run's
        if self.folder is not None:
            self.folder.clean_stray()
            self._write_run_files()
            self._summary("running", f"epoch {self.epoch} of {config.epochs}" if self.epoch else "first epoch")
        self.channel.put(RunStarted(
            self._run_dir(), device.type, self.choice.name, self.choice.precision, config.epochs, self.epoch,
            self.steps_per_epoch, self.train.size, self.val.size if self.val else 0,
            sum(p.numel() for p in self.criterion.parameters()), plan.task, data.classes, data.summary(),
            config.to_dict(), tuple(notes)))

    def _write_run_files(self) -> None:
        record = self._config_record()
        if self.resume_state is not None:
            self.folder.truncate_after(self.epoch, self.step)
            previous = self.folder.read_json(CONFIG_FILE)
            record["resumed"] = list(previous.get("resumed") or []) + [
                {"from_epoch": self.epoch, "at": iso_time()}]
        if not self.folder.has_graph():
            self.folder.write_graph(self.plan.graph)
        self.folder.write_json(CONFIG_FILE, record)

    def _config_record(self) -> dict[str, Any]:
        data = self.plan.dataset
        return {
            "graph": self.plan.graph.name,
            "source": self.source,
            "training": self.config.to_dict(),
            "dataset": {"summary": data.summary(), "name": data.name, "task": data.task,
                        "feature_shape": list(data.feature_shape), "classes": list(data.classes or []),
                        "scaling": data.scaling, "train": data.num_train, "val": data.num_val,
                        "test": data.num_test},
            "device": {"type": self.choice.device.type, "name": self.choice.name,
                       "precision": self.choice.precision, "threads": torch.get_num_threads()},
            "monitor": self.best.metric,
            "versions": {"layerloom": __version__, "torch": torch.__version__},
        }

    def _restore(self, state: dict) -> None:
        """Continue from a checkpoint (``load_checkpoint`` checked its weights, graph and epoch): the
        optimizer, schedule, scaler and random streams, the best score and the history. Anything
        damaged or not fitting raises ``CheckpointError`` naming the file, before the run folder is
        touched."""
        source = str(getattr(state, "path", None) or "checkpoint")
        _check_resume_fields(state, source)
        load_weights(self.criterion, state["weights"], source=source)
        optimizer = state.get("optimizer")
        if not isinstance(optimizer, dict) or not optimizer:
            raise CheckpointError(f"{source}: the checkpoint holds no optimizer state, so the run cannot continue "
                                  "from it (its weights can still be tried and exported)")
        name = self.config.optimizer.get("name", "optimizer")
        self._restoring(source, f"the {name} optimizer state", lambda: _load_optimizer(self.optimizer, optimizer))
        planned = (state.get("config") or {}).get("epochs", self.config.epochs)
        if self.schedule.name in ("cosine", "onecycle") and planned != self.config.epochs:
            self._restoring(source, "the learning-rate schedule", lambda: self.schedule.fast_forward(
                state["epoch"], state.get("step") or 0))
            self._notes.append(f"the {self.schedule.name} schedule was planned for {planned} epochs and now "
                               f"spans {self.config.epochs}: it continues from where the new plan would be")
        elif state.get("schedule"):
            self._restoring(source, "the learning-rate schedule", lambda: self.schedule.load_state_dict(state["schedule"]))
        if self.scaler is not None and state.get("scaler"):
            self._restoring(source, "the fp16 loss scaler state", lambda: self.scaler.load_state_dict(state["scaler"]))
        rng = state.get("rng") or {}
        if "torch" in rng:
            self._restoring(source, "the random state", lambda: torch.set_rng_state(rng["torch"]))
        if "shuffle" in rng:
            self._restoring(source, "the shuffling random state", lambda: self.shuffle_gen.set_state(rng["shuffle"]))
        if "augment" in rng:
            try:
                self.augment_gen.set_state(rng["augment"])
            except (RuntimeError, ValueError, TypeError):  # saved on another kind of device: a fresh stream
                self._notes.append("the augmentation random stream restarts (the checkpoint came from another device)")
        best = state.get("best") or {}
        if best.get("metric") == self.best.metric:
            self.best.value, self.best.epoch = best.get("value"), int(best.get("epoch") or 0)
            self.best.bad_epochs = int(state.get("bad_epochs") or 0)
        self.epoch = self._checkpoint_epoch = int(state["epoch"])
        self._elapsed_before = float(state.get("elapsed_s") or 0.0)
        self.step = int(state.get("step") or 0)
        self.history = list(state.get("history") or [])

    @staticmethod
    def _restoring(source: str, what: str, restore) -> None:
        try:
            restore()
        except CheckpointError:
            raise
        except (KeyError, IndexError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
            detail = (str(exc).splitlines() or [""])[0][:200]
            raise CheckpointError(f"{source}: {what} in the checkpoint is damaged or does not fit this graph "
                                  f"({type(exc).__name__}: {detail})") from None

    # ------------------------------------------------------------------ epochs
    def _loop(self) -> str:
        config = self.config
        patience = config.early_stopping["patience"] if config.early_stopping["enabled"] else None
        self._run_start = time.perf_counter()
        self._summary_at = self._run_start
        self._first_step = self.step
        if self.epoch < config.epochs:
            self.channel.put(Preparing("first_step", f"Running the first step on {self.choice.name}…"))
        while self.epoch < config.epochs:
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
                    raise _Diverged(self.epoch, self.step, metrics[name])
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

    def _elapsed(self) -> float:
        """Training seconds so far, pauses excluded, earlier sessions of a resumed run included."""
        return self._elapsed_before + time.perf_counter() - self._run_start - self._paused_s

    def _duration(self) -> float:
        """The run's duration as the terminal event and summary.json report it (``_elapsed``; the
        earlier sessions' alone when the loop never began)."""
        return self._elapsed() if self._run_start is not None else self._elapsed_before

    def _record_epoch(self, metrics: dict, lr: float, improved: bool, details: dict) -> None:
        if self.folder is None:
            return
        self.folder.append_epoch({"epoch": self.epoch, "step": self.step, "time_s": round(self._elapsed(), 3),
                                  "train_s": round(self._train_s, 4), "lr": lr, **metrics})
        self.folder.flush()
        self._row_written = True
        if details:
            self._evaluation = (self.epoch, metrics, details)
        self._save_checkpoint("last")
        if improved:  # the same state as last: copy the file rather than serialize it again
            self._save_checkpoint("best", copy_of=self._last_checkpoint)
        now = time.perf_counter()
        if now >= self._summary_at:  # summary.json is for run lists: once a second is plenty
            self._summary_at = now + 1.0
            self._write_evaluation()  # and so is evaluation.json (a write costs ~0.3 ms; the end writes the last)
            self._summary("running", f"epoch {self.epoch} of {self.config.epochs}")

    def _write_evaluation(self, quiet: bool = False) -> None:
        """evaluation.json for the latest validated epoch not yet written. ``quiet``: at the end of a
        run, where a failed write must not change the outcome already decided."""
        pending, self._evaluation = self._evaluation, None
        if pending is None or self.folder is None:
            return
        epoch, metrics, details = pending
        try:
            self.folder.write_evaluation(epoch, self.plan.task, metrics, self.plan.dataset.classes, details)
        except Exception:  # noqa: BLE001
            if not quiet:
                raise

    def _train_epoch(self) -> dict[str, float]:
        criterion, optimizer, scaler, control = self.criterion, self.optimizer, self.scaler, self.control
        schedule, augment, head = self.schedule, self.plan.augmenter, self.head
        image_shape = self.plan.image_shape
        clip, l1, weights = self.config.grad_clip, self.config.l1, self.l1_weights
        autocast = self.choice.autocast
        keep_pred = head is not None and bool(head.metric_names("train"))
        pred_key = head.pred_key if head is not None else None
        onecycle = schedule.name == "onecycle"
        criterion.train()
        epoch_lr = schedule.lr
        self._pending: list[tuple[int, torch.Tensor, int, float]] = []
        self._epoch_losses: list[tuple[float, int]] = []
        compacts, targets = [], []
        # the run's first step is published at once (a window shows it moving), later ones every interval
        self._flush_at = 0.0 if self.step == self._first_step else time.perf_counter() + self.step_interval
        self._flush_seen = 0
        self._flush_clock = time.perf_counter()
        for xb, yb in self.train.batches(self.config.batch_size, self.shuffle_gen, self.min_last):
            if control.pending:
                self._poll_control()
            if augment is not None:
                if image_shape is None:
                    xb = augment(xb, self.augment_gen)
                else:  # an Input [64] fed with 8x8 images: shift and flip the images, not the vector
                    xb = augment(xb.reshape(-1, *image_shape), self.augment_gen).reshape(xb.shape)
            step_lr = schedule.lr if onecycle else epoch_lr  # the rate this step trains with
            with autocast():
                out = criterion(xb) if yb is None else criterion(xb, yb)
                loss = out["loss"]
                if l1:
                    loss = loss + l1 * l1_penalty(weights)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(criterion.parameters(), clip)
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                if clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(criterion.parameters(), clip)
                scaler.step(optimizer)
                scaler.update()
            if onecycle:
                schedule.after_step()
            self.step += 1
            size = len(xb)
            self._pending.append((self.step, loss.detach(), size, step_lr))
            if keep_pred:
                compacts.append(head.compact(out[pred_key].detach()))
                targets.append(yb)
            self._flush_seen += size
            if time.perf_counter() >= self._flush_at:
                self._flush()
        self._flush()
        losses = self._epoch_losses
        total = sum(n for _, n in losses)
        # the loss per sample: a summed loss is already a total, a mean one counts once per sample
        weighted = sum(v if self.loss_is_sum else v * n for v, n in losses)
        metrics = {"train_loss": weighted / max(total, 1)}
        if keep_pred and compacts:
            metrics["train_accuracy"] = float(head.accuracy(torch.cat(compacts), torch.cat(targets)))
        return metrics

    def _poll_control(self) -> None:
        self._flush()  # publish every finished step, whatever comes next
        if self.control.stop_requested:
            raise _Stop
        paused = self.control.wait_if_paused(lambda: self.channel.put(Paused(self.epoch, self.step)),
                                             lambda: self.channel.put(Resumed(self.epoch, self.step)))
        self._paused_s += paused
        self._flush_clock += paused
        if self.control.stop_requested:
            raise _Stop

    def _flush(self) -> None:
        """Bring the pending losses to the host (one transfer), check them, publish a Step event."""
        now = time.perf_counter()
        self._flush_at = now + self.step_interval
        pending = self._pending
        if not pending:
            return
        self._pending = []
        values = torch.stack([loss.float() for _, loss, _, _ in pending]).tolist()
        bad = next((i for i, value in enumerate(values) if not math.isfinite(value)), None)
        if bad is not None:
            # publish the good steps before it, so charts and steps.csv end where training went wrong
            self._publish(pending[:bad], values[:bad], now)
            raise _Diverged(self.epoch, pending[bad][0], values[bad])
        self._publish(pending, values, now)

    def _publish(self, pending: list, values: list[float], now: float) -> None:
        if not pending:
            return
        if self._first_loss is None:
            self._first_loss = values[0]   # where the run began, for the health check at its end
        for (_, _, size, _), value in zip(pending, values):
            self._epoch_losses.append((value, size))
        lr = pending[-1][3]
        if self.folder is not None:
            self.folder.append_steps([(step, self.epoch, value, step_lr)
                                      for (step, _, _, step_lr), value in zip(pending, values)])
        elapsed = max(now - self._flush_clock, 1e-9)
        speed = self._flush_seen / elapsed
        self._flush_seen, self._flush_clock = 0, now
        step = pending[-1][0]
        total = self.config.epochs * self.steps_per_epoch
        done = step - self._first_step
        active = now - self._run_start - self._paused_s
        eta = active / done * (total - step) if done > 0 else None
        self.channel.put(Step(self.epoch, step, values[-1], lr, speed, tuple(values),
                              min(1.0, step / max(total, 1)), eta))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def _evaluate(self, split: Split, details: bool = False) -> dict[str, float]:
        """Loss and metrics on a split (eval mode, large chunks). ``details`` keeps the confusion
        matrix and per-class scores in ``self._details``."""
        criterion, head = self.criterion, self.head
        criterion.eval()
        chunk = max(256, self.config.batch_size * 4)
        total_loss = torch.zeros((), device=self.choice.device)
        compacts, targets = [], []
        for xb, yb in split.batches(chunk):
            if self.control.pending and self.control.stop_requested:
                raise _Stop
            with self.choice.autocast():
                out = criterion(xb) if yb is None else criterion(xb, yb)
            total_loss += out["loss"].float() if self.loss_is_sum else out["loss"].float() * len(xb)
            if head is not None:
                compacts.append(head.compact(out[head.pred_key]))
                targets.append(yb)
        result = {"loss": float(total_loss) / max(split.size, 1)}
        self._details = {}
        if head is not None and compacts:
            scalars, extra = head.evaluate(torch.cat(compacts), torch.cat(targets))
            result.update(scalars)
            if details:
                self._details = extra
        return result

    def _evaluate_test(self) -> dict[str, float]:
        self._phase = "test"
        if self.test is None:
            return {}
        return {f"test_{k}": v for k, v in self._evaluate(self.test).items()}

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_payload(self, kind: str) -> dict[str, Any]:
        data = self.plan.dataset
        rng = {"torch": torch.get_rng_state(), "shuffle": self.shuffle_gen.get_state(),
               "augment": self.augment_gen.get_state()}
        return {
            "epoch": self.epoch, "step": self.step, "elapsed_s": self._elapsed(),
            "weights": self.criterion.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "best": self.best.as_dict(), "bad_epochs": self.best.bad_epochs,
            "metrics": self.history[-1] if self.history else {},
            "history": self.history,
            "graph": graph_to_dict(self.plan.graph),
            "config": self.config.to_dict(),
            "dataset": {"name": data.name, "task": data.task, "feature_shape": list(data.feature_shape),
                        "classes": list(data.classes or []), "scaling": data.scaling},
            "layerloom": __version__,
        }

    def _save_checkpoint(self, kind: str, durable: bool = False, copy_of: Path | None = None) -> None:
        if self.folder is None:
            return
        if copy_of is not None:
            path = self.folder.copy_checkpoint(copy_of, kind)
        else:
            path = self.folder.save_checkpoint(kind, self.checkpoint_payload(kind), durable=durable)
        if kind == "last":
            self._last_checkpoint, self._checkpoint_epoch = path, self.epoch
        self.channel.put(CheckpointSaved(str(path), kind, self.epoch))

    def _health(self) -> list[str]:
        """Why a finished run did not learn, ending with the likely fix (empty: nothing to say): its loss
        blew up or ended above where it began (a learning rate too high), did not move at all (too low,
        or a network that died), its accuracy stayed at chance or its R² at zero."""
        facts = []
        first = self._first_loss
        losses = [row["train_loss"] for row in self.history if math.isfinite(row.get("train_loss", math.nan))]
        flat = False
        if first is not None and first > 0 and losses:
            peak, last = max(losses), losses[-1]
            if peak > 100 * first:
                facts.append(f"the training loss blew up from {first:.3g} to {peak:.3g}")
            elif last > 1.5 * first:
                facts.append(f"the training loss rose from {first:.3g} to {last:.3g}")
            elif self._start_epoch == 0 and len(losses) > 1 and peak - min(losses) <= 0.01 * abs(peak):
                flat = True   # (a resumed run may well be flat: it had learned already)
                facts.append(f"the training loss did not move ({losses[0]:.4g} in epoch 1, {last:.4g} in epoch "
                             f"{len(losses)})")
        chance = self._chance_accuracy()
        best = max((row["val_accuracy"] for row in self.history if "val_accuracy" in row), default=None)
        if chance is not None and best is not None and best <= chance + 0.02:
            facts.append(f"its validation accuracy ({best:.1%}) stayed at chance ({chance:.1%})")
        r2 = max((row["val_r2"] for row in self.history if math.isfinite(row.get("val_r2", math.nan))), default=None)
        if r2 is not None and r2 <= 0.02:
            facts.append(f"its validation R² ({r2:.3f}) stayed near 0: it predicts no better than the targets' mean")
        if not facts:
            return []
        lr = self.config.optimizer.get("lr")
        rate = f" (it is {lr:g})" if isinstance(lr, (int, float)) else ""
        if flat:
            return facts + [f"check the learning rate{rate}: too low to move the weights, or so high that "
                            "the network died; and check that the data and labels vary"]
        if facts[0].startswith("the training loss"):
            return facts + [f"try a lower learning rate{rate}"]
        return facts + [f"train longer, or check the learning rate{rate} and the labels"]

    def _chance_accuracy(self) -> float | None:
        """The accuracy of always answering the commonest class of the validation split."""
        data = self.plan.dataset
        if self.plan.task not in ("classification", "binary") or not data.num_val or data.y_val is None:
            return None
        labels = torch.as_tensor(data.y_val)
        if labels.dtype.is_floating_point:
            labels = (labels.reshape(len(labels), -1)[:, 0] > 0.5).long()
        counts = torch.bincount(labels.reshape(-1).long().clamp(min=0))
        return float(counts.max()) / max(int(labels.numel()), 1)

    def _summary(self, status: str, message: str, reason: str | None = None, duration: float | None = None,
                 test: dict | None = None) -> None:
        """summary.json (fields: runs.py). ``status`` "running" has no end, and a full disk while writing it
        stops the run (``DiskFullError``); the others end the run, are flushed to disk, and are written
        even on a full disk when the file's own space allows (a failure then changes nothing). A refused
        resume writes none: the folder still tells the run it resumed."""
        if self.folder is None or not self._writable:
            return
        now = iso_time()
        final = status != "running"
        try:
            self.folder.write_json(SUMMARY_FILE, {
                "status": status, "reason": reason, "message": message,
                "graph": self.plan.graph.name, "source": self.source,
                "started_at": self._started_at, "ended_at": None if status == "running" else now,
                "duration_s": self._duration() if duration is None else duration,
                "epoch": self.epoch, "epochs": self.config.epochs,
                "step": self.step, "best": self.best.as_dict() if hasattr(self, "best") else None,
                "last": self.history[-1] if self.history else None, "test": test or {},
                "updated": now}, durable=final, last_resort=final)
        except DiskFullError:
            if not final:
                raise
        except Exception:  # noqa: BLE001 - a failed write must not hide the run's real outcome
            pass


def _finish_message(reason: str, best: _Best) -> str:
    head = "stopped early: no improvement" if reason == "early_stopped" else "finished"
    if best.value is None:
        return head
    return f"{head}; best {best.metric} {best.value:.4g} at epoch {best.epoch}"


def _check_resume_fields(state: dict, source: str) -> None:
    """The types of what a resume reads besides the weights (``load_checkpoint`` checked those)."""
    def refuse(text: str):
        raise CheckpointError(f"{source}: damaged checkpoint: {text}")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    for key in ("step", "bad_epochs"):
        value = state.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            refuse(f"'{key}' should be a whole number, not {value!r}"[:200])
    elapsed = state.get("elapsed_s")
    if elapsed is not None and (not number(elapsed) or elapsed < 0):
        refuse(f"'elapsed_s' should be a number of seconds, not {elapsed!r}"[:200])
    for key in ("optimizer", "schedule", "scaler", "rng", "best"):
        value = state.get(key)
        if value is not None and not isinstance(value, dict):
            refuse(f"'{key}' should be a JSON object, not a {type(value).__name__}")
    optimizer = state.get("optimizer")
    if optimizer:
        if not isinstance(optimizer.get("state"), dict):
            refuse("the optimizer state has no 'state' table")
        groups = optimizer.get("param_groups")
        if not isinstance(groups, list) or not groups or not all(
                isinstance(g, dict) and isinstance(g.get("params"), list) and number(g.get("lr")) for g in groups):
            refuse("the optimizer state has no valid 'param_groups' (each with its parameters and a learning rate)")
    schedule = state.get("schedule") or {}
    if schedule.get("steps") is not None and (not isinstance(schedule["steps"], int) or isinstance(schedule["steps"], bool)):
        refuse(f"the schedule's 'steps' should be a whole number, not {schedule['steps']!r}"[:200])
    for key, value in (state.get("rng") or {}).items():
        if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8:
            kind = f"a {str(value.dtype).removeprefix('torch.')} tensor" if isinstance(value, torch.Tensor) \
                else f"a {type(value).__name__}"
            refuse(f"the random state '{key}' should be a byte tensor, not {kind}")
    best = state.get("best") or {}
    if best.get("value") is not None and not isinstance(best.get("value"), (int, float)):
        refuse(f"the best score should be a number, not {best.get('value')!r}"[:200])
    if best.get("epoch") is not None and (not isinstance(best["epoch"], int) or isinstance(best["epoch"], bool)):
        refuse(f"the best epoch should be a whole number, not {best['epoch']!r}"[:200])
    history = state.get("history")
    if history is not None and (not isinstance(history, list) or not all(isinstance(row, dict) for row in history)):
        refuse("'history' should be a list of per-epoch records")


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict``, then a check that every per-parameter tensor (momentum, moving
    averages) has its parameter's shape: a mismatch would otherwise fail at the first step."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(f"its '{key}' has shape {tuple(value.shape)} for a parameter of shape "
                                     f"{tuple(param.shape)}")
