"""Continuing a run from its checkpoint.

``check_resume_fields`` checks the types of what a resume reads besides the weights (which
``load_checkpoint`` checked); ``Resuming._restore`` puts the optimizer, learning-rate schedule, fp16
scaler, random streams, best score and history back into a trainer. Anything damaged or not fitting
raises ``CheckpointError`` naming the file, before the run folder is touched.

``Resuming`` is a part of ``Trainer`` (``layerloom.training.trainer``): ``Trainer._setup`` calls
``_restore`` once the optimizer, schedule and scaler are built.
"""

from __future__ import annotations

import math

import torch

from layerloom.training.runs import CheckpointError, load_weights


class Resuming:
    """Restoring a checkpoint's training state into the trainer (a part of ``Trainer``)."""

    def _restore(self, state: dict) -> None:
        """Continue from a checkpoint (``load_checkpoint`` checked its weights, graph and epoch): the
        optimizer, schedule, scaler and random streams, the best score and the history. Anything
        damaged or not fitting raises ``CheckpointError`` naming the file, before the run folder is
        touched."""
        source = str(getattr(state, "path", None) or "checkpoint")
        check_resume_fields(state, source)
        load_weights(self.criterion, state["weights"], source=source)
        optimizer = state.get("optimizer")
        if not isinstance(optimizer, dict) or not optimizer:
            raise CheckpointError(f"{source}: the checkpoint holds no optimizer state, so the run cannot continue "
                                  "from it (its weights can still be tried and exported)")
        name = self.config.optimizer.get("name", "optimizer")
        self._restoring(source, f"the {name} optimizer state", lambda: load_optimizer(self.optimizer, optimizer))
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


def check_resume_fields(state: dict, source: str) -> None:
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


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict``, then a check that every per-parameter tensor (momentum, moving
    averages) has its parameter's shape: a mismatch would otherwise fail at the first step."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(f"its '{key}' has shape {tuple(value.shape)} for a parameter of shape "
                                     f"{tuple(param.shape)}")
