"""How the Train workspace marks a model's answers and scores: the colours of right and wrong
answers and of good and bad scores, a blend between two colours, and class labels by index. Shared by
the evaluation views (confusion matrix, per-class scores, mistakes) and Try it.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtGui import QColor

CORRECT = QColor("#4c8dff")     # the diagonal: right answers
WRONG = QColor("#ff7043")       # off the diagonal: mistakes
GOOD = QColor("#4caf50")
BAD = QColor("#e0605e")


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """The colour ``t`` of the way from ``a`` to ``b`` (``t`` clamped to 0..1)."""
    t = min(1.0, max(0.0, t))
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def class_labels(names: Sequence[str] | None, count: int) -> list[str]:
    """``count`` class labels: the dataset's names, then the index for a class it does not name."""
    names = list(names or [])
    return [names[i] if i < len(names) else str(i) for i in range(count)]
