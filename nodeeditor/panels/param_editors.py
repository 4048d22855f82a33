"""Editors generated from ``layerloom.core.params`` specs: the inspector's node parameters and the training
form's settings use the same factory, so a spec's range, choices and doc line look the same everywhere.

``param_editor(param, value, apply, step)`` returns a widget that calls ``apply(json_value)`` when the
user commits a value (Return, focus out, a choice, a toggle) and ``step(json_value)`` (default: ``apply``)
for each arrow-key, wheel or button step of a spin box, so that a form can merge steps into one undo
step. Checking is the caller's job: the spec's own ``coerce`` decides, never Qt's validator (a spin box
takes any whole number typed, so ``-3`` reaches the spec and is refused with its reason instead of being
clamped). ``show_value`` puts the graph's value back into an editor without a signal (in-place updates
after an edit, undo or redo); ``shown_value`` reads what an editor displays.

Spin and combo boxes change with the wheel only when they have keyboard focus (click or Tab first, as in
Blender); otherwise the wheel scrolls the form around them.

An empty line edit shows an example value as its placeholder (``placeholder``: the spec's
``example_text``), never a type name.

``Fields`` keeps one form's editors and the message line under each: the spec's complaint about the
value the graph holds, or why a typed value was refused and which value was kept.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QValidator, QWheelEvent
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSpinBox, QApplication, QCheckBox, QComboBox, QLabel,
                               QLineEdit, QSizePolicy, QSpinBox, QWidget)

from layerloom.core.params import BoolParam, ChoiceParam, IntParam, Param

INT_LIMIT = 2**31 - 1   # what a QSpinBox can hold; a bigger whole number is shown in a line edit
_WHOLE = re.compile(r"\s*[+-]?\d+\s*")
_WHOLE_START = re.compile(r"\s*[+-]?\s*")


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


def same_value(a, b) -> bool:
    """Equal and of one JSON type (``1`` is not ``true``, ``20`` is not ``20.0``)."""
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------------------------- the wheel
def _wheel_elsewhere(widget: QWidget, event: QWheelEvent) -> bool:
    """Without keyboard focus a wheel over ``widget`` scrolls the scroll area around it (True); with
    focus it is the widget's (False)."""
    if widget.hasFocus():
        return False
    area = widget.parentWidget()
    while area is not None and not isinstance(area, QAbstractScrollArea):
        area = area.parentWidget()
    if area is None:
        event.ignore()   # Qt offers it to the parents
        return True
    viewport = area.viewport()
    moved = QWheelEvent(viewport.mapFromGlobal(event.globalPosition()), event.globalPosition(), event.pixelDelta(),
                        event.angleDelta(), event.buttons(), event.modifiers(), event.phase(), event.inverted(),
                        event.source())
    QApplication.sendEvent(viewport, moved)
    event.accept()
    return True


class ComboBox(QComboBox):
    """A combo box that the wheel changes only while it has keyboard focus."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)   # a wheel over it never gives it focus

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not _wheel_elsewhere(self, event):
            super().wheelEvent(event)


class ChoiceBox(ComboBox):
    """A ``ChoiceParam``'s choices; a value that is not one of them (a hand-edited file) is shown as it
    is, as an extra entry, until the graph holds a valid one."""

    def __init__(self, param: ChoiceParam, value, apply: Callable[[Any], Any]):
        super().__init__()
        self.param = param
        for choice in param.choices:
            self.addItem(str(choice), choice)
        self.show_choice(value)
        self.activated.connect(lambda index: apply(self.itemData(index)))

    def show_choice(self, value) -> None:
        choices = list(self.param.choices)
        while self.count() > len(choices):
            self.removeItem(len(choices))
        index = next((i for i, c in enumerate(choices) if same_value(c, value)), None)
        if index is None:
            self.addItem(f"{value_text(value) or 'empty'} (not allowed)", value)
            index = len(choices)
        self.setCurrentIndex(index)


class SpinBox(QSpinBox):
    """An ``IntParam``'s spin box. Any whole number typed is committed as typed (the spec decides, so
    ``-3`` or ``99999999999`` is refused with its reason, never clamped); arrow keys, the wheel (with
    focus) and the buttons step inside the spec's range and commit each step at once."""

    committed = Signal(object)   # a typed value (an int, or None for an empty field), on Return or focus out
    stepped = Signal(int)        # one step's value

    def __init__(self, param: IntParam, value: int):
        super().__init__()
        self.param = param
        self._typed: str | None = None   # what the user typed since the last commit
        self.setRange(-INT_LIMIT, INT_LIMIT)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setValue(value)
        self.lineEdit().textEdited.connect(self._edited)
        self.editingFinished.connect(self._finished)

    def bounds(self) -> tuple[int, int]:
        low, high = self.param.minimum, self.param.maximum
        return (max(low, -INT_LIMIT) if low is not None else -INT_LIMIT,
                min(high, INT_LIMIT) if high is not None else INT_LIMIT)

    def _edited(self, text: str) -> None:
        self._typed = text

    def _finished(self) -> None:
        typed, self._typed = self._typed, None
        if typed is not None:
            text = typed.strip()
            self.committed.emit(int(text) if _WHOLE.fullmatch(text) else None)

    # Qt asks these: any whole number is acceptable text; the spec checks the range on commit.
    def validate(self, text: str, pos: int):
        if _WHOLE.fullmatch(text):
            return QValidator.State.Acceptable
        return QValidator.State.Intermediate if _WHOLE_START.fullmatch(text) else QValidator.State.Invalid

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt override
        text = text.strip()
        if not _WHOLE.fullmatch(text):
            return self.value()
        return max(-INT_LIMIT, min(INT_LIMIT, int(text)))

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        base = self.value()
        if self._typed is not None and _WHOLE.fullmatch(self._typed):
            base = int(self._typed)   # a step from what was typed
        self._typed = None
        low, high = self.bounds()
        target = min(max(base + steps * self.singleStep(), low), high)
        self.setValue(target)
        self.selectAll()
        self.stepped.emit(target)

    def stepEnabled(self):  # noqa: N802 - Qt override
        low, high = self.bounds()
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() > low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        if self.value() < high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        return flags

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not _wheel_elsewhere(self, event):
            super().wheelEvent(event)

    # As wide as the spec's range needs (Qt would size it for the whole int range it accepts).
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self._narrowed(super().sizeHint())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self._narrowed(super().minimumSizeHint())

    def _narrowed(self, hint: QSize) -> QSize:
        metrics = self.fontMetrics()
        widest = max(metrics.horizontalAdvance(self.textFromValue(v) + " ") for v in (-INT_LIMIT, INT_LIMIT))
        needed = max(metrics.horizontalAdvance(self.textFromValue(v) + " ") for v in self.bounds())
        return QSize(hint.width() - widest + needed, hint.height())


# ---------------------------------------------------------------------------------------------- the factory
def _spin_int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INT_LIMIT:
        return None
    return value


def placeholder(param: Param) -> str:
    """What an empty line edit for ``param`` shows: an example value the spec accepts ("e.g. label",
    "e.g. [1, 28, 28]"), never its type; empty when the spec knows no example."""
    example = param.example_text()
    return f"e.g. {example}" if example else ""


def param_editor(param: Param, value: Any, apply: Callable[[Any], Any],
                 step: Callable[[Any], Any] | None = None) -> QWidget:
    """A check box, a combo box, a spin box or a line edit for ``param`` showing ``value``."""
    if isinstance(param, BoolParam):
        editor = QCheckBox()
        editor.setChecked(bool(value))
        editor.toggled.connect(apply)
    elif isinstance(param, ChoiceParam):
        editor = ChoiceBox(param, value, apply)
    elif isinstance(param, IntParam) and _spin_int(value) is not None:
        editor = SpinBox(param, value)
        editor.committed.connect(apply)   # held by the connections, not the widget: no reference cycle
        editor.stepped.connect(step or apply)
    else:
        editor = QLineEdit(param.field_text(value))
        editor.setPlaceholderText(placeholder(param))
        editor.editingFinished.connect(lambda e=editor: apply(parse_text(param, e.text())))
    editor.setToolTip(f"{param.doc}\n({param.describe()})")
    return editor


def show_value(editor: QWidget, param: Param, value: Any) -> bool:
    """Show ``value`` (what the graph holds) in an editor ``param_editor`` made, emitting nothing.
    False when this editor cannot show it (a spin box and a value that is not a whole number):
    make a new editor then."""
    blocked = editor.blockSignals(True)
    try:
        if isinstance(editor, SpinBox):
            if _spin_int(value) is None:
                return False
            editor._typed = None
            editor.setValue(value)
            if editor.lineEdit().text() != editor.textFromValue(value):   # keeps the selection when equal
                editor.lineEdit().setText(editor.textFromValue(value))
        elif isinstance(editor, ChoiceBox):
            editor.show_choice(value)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QLineEdit):
            if not same_value(parse_text(param, editor.text()), value):   # the same value typed differently stays
                editor.setText(param.field_text(value))
        return True
    finally:
        editor.blockSignals(blocked)


def shown_value(editor: QWidget, param: Param) -> Any:
    """What an editor displays, as the JSON value it stands for (tests compare it with the graph)."""
    if isinstance(editor, SpinBox):
        text = editor.lineEdit().text().strip()
        return int(text) if _WHOLE.fullmatch(text) else text
    if isinstance(editor, QComboBox):
        return editor.currentData()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    return parse_text(param, editor.text())


ZWSP = "\u200b"


def breakable(text: str, run: int = 24) -> str:
    """``text`` with a zero-width space after every ``run`` characters of a longer word, so a wrapped
    label breaks a 400-digit number or a long path instead of widening its panel (or cutting it off)."""
    return re.sub(rf"\S{{{run}}}(?=\S)", lambda m: m.group(0) + ZWSP, text)


def error_label() -> QLabel:
    """The hidden line under a field where a refused value's reason appears; it wraps to the form's
    width and never widens it."""
    label = QLabel()
    label.setStyleSheet("color: #e05555;")
    label.setWordWrap(True)
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)
    label.hide()
    return label


class Fields:
    """One form's generated editors by key, the message line under each, and which refusals are
    showing. ``editors`` may also hold other widgets of the form (buttons); only ``add``-ed keys are
    fields."""

    def __init__(self):
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.params: dict[str, Param] = {}
        self._refused: dict[str, Any] = {}   # key -> the graph's value that a refusal kept

    def add(self, key: str, param: Param, editor: QWidget) -> QLabel:
        """Register a field; its (hidden) message line, to be put under it."""
        self.editors[key], self.params[key] = editor, param
        self.errors[key] = error_label()
        return self.errors[key]

    def show(self, key: str, value: Any, problem: str | None = None) -> bool:
        """Field ``key`` shows the graph's ``value`` and ``problem`` (the spec's complaint about it);
        a refusal's message stays while the value it kept is still the graph's. False: the editor
        cannot show it."""
        if not show_value(self.editors[key], self.params[key], value):
            return False
        if problem:
            self._say(key, problem)
            self._refused.pop(key, None)
        elif key not in self._refused or not same_value(self._refused[key], value):
            self.clear(key)
        return True

    def refuse(self, key: str, reason: str, kept: Any) -> None:
        """A typed value was refused: its reason and that ``kept`` stays; the field shows ``kept``."""
        show_value(self.editors[key], self.params[key], kept)
        self._say(key, f"{reason}; kept {value_text(kept) or 'empty'}")
        self._refused[key] = kept

    def commit_focused(self) -> str | None:
        """Commit what is typed in the field that has keyboard focus, as Return would (before something
        reads the graph: a run started with a key while the cursor is still in a field). Focus stays.
        The field's key, or None when no field had focus."""
        focused = QApplication.focusWidget()
        if focused is None:
            return None
        for key, editor in list(self.editors.items()):
            if isinstance(editor, (SpinBox, QLineEdit)) and (editor is focused or editor.isAncestorOf(focused)):
                editor.editingFinished.emit()
                return key
        return None

    def refused(self, key: str) -> bool:
        """Whether the last value typed in ``key`` was refused (its message shows)."""
        return key in self._refused

    def forget_refusals(self) -> None:
        """Earlier refusals' messages go (a run started: they are old news); a problem with the
        graph's own value stays."""
        for key in list(self._refused):
            self.clear(key)

    def clear(self, key: str) -> None:
        self._refused.pop(key, None)
        label = self.errors.get(key)
        if label is not None:
            label.clear()
            label.hide()

    def problem(self, key: str) -> str | None:
        """The message under ``key`` when one shows."""
        label = self.errors.get(key)
        return label.text().replace(ZWSP, "") if label is not None and not label.isHidden() else None

    def _say(self, key: str, text: str) -> None:
        label = self.errors[key]
        label.setText(breakable(text))
        label.show()
