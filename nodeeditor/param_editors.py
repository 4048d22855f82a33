"""Editors generated from ``runtime.params`` specs: the inspector's node parameters and the training
form's settings use the same factory, so a spec's range, choices and doc line look the same everywhere.

``param_editor(param, value, apply)`` returns a widget that calls ``apply(json_value)`` when the user
commits a value (Enter, focus out, a choice, a toggle). Checking the value is the caller's job: the
spec's own ``coerce`` refuses it with the message shown under the field (``error_label``).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QSpinBox, QWidget

from runtime.params import BoolParam, ChoiceParam, IntParam, Param

INT_LIMIT = 2**31 - 1


def value_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def parse_text(param: Param, text: str):
    """What the user typed, as the JSON value the spec will check: numbers, lists, null."""
    text = text.strip()
    if text == "" and param.optional:
        return None
    if param.kind in ("ints", "shape") and ("," in text or param.kind == "shape"):
        parts = [p.strip() for p in text.strip("[]()").split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return text
    if param.kind == "str":
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def param_editor(param: Param, value: Any, apply: Callable[[Any], Any]) -> QWidget:
    """A check box, a combo box, a spin box or a line edit for ``param`` showing ``value``."""
    if isinstance(param, BoolParam):
        editor = QCheckBox()
        editor.setChecked(bool(value))
        editor.toggled.connect(apply)
    elif isinstance(param, ChoiceParam):
        editor = QComboBox()
        for choice in param.choices:
            editor.addItem(str(choice), choice)
        editor.setCurrentIndex(list(param.choices).index(value) if value in param.choices else 0)
        editor.activated.connect(lambda index, c=editor: apply(c.itemData(index)))
    elif isinstance(param, IntParam) and isinstance(value, int) and not isinstance(value, bool):
        editor = QSpinBox()
        editor.setRange(max(param.minimum if param.minimum is not None else -INT_LIMIT, -INT_LIMIT),
                        min(param.maximum if param.maximum is not None else INT_LIMIT, INT_LIMIT))
        editor.setValue(value)
        editor.editingFinished.connect(lambda s=editor: apply(s.value()))
    else:
        editor = QLineEdit(value_text(value))
        editor.setPlaceholderText(param.describe())
        editor.editingFinished.connect(lambda e=editor: apply(parse_text(param, e.text())))
    editor.setToolTip(f"{param.doc}\n({param.describe()})")
    return editor


def error_label() -> QLabel:
    """The hidden line under a field where a refused value's reason appears."""
    label = QLabel()
    label.setStyleSheet("color: #e05555;")
    label.setWordWrap(True)
    label.hide()
    return label
