"""Per-class scores of a classifier: precision, recall, F1 and support of each class in a sortable
table (F1 coloured from bad to good). Plain data in (``EpochEnd.details["per_class"]``); nothing here
imports PyTorch.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from layerloom.nodeeditor.dashboard.verdicts import BAD, GOOD, class_labels, mix


class _NumberItem(QTableWidgetItem):
    """A cell shown formatted, sorted by its number (NaN last)."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.value, getattr(other, "value", 0.0)
        if mine != mine or theirs != theirs:  # NaN
            return theirs != theirs and mine == mine
        return mine < theirs


class PerClassTable(QTableWidget):
    """Precision, recall and F1 of each class (and its support), sortable by any column."""

    COLUMNS = ("class", "precision", "recall", "F1", "support")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(48)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)

    def set_scores(self, per_class: dict, class_names: Sequence[str] | None = None, support=None) -> None:
        """``per_class``: ``{"precision": [...], "recall": [...], "f1": [...]}`` (as ``EpochEnd.details``);
        ``support``: samples per true class (row sums of the confusion matrix), optional."""
        keys = ("precision", "recall", "f1")
        count = max((len(per_class.get(k) or ()) for k in keys), default=0)
        names = class_labels(class_names, count)
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)  # rows are filled in place; sorting while filling scrambles them
        self.setRowCount(count)
        for row in range(count):
            name = _NumberItem(float(row), names[row])  # sorts by class order, not alphabetically
            name.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, 0, name)
            for col, key in enumerate(keys, start=1):
                values = per_class.get(key) or ()
                value = float(values[row]) if row < len(values) and values[row] is not None else float("nan")
                item = _NumberItem(value, "–" if value != value else f"{value:.3f}")
                if key == "f1" and value == value:
                    item.setForeground(mix(BAD, GOOD, (value - 0.5) / 0.5) if value < 1.0 else GOOD)
                self.setItem(row, col, item)
            count_value = float(support[row]) if support is not None and row < len(support) else float("nan")
            shown = "–" if count_value != count_value else f"{count_value:,.0f}"
            self.setItem(row, 4, _NumberItem(count_value, shown))
        self.setSortingEnabled(sorting)

    def cell_text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return item.text() if item is not None else ""
