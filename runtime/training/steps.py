"""The trainer's hot loop: one epoch of steps, and the forward passes that evaluate a split.

The loop does only what a tight hand-written loop does (index a batch, forward, backward, step) plus
two cheap records per step: the detached loss and, for classification, the argmax. Losses reach the
host in one transfer every ~0.1 s (``STEP_EVENT_INTERVAL``), where divergence is detected and a
``Step`` event goes out; a pause or stop request is looked at between steps.

``TrainingSteps`` is a part of ``Trainer`` (``layerloom.training.trainer``): it reads the state that
``Trainer._setup`` builds (the criterion, optimizer, schedule, splits, head, device choice) and keeps
the step count, the pending losses and the epoch's losses on the trainer.
"""

from __future__ import annotations

import math
import time

import torch

from layerloom.training.batches import Split
from layerloom.training.events import Paused, Resumed, Step
from layerloom.training.optim import l1_penalty

STEP_EVENT_INTERVAL = 0.1  # seconds between Step events (and host syncs of the loss)


class StopRequested(Exception):
    """The run was asked to stop (``RunControl.stop``): it ends as ``Stopped``."""


class Diverged(Exception):
    """The loss became NaN or infinite at ``step`` of ``epoch``."""

    def __init__(self, epoch: int, step: int, value: float):
        super().__init__(f"diverged at epoch {epoch}, step {step}: the loss became {value}")
        self.epoch, self.step, self.value = epoch, step, value


class TrainingSteps:
    """The steps of an epoch and the evaluation of a split (a part of ``Trainer``)."""

    # ------------------------------------------------------------------ an epoch of steps
    def _train_epoch(self) -> dict[str, float]:
        criterion, optimizer, scaler, control = self.criterion, self.optimizer, self.scaler, self.control
        forward = self.forward  # the criterion, or its torch.compile'd form (``compiling``)
        schedule, augment, head = self.schedule, self.plan.augmenter, self.head
        image_shape = self.plan.image_shape
        clip, l1, weights = self.config.grad_clip, self.config.l1, self.l1_weights
        autocast = self.choice.autocast
        keep_pred = head is not None and bool(head.metric_names("train"))
        pred_key = head.pred_key if head is not None else None
        label_index, last_step = self.plan.label_index, self.total_steps
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
        # xs: a batch's features, one tensor per Input; ys: its labels, one per Target (or none)
        for xs, ys in self.train.batches(self.config.batch_size, self.shuffle_gen, self.min_last):
            if control.pending:
                self._poll_control()
            xb = xs[0]
            if augment is not None:  # the first Input's images (see make_augmenter)
                if image_shape is None:
                    xb = augment(xb, self.augment_gen)
                else:  # an Input [64] fed with 8x8 images: shift and flip the images, not the vector
                    xb = augment(xb.reshape(-1, *image_shape), self.augment_gen).reshape(xb.shape)
                xs = (xb,) + xs[1:]
            step_lr = schedule.lr if onecycle else epoch_lr  # the rate this step trains with
            with autocast():
                out = forward(*xs, *ys)
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
                targets.append(ys[label_index])
            self._flush_seen += size
            if time.perf_counter() >= self._flush_at:
                self._flush()
            if self.step >= last_step:  # a run given in steps: this epoch ends where they do
                break
        self._flush()
        losses = self._epoch_losses
        total = sum(n for _, n in losses)
        # the loss per sample: a summed loss is already a total, a mean one counts once per sample
        weighted = sum(v if self.loss_is_sum else v * n for v, n in losses)
        metrics = {"train_loss": weighted / max(total, 1)}
        if keep_pred and compacts:
            metrics["train_accuracy"] = float(head.accuracy(torch.cat(compacts), torch.cat(targets)))
        return metrics

    def _trial_step(self, forward) -> None:
        """One forward and backward pass of ``forward`` on the first training batch (unshuffled), leaving
        no trace: gradients cleared, buffers (BatchNorm statistics) and random streams put back. It
        proves a compiled network before the run starts (``compiling.compile_for_training``)."""
        criterion, device = self.criterion, self.choice.device
        saved = {name: buffer.clone() for name, buffer in criterion.named_buffers()}
        devices = [device.index or 0] if device.type == "cuda" else []
        batches = self.train.batches(self.config.batch_size, None, self.min_last)
        try:
            with torch.random.fork_rng(devices=devices):
                xs, ys = next(batches)
                criterion.train()
                with self.choice.autocast():
                    loss = forward(*xs, *ys)["loss"]
                loss.backward()
        finally:
            batches.close()
            for parameter in criterion.parameters():
                parameter.grad = None
            with torch.no_grad():
                for name, buffer in criterion.named_buffers():
                    buffer.copy_(saved[name])

    def _poll_control(self) -> None:
        self._flush()  # publish every finished step, whatever comes next
        if self.control.stop_requested:
            raise StopRequested
        paused = self.control.wait_if_paused(lambda: self.channel.put(Paused(self.epoch, self.step)),
                                             lambda: self.channel.put(Resumed(self.epoch, self.step)))
        self._paused_s += paused
        self._flush_clock += paused
        if self.control.stop_requested:
            raise StopRequested

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
            raise Diverged(self.epoch, pending[bad][0], values[bad])
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
        total = self.total_steps
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
        for xs, ys in split.batches(chunk):
            if self.control.pending and self.control.stop_requested:
                raise StopRequested
            with self.choice.autocast():
                out = criterion(*xs, *ys)
            total_loss += out["loss"].float() if self.loss_is_sum else out["loss"].float() * len(xs[0])
            if head is not None:
                compacts.append(head.compact(out[head.pred_key]))
                targets.append(ys[self.plan.label_index])
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
