"""The inspector: editors generated from the selected node's parameter specs.

Each edit goes through an undo command; a value the spec refuses is shown under the field with the
spec's own message and nothing changes. The shapes the node receives and produces, and its parameter
count, are shown read-only (they are inferred, as Keras and Neural Network Console do).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QScrollArea, QVBoxLayout, QWidget

from runtime import LayerLoomError

from .commands import SetParamCommand
from .items import shape_text
from .param_editors import error_label, param_editor


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
            editor = param_editor(param, node.params.get(param.name, param.default),
                                  lambda value, name=param.name: self.apply(name, value))
            self.editors[param.name] = editor
            error = error_label()
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
