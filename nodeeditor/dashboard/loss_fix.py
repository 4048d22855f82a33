"""Run > Add a Loss for Training, and the button of the same name on the banner when F5 found no loss.

An imported model (or a network drawn without one) cannot train until a loss and a Target are wired to
its prediction; ``layerloom.edits.loss.plan_add_loss`` decides which, from the dataset's task when the
training settings name a built-in dataset (else from the prediction's shape). The nodes go into the
model's graph as one undo step, with room made around them.
"""

from __future__ import annotations

from layerloom.data import BUILTINS
from layerloom.edits.loss import plan_add_loss


def dataset_task(training) -> str | None:
    """The task of the built-in dataset the settings name, the default one when they name none (None:
    a file of the user's, whose task is known only once it is read)."""
    from layerloom.training.config import check_training

    config, _ = check_training(training)
    info = BUILTINS.get(config.dataset.get("name") or "") if not config.dataset.get("path") else None
    return info.task if info is not None else None


def add_loss(document) -> tuple[bool, str, list[str]]:
    """Add a Target and a loss to ``document``'s model (one undo step): (added, the sentence to show, the
    ids of the nodes added, the loss last)."""
    top = document.top
    plan = plan_add_loss(top.graph, top.bridge.current(), dataset_task(top.graph.training))
    if plan.refused:
        return False, plan.refusals[0].message, []
    if not top.carry_out_spaced(plan):
        return False, f"{plan.text} failed", []
    added = [top.graph.node(i) for i in plan.added_ids]
    names = ", ".join(f"{node.label()} ({node.type_id})" for node in added)
    loss = next(node.id for node in added if node.type_id.endswith("Loss"))
    return True, f"Added {names}: press F5 to train", [n.id for n in added if n.id != loss] + [loss]
