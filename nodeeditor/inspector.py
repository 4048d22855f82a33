"""The inspector: editors generated from the selected node's parameter specs.

Each edit goes through an undo command; a value the spec refuses is shown under the field with the
spec's own message and nothing changes. The shapes the node receives and produces, and its parameter
count, are shown read-only (they are inferred, as Keras and Neural Network Console do).
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from runtime import GraphError, LayerLoomError
from runtime.params import BoolParam, ChoiceParam, IntParam, Param

from .commands import SetParamCommand
from .items import shape_text


def _text(value) -> str:
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
    try:
        return json.loads(text)
    except ValueError:
        return text


class Inspector(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._body = QWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._form = QFormLayout(self._body)
        self.show_node(None, None)

    def set_document(self, document) -> None:
        self.document = document
        document.bridge.analyzed.connect(lambda _: self.show_node(self.document, self.node_id))
        document.bridge.nodeChanged.connect(self._node_changed)
        document.bridge.nodeRemoved.connect(lambda nid: nid == self.node_id and self.show_node(document, None))

    def _node_changed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.show_node(self.document, node_id)

    def show_node(self, document, node_id: str | None) -> None:
        """Rebuild the form for ``node_id`` (None: a hint)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self.editors, self.errors = {}, {}
        self.node_id = node_id
        if document is None or node_id is None or node_id not in document.graph.nodes:
            hint = QLabel("Select a node to edit its parameters.")
            hint.setWordWrap(True)
            self._form.addRow(hint)
            return
        graph = document.graph
        node, spec = graph.node(node_id), graph.spec(node_id)
        title = QLabel(f"<b>{node.type_id}</b>" + (f"<br><small>{spec.doc}</small>" if spec else ""))
        title.setWordWrap(True)
        self._form.addRow(title)
        name = QLineEdit(node.name)
        name.editingFinished.connect(lambda: self._rename(name.text()))
        self.editors["name"] = name
        self._form.addRow("name", name)
        for param in spec.params if spec else ():
            editor = self._editor(param, node.params.get(param.name, param.default))
            editor.setToolTip(f"{param.doc}\n({param.describe()})")
            self.editors[param.name] = editor
            error = QLabel()
            error.setStyleSheet("color: #e05555;")
            error.setWordWrap(True)
            error.hide()
            self.errors[param.name] = error
            self._form.addRow(param.name, editor)
            self._form.addRow(error)
        info = document.bridge.analysis.nodes.get(node_id)
        if info is not None:
            inputs = ", ".join(f"{port}: {shape_text(s)}" for port, s in info.inputs.items()) or "-"
            outputs = ", ".join(shape_text(s) for s in info.outputs.values()) or "-"
            for label, value in (("receives", inputs), ("gives", outputs),
                                 ("parameters", f"{info.param_count:,}" if info.param_count is not None else "?")):
                field = QLabel(value)
                field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self._form.addRow(label, field)
        for problem in document.bridge.analysis.problems_for(node_id):
            note = QLabel(("⚠ " if problem.severity == "warning" else "✖ ") + problem.message)
            note.setWordWrap(True)
            note.setStyleSheet("color: #e05555;" if problem.severity == "error" else "color: #d0a030;")
            self._form.addRow(note)

    def _editor(self, param: Param, value) -> QWidget:
        if isinstance(param, BoolParam):
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda checked, p=param: self.apply(p.name, checked))
            return box
        if isinstance(param, ChoiceParam):
            combo = QComboBox()
            for choice in param.choices:
                combo.addItem(str(choice), choice)
            combo.setCurrentIndex(max(0, list(param.choices).index(value) if value in param.choices else 0))
            combo.activated.connect(lambda index, p=param, c=combo: self.apply(p.name, c.itemData(index)))
            return combo
        if isinstance(param, IntParam) and isinstance(value, int):
            spin = QSpinBox()
            spin.setRange(param.minimum if param.minimum is not None else -2**31 + 1,
                          min(param.maximum if param.maximum is not None else 2**31 - 1, 2**31 - 1))
            spin.setValue(value)
            spin.editingFinished.connect(lambda p=param, s=spin: self.apply(p.name, s.value()))
            return spin
        line = QLineEdit(_text(value))
        line.setPlaceholderText(param.describe())
        line.editingFinished.connect(lambda p=param, e=line: self.apply(p.name, parse_text(p, e.text())))
        return line

    def apply(self, name: str, value) -> bool:
        """Set a parameter through the undo stack; a refused value shows its reason and changes nothing."""
        document, node_id = self.document, self.node_id
        if document is None or node_id is None:
            return False
        node = document.graph.node(node_id)
        if node.params.get(name) == value:
            return True
        try:
            document.undo_stack.push(SetParamCommand(document.graph, node_id, name, value))
        except LayerLoomError as exc:
            label = self.errors.get(name)
            if label is not None:
                label.setText(getattr(exc, "detail", str(exc)))
                label.show()
            return False
        return True

    def _rename(self, text: str) -> None:
        document, node_id = self.document, self.node_id
        if document is None or node_id is None or document.graph.node(node_id).name == text.strip():
            return
        if not document.rename_node(node_id, text):
            self.editors["name"].setText(document.graph.node(node_id).name)
