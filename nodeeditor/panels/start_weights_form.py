"""The training panel's "Start from weights" group (fine-tuning), mixed into ``TrainingPanel``.

It shows the ``training.weights`` setting with a Browse… button, and how that file fits the graph: what
loads, what starts fresh, which frozen nodes keep what they load and which stay at their random start
(``layerloom.training.finetune``: ``preview_fit`` on the meta device, off the GUI thread, and
``frozen_notes``). The fit is worked out again when the setting changes, on Preview and when a run starts.
``fine_tune_from`` is the Runs dock's "Fine-tune from this run": the setting made from the run's checkpoint
(relative to the graph file when it is saved) as one undo step.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, \
    QWidget

from layerloom.training.config import TOP_PARAMS
from layerloom.training.finetune import checkpoint_setting, frozen_notes, preview_fit

from layerloom.nodeeditor.adapters.background import run_in_background
from layerloom.nodeeditor.panels.param_editors import param_editor

WEIGHTS = "weights"   # the setting fine-tuning starts from (training.weights)


class StartWeightsForm:
    """The weights group of ``TrainingPanel`` (a mixin: it uses the panel's ``document``, ``fields``,
    ``editors``, ``apply`` and ``_push``)."""

    def _init_start_weights(self) -> None:
        self.fit_text = FormText()
        self._fit_for: object = None    # (graph revision, setting) the fit text was worked out for
        self._fit_asked = 0             # counts the fits asked for: only the latest one's answer shows

    def _fit_is_stale(self, raw: dict) -> bool:
        """The weights setting is not the one the fit text was worked out for."""
        return (self._fit_for or (None, None))[1] != raw.get(WEIGHTS)

    def _weights_group(self, raw: dict) -> QGroupBox:
        """Fine-tuning: the weights a run starts from (matched by node name) and how they fit."""
        group = QGroupBox("Start from weights")
        form = QFormLayout(group)
        param = next(p for p in TOP_PARAMS if p.name == WEIGHTS)
        line = param_editor(param, raw.get(WEIGHTS, param.default), lambda v: self.apply(None, WEIGHTS, v))
        line.setToolTip(param.doc + ". Relative to the graph file's folder; empty: start from fresh weights")
        error = self.fields.add(WEIGHTS, param, line)
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose a weights file or a run's checkpoint (.pt)")
        browse.clicked.connect(self.browse_weights)
        self.editors["weights.browse"] = browse
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(line, 1)
        row.addWidget(browse)
        form.addRow("weights", holder)
        form.addRow(error)
        self.fit_text = FormText()
        self.fit_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._fit_for = None
        form.addRow(self.fit_text)
        return group

    def browse_weights(self) -> None:
        start = str(self.document.path.parent) if self.document and self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Start from weights", start,
                                              "Weights and checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.apply(None, WEIGHTS, checkpoint_setting(path, self.document.path))

    def fine_tune_from(self, checkpoint) -> bool:
        """Start the next run from ``checkpoint`` (a run's best or last): ``training.weights`` set to it,
        relative to the graph file when it is saved, as one undo step."""
        if self.document is None:
            return False
        raw = copy.deepcopy(self.document.graph.training or {})
        setting = checkpoint_setting(checkpoint, self.document.path)
        if raw.get(WEIGHTS) == setting:
            return False
        raw[WEIGHTS] = setting
        run = Path(checkpoint).parent.parent.name or Path(checkpoint).name
        self._push(raw, f"Fine-tune from {run}")
        return True

    def check_fit(self) -> None:
        """Work out, off the GUI thread, how the ``weights`` file fits the graph as it is now; the answer
        shows under the field (what loads, what starts fresh, or why the file cannot be used)."""
        if self.document is None:
            return
        training = self.document.graph.training if isinstance(self.document.graph.training, dict) else {}
        setting = training.get(WEIGHTS)
        self._fit_asked += 1
        asked = self._fit_asked
        self._fit_for = (self.document.graph.revision, setting)
        graph = self.document.graph.copy()   # a snapshot: the thread never reads the live graph
        if not isinstance(setting, str) or not setting:
            self._show_fit(asked, frozen_notes(graph, None), True)
            return
        base_dir = self.document.path.parent if self.document.path else None
        self.fit_text.setText(breakable(f"Checking how {setting} fits…"))
        run_in_background(lambda: preview_fit(graph, setting, base_dir),
                          lambda report: self._show_fit(asked, report.lines() + frozen_notes(graph, report),
                                                        report.complete),
                          lambda exc: self._show_fit(asked, [str(exc)], False), name="weights-fit")

    def _show_fit(self, asked: int, lines: list[str], complete: bool) -> None:
        if asked != self._fit_asked:
            return   # a later setting or check has been asked for since
        self.fit_text.setText(breakable("\n".join(lines)))
        self.fit_text.setToolTip("" if complete else "What is not in the file, or has another shape there, starts "
                                 "from fresh weights; every other tensor loads by node name.")



class FormText(QLabel):
    """Text under a form's fields: wraps to the width the form gives, never asks for more, and takes no
    room while empty."""

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.setSizePolicy(policy)
        self.hide()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        super().clear()
        self.hide()


def breakable(text: str) -> str:
    """``text`` with invisible break chances after path separators and underscores (a long file name
    wraps instead of running past the dock's edge)."""
    return re.sub(r"([/\\_])", "\\1\u200b", text)
