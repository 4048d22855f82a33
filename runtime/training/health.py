"""Whether a finished run learned: the warnings ``Finished.warnings`` carries when it did not.

``learning_warnings`` reads the per-epoch history (and the first step's loss) and names what went
wrong, ending with the likely fix: a loss that blew up or ended above where it began (a learning rate
too high), a loss that did not move (too low, or a network that died), an accuracy that stayed at
chance or an R² that stayed at zero. ``chance_accuracy`` is the accuracy of always answering the
commonest validation class. Plain functions of their arguments: the trainer calls them at a run's end.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch


FEW_STEPS = 50   # fewer optimizer steps than this: too few to judge the learning rate by

def learning_warnings(history: Sequence[dict[str, Any]], first_loss: float | None, resumed: bool,
                      chance: float | None, lr: Any, since_epoch: int = 0, steps: int | None = None) -> list[str]:
    """Why a run with this ``history`` did not learn, ending with the likely fix (empty: nothing to
    say). ``first_loss``: this session's first step's loss (None: no step ran); ``resumed``: it continued
    from a checkpoint (a flat loss is then no warning: it had learned already); ``since_epoch``: the
    epoch this session began after (a resume's checkpoint): its losses are weighed against its own first
    step, not the first epochs of the run's earlier sessions; ``chance``: see ``chance_accuracy``;
    ``lr``: the optimizer's learning rate, named in the fix when it is a number; ``steps``: the optimizer
    steps this session took (under ``FEW_STEPS``, the fix is more steps, not another rate)."""
    facts = []
    losses = [row["train_loss"] for row in history
              if row.get("epoch", since_epoch + 1) > since_epoch and math.isfinite(row.get("train_loss", math.nan))]
    flat = False
    if first_loss is not None and first_loss > 0 and losses:
        peak, last = max(losses), losses[-1]
        if peak > 100 * first_loss:
            facts.append(f"the training loss blew up from {first_loss:.3g} to {peak:.3g}")
        elif last > 1.5 * first_loss:
            facts.append(f"the training loss rose from {first_loss:.3g} to {last:.3g}")
        elif not resumed and len(losses) > 1 and peak - min(losses) <= 0.01 * abs(peak):
            flat = True
            facts.append(f"the training loss did not move ({losses[0]:.4g} in epoch 1, {last:.4g} in epoch "
                         f"{len(losses)})")
    best = max((row["val_accuracy"] for row in history if "val_accuracy" in row), default=None)
    if chance is not None and best is not None and best <= chance + 0.02:
        facts.append(f"its validation accuracy ({best:.1%}) stayed at chance ({chance:.1%})")
    r2 = max((row["val_r2"] for row in history if math.isfinite(row.get("val_r2", math.nan))), default=None)
    if r2 is not None and r2 <= 0.02:
        facts.append(f"its validation R² ({r2:.3f}) stayed near 0: it predicts no better than the targets' mean")
    if not facts:
        return []
    blew = facts[0].startswith("the training loss blew up") or facts[0].startswith("the training loss rose")
    few = ""
    if steps is not None and steps < FEW_STEPS and not blew:   # a loss that blew up is the rate's doing
        few = (f"it took only {steps:,} optimizer step{'s' if steps != 1 else ''}: train more steps (a smaller "
               "batch size, or more epochs)")
    rate = f" (it is {lr:g})" if isinstance(lr, (int, float)) else ""
    if flat:   # too few steps, or a rate too low (SGD at 1e-7): both are named, the steps first
        advice = (f"check the learning rate{rate}: too low to move the weights, or so high that the network "
                  "died; and check that the data and labels vary")
        return facts + [f"{few}; or {advice}" if few else advice]
    if few:
        return facts + [few]
    if facts[0].startswith("the training loss"):
        return facts + [f"try a lower learning rate{rate}"]
    return facts + [f"train longer, or check the learning rate{rate} and the labels"]


def chance_accuracy(task: str, dataset) -> float | None:
    """The accuracy of always answering the commonest class of ``dataset``'s validation split (None:
    not a classification, or no validation labels)."""
    if task not in ("classification", "binary") or not dataset.num_val or dataset.y_val is None:
        return None
    labels = torch.as_tensor(dataset.y_val)
    if labels.dtype.is_floating_point:
        labels = (labels.reshape(len(labels), -1)[:, 0] > 0.5).long()
    counts = torch.bincount(labels.reshape(-1).long().clamp(min=0))
    return float(counts.max()) / max(int(labels.numel()), 1)
