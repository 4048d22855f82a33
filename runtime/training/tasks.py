"""What a graph learns, named from its loss types (imports neither torch nor Qt).

``plan_training`` decides a run's task for good (a target's dtype and the dataset can change it: a
CrossEntropy on float targets is a loss-only head); ``expected_task`` is the guess the editor makes
before a run has planned, to have the right charts ready when it starts.
"""

from __future__ import annotations

CLASSIFICATION = "classification"
BINARY = "binary"
REGRESSION = "regression"
LOSS_ONLY = "loss"

TASK_OF_LOSS = {
    "CrossEntropyLoss": CLASSIFICATION, "NLLLoss": CLASSIFICATION, "BCEWithLogitsLoss": BINARY,
    "MSELoss": REGRESSION, "L1Loss": REGRESSION, "SmoothL1Loss": REGRESSION, "HuberLoss": REGRESSION,
}


def expected_task(graph) -> str:
    """The task of the graph's first loss with a known type (``"loss"`` when none has one)."""
    for node in graph:
        task = TASK_OF_LOSS.get(node.type_id)
        if task is not None:
            return task
    return LOSS_ONLY
