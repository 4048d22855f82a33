"""Optimizers and learning-rate schedules built from the checked settings.

Adam, AdamW and SGD use PyTorch's fused kernels where the device has them: one kernel per step
instead of one per parameter tensor. On small networks that is most of a step's time (measured by
``benchmarks/bench_train.py``). Only trainable parameters go in: frozen nodes' stay as they are.
"""

from __future__ import annotations

from typing import Iterable

import torch

_FUSABLE = {"adam", "adamw", "sgd"}


def _fused_ok(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda", "mps")


class NothingToTrain(ValueError):
    """Every parameter is frozen (or there is none): an optimizer would have nothing to change."""


def build_optimizer(settings: dict, params: Iterable[torch.nn.Parameter], device: torch.device) -> torch.optim.Optimizer:
    """The optimizer of ``settings`` over the trainable ``params`` only: a frozen node's parameters
    (``requires_grad`` False, see ``layerloom.compiler.freeze``) are left out, so they get no updates, no
    weight decay and no optimizer state. ``NothingToTrain`` when nothing is left."""
    given = list(params)
    params = [p for p in given if p.requires_grad]
    if not params:
        raise NothingToTrain("every layer is frozen: nothing to train; make at least one layer trainable"
                             if given else "the network has no weights to train")
    name, lr, decay = settings["name"], settings["lr"], settings["weight_decay"]
    extra = {"fused": True} if name in _FUSABLE and _fused_ok(device) and params else {}
    betas = (settings["beta1"], settings["beta2"])
    if name == "sgd":
        nesterov = settings["nesterov"] and settings["momentum"] > 0
        return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"], nesterov=nesterov,
                               weight_decay=decay, **extra)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=settings["eps"], weight_decay=decay, **extra)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=settings["eps"], weight_decay=decay, **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=settings["momentum"], eps=settings["eps"],
                                   weight_decay=decay)
    raise ValueError(f"unknown optimizer {name!r}")


class Schedule:
    """A learning-rate schedule with one interface: ``after_step()`` every batch, ``after_epoch(metric)``
    every epoch (``metric`` is the monitored value, for reduce-on-plateau)."""

    def __init__(self, settings: dict, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int,
                 mode: str = "min"):
        self.name = settings["name"]
        self.optimizer = optimizer
        lr = optimizer.param_groups[0]["lr"]
        if self.name == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings["step_size"], settings["gamma"])
        elif self.name == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                        eta_min=settings["min_lr"])
        elif self.name == "onecycle":
            max_lr = settings["max_lr"] or 10 * lr
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=max(1, steps_per_epoch),
                pct_start=settings["pct_start"])
        elif self.name == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode=mode, factor=settings["factor"], patience=settings["patience"],
                min_lr=settings["min_lr"])
        else:
            self.scheduler = None
        self._total_steps = epochs * max(1, steps_per_epoch)
        self._steps = 0

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def after_step(self) -> None:
        if self.name == "onecycle":
            self._steps += 1
            if self._steps < self._total_steps:  # OneCycleLR refuses to step past its last step
                self.scheduler.step()

    def after_epoch(self, metric: float | None) -> None:
        if self.name in ("step", "cosine"):
            self.scheduler.step()
        elif self.name == "plateau" and metric is not None:
            self.scheduler.step(metric)

    def state_dict(self) -> dict:
        return {"steps": self._steps, "scheduler": self.scheduler.state_dict() if self.scheduler else None}

    def fast_forward(self, epochs: int, steps: int) -> None:
        """Replay this schedule over ``epochs`` finished epochs (``steps`` steps): used when a resumed run
        changes its length, so a cosine or one-cycle schedule stretches to the new length instead of
        restarting or running past its end."""
        import warnings

        for group in self.optimizer.param_groups:
            group["lr"] = group.get("initial_lr", group["lr"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": intended here
            if self.name == "cosine":
                for _ in range(epochs):
                    self.scheduler.step()
            elif self.name == "onecycle":
                self._steps = min(steps, self._total_steps - 1)
                for _ in range(self._steps):
                    self.scheduler.step()

    def load_state_dict(self, state: dict) -> None:
        self._steps = int(state.get("steps", 0))
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def l1_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """Sum of absolute values of the weight tensors (biases and norm scales are left out)."""
    return torch.stack([w.abs().sum() for w in weights]).sum()


def penalized_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    """The parameters an L1 penalty applies to: weight matrices and kernels (two or more dimensions)."""
    return [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
