"""A small dialog that asks for a name and refuses a bad one in place.

``NameDialog`` shows a prompt, a line edit and, under it, the reason the typed name is refused (in the
error colour, as the forms do); OK stays disabled while there is a reason, and Return on a refused name
keeps the dialog open. The rule is the caller's ``check(name) -> reason | None``, a runtime function
(``layerloom.edits.names.block_name_refusal``): the dialog only shows it. ``ask_name`` runs one and returns
the accepted name (stripped) or None.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from layerloom.nodeeditor.panels.param_editors import ZWSP, breakable, error_label

Check = Callable[[str], "str | None"]


class NameDialog(QDialog):
    """Asks for a name; ``name()`` is what was typed, stripped; ``reason()`` why it is refused, or None."""

    def __init__(self, parent: QWidget | None, title: str, prompt: str, text: str, check: Check,
                 placeholder: str = ""):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("nameDialog")
        self.check = check
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.edit = QLineEdit(text)
        self.edit.setPlaceholderText(placeholder)
        self.edit.selectAll()
        self.message = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.setFixedWidth(420)   # a known width: the prompt and the reason wrap to it, and the height follows
        self.edit.textChanged.connect(self._changed)
        self._changed()

    @property
    def ok_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def name(self) -> str:
        return self.edit.text().strip()

    def reason(self) -> str | None:
        return self.check(self.name())

    def shown_reason(self) -> str | None:
        """The sentence under the field when one shows."""
        return None if self.message.isHidden() else self.message.text().replace(ZWSP, "")

    def _changed(self) -> None:
        reason = self.reason()
        self.ok_button.setEnabled(reason is None)
        if reason is None:
            self.message.clear()
            self.message.hide()
        else:
            self.message.setText(breakable(reason))
            self.message.show()
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the wrapped prompt and reason need (a word-wrapped label does not grow its dialog)."""
        layout = self.layout()
        if layout is not None:
            self.setFixedHeight(layout.totalHeightForWidth(self.width()))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._fit_height()

    def accept(self) -> None:
        """OK or Return: closes only when the name is accepted; otherwise the reason shows and the
        dialog stays, with the text kept for fixing."""
        self._changed()
        if self.reason() is None:
            super().accept()
        else:
            self.edit.setFocus()


def ask_name(parent: QWidget | None, title: str, prompt: str, text: str, check: Check,
             placeholder: str = "") -> str | None:
    """Run a ``NameDialog``; the accepted name, or None when cancelled."""
    dialog = NameDialog(parent, title, prompt, text, check, placeholder)
    try:
        return dialog.name() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
