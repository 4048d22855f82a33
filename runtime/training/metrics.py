"""Metrics per loss head, computed on the device with torchmetrics (no host sync per batch).

A *head* is a loss node whose target comes from the dataset. Its task follows from the loss type:
CrossEntropy/NLL are multiclass classification (accuracy, macro precision/recall/F1, confusion
matrix), BCEWithLogits is binary/multi-label (accuracy at logit 0, and precision, recall and F1 of
the positive class), the regression losses give MAE, RMSE and R2 (averaged over outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from layerloom.training.tasks import BINARY, CLASSIFICATION, LOSS_ONLY, REGRESSION, TASK_OF_LOSS  # noqa: F401 - their home

_MINIMIZED = ("loss", "mae", "rmse")


def torchmetrics_functional():
    """``(classification, regression)`` modules of ``torchmetrics.functional``, imported on first use:
    torchmetrics' own import takes about a second (it pulls in scipy.signal), which a process that
    never trains (the editor at start-up, ``layerloom-cli check``) should not pay. The trainer calls
    this during set-up so the cost never lands inside a timed epoch."""
    from torchmetrics.functional import classification, regression
    return classification, regression


def metric_mode(name: str) -> str:
    """``"min"`` for losses and errors, ``"max"`` for scores (accuracy, F1, R2...)."""
    return "min" if name.rsplit("_", 1)[-1] in _MINIMIZED else "max"


def is_better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None:
        return value == value  # not NaN
    return value < best - min_delta if mode == "min" else value > best + min_delta


@dataclass(frozen=True)
class Head:
    loss_name: str          # the loss's name in the compiled criterion ("loss", "aux_loss"...)
    task: str
    num_classes: int | None = None

    @property
    def pred_key(self) -> str:
        return f"pred/{self.loss_name}"

    def metric_names(self, split: str) -> tuple[str, ...]:
        if split == "train":
            return ("accuracy",) if self.task in (CLASSIFICATION, BINARY) else ()
        if self.task in (CLASSIFICATION, BINARY):
            return ("accuracy", "precision", "recall", "f1")
        if self.task == REGRESSION:
            return ("mae", "rmse", "r2")
        return ()

    def compact(self, pred: torch.Tensor) -> torch.Tensor:
        """What is kept of a batch's prediction for metrics: class indices for classification
        (one small op per step), 0/1 for binary, the values for regression."""
        if self.task == CLASSIFICATION:
            return pred.argmax(1)
        if self.task == BINARY:
            return (pred > 0).to(torch.int64)
        return pred.float()

    def accuracy(self, compact: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accuracy as a 0-dim tensor (stays on the device)."""
        target = _binary_target(target) if self.task == BINARY else target
        return (compact == target).float().mean()

    def evaluate(self, compact: torch.Tensor, target: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        """Validation metrics (name -> float) and details (confusion matrix, per-class scores)."""
        if self.task == CLASSIFICATION:
            return _classification(compact.reshape(-1), target.reshape(-1), self.num_classes)
        if self.task == BINARY:
            scalars, details = _classification(compact.reshape(-1), _binary_target(target).reshape(-1), 2)
            # precision, recall and F1 of the positive class, like scikit-learn's average="binary"
            scalars.update({name: details["per_class"][name][1] for name in ("precision", "recall", "f1")})
            return scalars, details
        if self.task == REGRESSION:
            return _regression(compact, target.float()), {}
        return {}, {}


def _binary_target(target: torch.Tensor) -> torch.Tensor:
    return (target > 0.5).to(torch.int64)


def _classification(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[dict, dict]:
    tmc, _ = torchmetrics_functional()
    num_classes = max(2, int(num_classes))
    kw = dict(num_classes=num_classes, validate_args=False)
    confusion = tmc.multiclass_confusion_matrix(pred, target, **kw)
    per_class = {
        "precision": tmc.multiclass_precision(pred, target, average=None, **kw),
        "recall": tmc.multiclass_recall(pred, target, average=None, **kw),
        "f1": tmc.multiclass_f1_score(pred, target, average=None, **kw),
    }
    # Macro averages over the classes present in the targets or the predictions, like scikit-learn's
    # average="macro": a class the validation split never mentions does not drag the mean to 0.
    present = (confusion.sum(0) + confusion.sum(1)) > 0
    stacked = torch.stack([per_class["precision"], per_class["recall"], per_class["f1"]])
    macro = stacked[:, present].mean(1) if bool(present.any()) else torch.zeros(3)
    accuracy = confusion.diagonal().sum() / confusion.sum().clamp(min=1)
    values = torch.cat([accuracy.reshape(1).float(), macro.float()]).tolist()
    scalars = dict(zip(("accuracy", "precision", "recall", "f1"), values))
    details = {"confusion": confusion.tolist(), "per_class": {k: v.tolist() for k, v in per_class.items()}}
    return scalars, details


def _regression(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    _, tmr = torchmetrics_functional()
    pred = pred.reshape(len(pred), -1)
    target = target.reshape(len(target), -1)
    mae = tmr.mean_absolute_error(pred, target)
    outputs = pred.shape[1]
    # RMSE per output, then their mean (scikit-learn's multioutput="uniform_average")
    rmse = tmr.mean_squared_error(pred, target, squared=False, num_outputs=outputs).mean() if outputs > 1 \
        else tmr.mean_squared_error(pred.squeeze(1), target.squeeze(1), squared=False)
    if len(target) >= 2:
        r2 = tmr.r2_score(pred.squeeze(1) if pred.shape[1] == 1 else pred,
                          target.squeeze(1) if target.shape[1] == 1 else target)
    else:
        r2 = torch.tensor(float("nan"))
    mae, rmse, r2 = torch.stack([mae.float(), rmse.float(), r2.float().cpu().to(mae.device)]).tolist()
    return {"mae": mae, "rmse": rmse, "r2": r2}
