"""The inspector: editors generated from the selected node's parameter specs.

Each edit is planned by ``layerloom.edits`` and carried out as an undo command; a value the plan
refuses is shown under the field with the spec's own message and nothing changes (the field shows the
value kept). The shapes the node receives and produces, and its parameter count, are shown read-only
(they are inferred, as Keras and Neural Network Console do). The form is built when another node (or
block) is shown and updated in place after an edit, undo, redo or analysis, so focus and scroll position
stay where they were.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton,
                               QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from layerloom.edits.params import (bindable, bound_to, can_become_block_param, complaint, fresh_param_name,
                                    is_reference, plan_block_default, plan_block_doc, plan_make_block_param,
                                    plan_remove_block_param, plan_set_param, unlink_value)
from layerloom.core.params import StrParam
from layerloom.edits.blocks import plan_rename
from layerloom.edits.plan import Plan
from layerloom.model.blocks import PREFIX as BLOCK_PREFIX
from layerloom.model.blocks import param_from_record, references
from layerloom.model.trainable import has_weights

from layerloom.nodeeditor.document.commands import SetTrainableCommand
from layerloom.nodeeditor.panels.help import NodeHelpDialog
from layerloom.nodeeditor.canvas.items import shape_text
from layerloom.nodeeditor.panels.param_editors import Fields, breakable, param_editor, parse_text, same_value


NAME_FIELD = StrParam("name", "", "The node's name: unique in its graph; the compiled module's attribute")


class Inspector(QWidget):
    openBlockRequested = Signal(str)   # a block instance's "Edit Inside" button

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self._connections: list = []
        self.node_id: str | None = None
        self.fields = Fields()
        self.editors: dict[str, QWidget] = self.fields.editors
        self.errors: dict[str, QLabel] = self.fields.errors
        self._shape: tuple | None = None     # what the form was built for (``_structure``)
        self._reads: dict[str, Callable[[], tuple[Any, str | None]]] = {}  # field -> (graph's value, complaint)
        self._updates: list[Callable[[], None]] = []   # in-place updates of the read-only rows
        self._name_kept: str | None = None   # the name a refused rename kept
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
        """Follow ``document`` (a model, or a block's inside), and no longer the one before."""
        for signal, slot in self._connections:
            try:
                signal.disconnect(getattr(self, slot))
            except (RuntimeError, TypeError):  # its document is gone already
                pass
        self.document = document
        bridge = document.bridge
        # slots by name: a bound method kept here would be a reference cycle through the widget
        self._connections = [(bridge.analyzed, "_reanalyzed"), (bridge.nodeChanged, "_node_changed"),
                             (bridge.nodeRemoved, "_node_removed"), (bridge.blockChanged, "_reanalyzed")]
        if document.top is not document:   # inside a block: its params and doc change in the model's graph
            self._connections.append((document.top.bridge.blockChanged, "_reanalyzed"))
        for signal, slot in self._connections:
            signal.connect(getattr(self, slot))

    def _reanalyzed(self, *_) -> None:
        self.refresh()

    def _node_removed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.show_node(self.document, None)

    def _node_changed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.refresh()

    def refresh(self) -> None:
        """Bring the form up to date with the graph in place: each editor shows the value the graph
        holds (with the spec's complaint under it when it is wrong), the shapes and problems follow.
        Built anew only when the form would look different (another node, params bound or unbound)."""
        document, node_id = self.document, self.node_id
        if document is None or self._structure(document, node_id) != self._shape or not self._fill():
            self.show_node(document, node_id)

    def _fill(self) -> bool:
        """The values, complaints, shapes and problems into the form as built; False when an editor
        cannot show its value (one of another kind is needed)."""
        for key, read in self._reads.items():
            if not self.fields.show(key, *read()):
                return False
        for update in self._updates:
            update()
        return True

    def _structure(self, document, node_id: str | None) -> tuple:
        """What decides the form's rows and editors (not their values)."""
        if document is None:
            return (None,)
        graph, block = document.graph, document.block
        if node_id is None or node_id not in graph.nodes:
            if block is None:
                return (id(document), "hint")
            records = tuple(tuple((k, json.dumps(v)) for k, v in r.items() if k != "default") for r in block.params)
            return (id(document), "block", block.name, records, tuple(block.inputs), tuple(block.outputs))
        node, spec = graph.node(node_id), graph.spec(node_id)
        params = tuple((p.name, type(p).__name__, repr(p)) for p in spec.params) if spec is not None else None
        bound = tuple(name for name, value in node.params.items() if is_reference(value))
        return (id(document), "node", node_id, node.type_id, params, spec.doc if spec is not None else None,
                bound if block is not None else (), json.dumps(block.params) if block is not None else None,
                node_id in document.bridge.analysis.nodes, has_weights(document.bridge.analysis, node_id))

    def show_node(self, document, node_id: str | None) -> None:
        """Build the form for ``node_id`` (None: a hint, or the open block itself)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self.fields = Fields()
        self.editors, self.errors = self.fields.editors, self.fields.errors
        self._reads, self._updates = {}, []
        self.node_id = node_id
        self._shape = self._structure(document, node_id)
        if document is None or node_id is None or node_id not in document.graph.nodes:
            if document is not None and document.block is not None:
                self._show_block(document)
                return
            hint = QLabel("Select a node to edit its parameters.")
            hint.setWordWrap(True)
            self._form.addRow(hint)
            return
        graph = document.graph
        node, spec = graph.node(node_id), graph.spec(node_id)
        title = QLabel(f"<b>{node.type_id}</b>" + (f"<br><small>{spec.doc}</small>" if spec else ""))
        title.setWordWrap(True)
        self._form.addRow(self._with_help(title, node.type_id) if spec is not None else title)
        if node.type_id.startswith(BLOCK_PREFIX) and spec is not None:
            button = QPushButton("Edit Inside (Alt+Down)")
            button.setToolTip("Open the block's inside on the canvas; changes reach every instance")
            button.clicked.connect(lambda: self.openBlockRequested.emit(node_id))
            self.editors["open"] = button
            self._form.addRow(button)
        name = QLineEdit(node.name)
        name.editingFinished.connect(lambda: self._rename(name.text()))
        name_error = self.fields.add("name", NAME_FIELD, name)   # a refused name's reason shows under it
        self._form.addRow("name", name)
        self._form.addRow(name_error)
        self._updates.append(partial(self._update_name, document, node_id, name))
        block = document.block
        for param in spec.params if spec else ():
            value = node.params.get(param.name, param.default)
            apply = (lambda value, name=param.name: self.apply(name, value))
            if block is not None and is_reference(value):
                editor = QLineEdit(value)  # a reference to a block param: typed as text, unlinked by the menu
                editor.setToolTip(f"Uses the block's param {value[1:]!r}; type another $name, or a value")
                editor.editingFinished.connect(lambda e=editor, p=param: self.apply(p.name, parse_text(p, e.text())))
            else:
                editor = param_editor(param, value, apply)
            error = self.fields.add(param.name, param, editor)
            self._reads[param.name] = partial(_param_state, document, node_id, param)
            self._form.addRow(param.name, self._with_link(document, param, value, editor) if block else editor)
            self._form.addRow(error)
        if node_id in document.bridge.analysis.nodes:
            fields = {}
            for label in ("receives", "gives", "parameters"):
                fields[label] = QLabel()
                fields[label].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                fields[label].setWordWrap(True)   # "pred: [N, 1000], target: [N]" wraps in a narrow dock
                fields[label].setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
                self._form.addRow(label, fields[label])
            self._updates.append(partial(_show_shapes, document, node_id, fields))
        if has_weights(document.bridge.analysis, node_id):
            self._add_trainable(document, node_id)
        notes = QWidget()
        QVBoxLayout(notes).setContentsMargins(0, 0, 0, 0)
        self._form.addRow(notes)
        self._updates.append(partial(_show_notes, document, node_id, notes))
        self._fill()

    def _add_trainable(self, document, node_id: str) -> None:
        """The "Trainable" box of a node with weights: unticked, the node is frozen (fine-tuning)."""
        box = QCheckBox("Trainable")
        box.setToolTip("Untick to freeze this node: training leaves its weights (and batch-norm statistics) "
                       "as they start, e.g. loaded from training.weights. Right-click cards to freeze several.")
        box.clicked.connect(lambda checked: self.set_trainable(checked))
        self.editors["trainable"] = box
        self._form.addRow("", box)
        self._updates.append(partial(_show_trainable, document, node_id, box))

    def set_trainable(self, trainable: bool) -> bool:
        """Freeze or unfreeze the shown node through the undo stack ("Freeze fc1")."""
        document, node_id = self.document, self.node_id
        if document is None or node_id is None or document.graph.node(node_id).trainable == trainable:
            return False
        document.undo_stack.push(SetTrainableCommand(document.graph, [node_id], trainable))
        return True

    def _with_help(self, title: QLabel, type_id: str) -> QWidget:
        """The title and a "?" button that opens the node type's documentation."""
        button = QToolButton()
        button.setText("?")
        button.setToolTip(f"Documentation for {type_id} (F1)")
        button.clicked.connect(lambda checked=False: self.show_help())
        self.editors["help"] = button
        row = _beside(title, button)
        row.layout().setAlignment(button, Qt.AlignmentFlag.AlignTop)
        return row

    def show_help(self) -> NodeHelpDialog | None:
        """Open (or reuse) the documentation dialog for the selected node's type (the "?" button, F1)."""
        document, node_id = self.document, self.node_id
        if document is None or node_id is None or node_id not in document.graph.nodes:
            return None
        spec = document.graph.spec(node_id)
        if spec is None:
            return None
        params = document.graph.node(node_id).params
        dialog = self.findChild(NodeHelpDialog)
        if dialog is None:
            dialog = NodeHelpDialog(spec, self, params)
        else:
            dialog.set_spec(spec, params)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def apply(self, name: str, value) -> bool:
        """Set a parameter through the undo stack; a refused value shows its reason and changes nothing."""
        document, node_id = self.document, self.node_id
        if document is None or node_id is None:
            return False
        node, spec = document.graph.node(node_id), document.graph.spec(node_id)
        param = next((p for p in spec.params if p.name == name), None) if spec is not None else None
        current = node.params.get(name, param.default if param is not None else None)
        if same_value(current, value):
            self.fields.clear(name)
            self.refresh()   # a complaint about the value the node holds comes back
            return True
        plan = plan_set_param(document.top.graph, document.scope, node_id, name, value)
        if plan.refused:
            self._refuse(name, plan, current)
            return False
        return document.carry_out(plan)

    def commit_pending(self) -> str | None:
        """Commit a value typed but not yet entered (call before something reads the graph: a run
        started with F5). The key of the field that had focus, or None."""
        return self.fields.commit_focused()

    def _refuse(self, key: str, plan: Plan, kept) -> None:
        if key in self.fields.params:
            self.fields.refuse(key, plan.refusals[0].message, kept)

    # ------------------------------------------------------------------ inside a block
    def _with_link(self, document, param, value, editor) -> QWidget:
        """The editor and a "$" button: bind the param to a block param (an existing one of the same
        kind, or a new one made from it), or unlink it."""
        block = document.block
        button = QToolButton()
        button.setText("$")
        button.setToolTip("Use a block param here (the block's instances then set it)")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        if is_reference(value):
            font = button.font()
            font.setBold(True)
            button.setFont(font)
        menu = QMenu(button)
        bound = bound_to(value)
        for record in bindable(block, param, value):
            menu.addAction(f"Use block param {record['name']} ({record['kind']}, default {record['default']})",
                           lambda n=record["name"]: self.apply(param.name, f"${n}"))
        if can_become_block_param(param) and bound is None:
            menu.addAction(f"New block param {fresh_param_name(block, param.name)} from this value",
                           lambda: self.make_block_param(param.name))
        if bound is not None:
            default = unlink_value(block, param, value)
            menu.addAction(f"Unlink (set {default} here)", lambda: self.apply(param.name, default))
        if menu.isEmpty():
            menu.addAction("This param cannot be a block param").setEnabled(False)
        button.setMenu(menu)
        self.editors[f"{param.name}.link"] = button
        return _beside(editor, button)

    def make_block_param(self, param_name: str) -> str | None:
        """Turn the selected inner node's param into a new block param (its value the default) and
        bind it, as one undo step. The new param's name."""
        document, node_id = self.document, self.node_id
        if document is None or document.block is None or node_id is None:
            return None
        plan = plan_make_block_param(document.top.graph, document.scope, node_id, param_name)
        if plan.refused:
            document.statusMessage.emit(plan.refusals[0].message)
            return None
        return bound_to(plan.edits[-1].value) if document.carry_out(plan) else None

    def _show_block(self, document) -> None:
        """Nothing selected inside a block: the block itself (doc line, ports, params, instances)."""
        block = document.block
        title = QLabel(f"<b>Block {block.name}</b><br><small>Its inside is on the canvas: every instance "
                       "follows your edits. Input and Output nodes are its ports.</small>")
        title.setWordWrap(True)
        self._form.addRow(title)
        doc = QLineEdit(block.doc)
        doc.setPlaceholderText("e.g. Two 3x3 convolutions with a skip connection")
        doc.setToolTip("What the block does, in one line (shown in the palette)")
        doc.editingFinished.connect(lambda: document.carry_out(plan_block_doc(document.top.graph, document.scope,
                                                                              doc.text())))
        self.editors["doc"] = doc
        self._form.addRow("doc", doc)
        self._updates.append(lambda: doc.hasFocus() or doc.setText(document.block.doc))
        self._form.addRow("inputs", QLabel(", ".join(block.inputs) or "-"))
        self._form.addRow("outputs", QLabel(", ".join(block.outputs) or "-"))
        if not block.params:
            hint = QLabel("No params. Select an inner node and use the $ button next to a field to make it one.")
            hint.setWordWrap(True)
            self._form.addRow(hint)
        for k, record in enumerate(block.params):
            param = param_from_record(record)
            editor = param_editor(param, record["default"], lambda value, k=k: self.set_block_default(k, value))
            remove = QToolButton()
            remove.setText("✕")
            remove.setToolTip("Remove this param (only when no inner param uses it)")
            remove.clicked.connect(lambda checked=False, k=k: self.remove_block_param(k))
            key = f"param:{record['name']}"
            error = self.fields.add(key, param, editor)
            self._reads[key] = partial(_default_state, document, k, param)
            row = _beside(editor, remove)
            self._form.addRow(f"{record['name']} ({record['kind']})", row)
            self._form.addRow(error)
            self._updates.append(partial(_show_param_tip, document, k, row))
        instances = QLabel()
        instances.setWordWrap(True)
        self._form.addRow("instances", instances)
        self._updates.append(lambda: instances.setText(", ".join(
            n.name for n in document.top.graph if n.type_id == document.block.type_id) or "none in the model"))
        self._fill()

    def set_block_default(self, index: int, value) -> bool:
        document = self.document
        record = document.block.params[index]
        key = f"param:{record['name']}"
        plan = plan_block_default(document.top.graph, document.scope, index, value)
        if plan.refused:
            self._refuse(key, plan, record["default"])
            return False
        if not plan.edits:
            self.fields.clear(key)
            return True
        return document.carry_out(plan)

    def remove_block_param(self, index: int) -> bool:
        document = self.document
        plan = plan_remove_block_param(document.top.graph, document.scope, index)
        if plan.refused:
            document.statusMessage.emit(plan.refusals[0].message)
            return False
        return document.carry_out(plan)

    def _rename(self, text: str) -> None:
        """Rename the node; a refused name (empty, taken, too long) says why under the field, which
        shows the name kept."""
        document, node_id = self.document, self.node_id
        if document is None or node_id is None or document.graph.node(node_id).name == text.strip():
            return
        kept = document.graph.node(node_id).name
        plan = plan_rename(document.top.graph, document.scope, node_id, text)
        if plan.refused:
            self.fields.refuse("name", plan.refusals[0].why, kept)
            self._name_kept = kept
            return
        self.fields.clear("name")
        if not document.rename_node(node_id, text):
            self.editors["name"].setText(document.graph.node(node_id).name)

    def _update_name(self, document, node_id: str, editor: QLineEdit) -> None:
        """The name field follows renames made elsewhere (the card, undo); a refusal's message goes
        once the name it kept is no longer the node's."""
        current = document.graph.node(node_id).name
        if not editor.hasFocus():
            editor.setText(current)
        if self.fields.refused("name") and current != self._name_kept:
            self.fields.clear("name")


def _beside(editor: QWidget, button: QWidget) -> QWidget:
    """A field and its small button on one form row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(editor, 1)
    layout.addWidget(button)
    return row


# In-place updates of a built form. Module functions, so that the form's list of them holds no
# reference back to the inspector (a cycle would keep the widget and its document for the garbage
# collector, which may run on any thread).
def _param_state(document, node_id: str, param) -> tuple[Any, str | None]:
    """The value the node holds for ``param`` as it is, and the spec's complaint about it."""
    value = document.graph.node(node_id).params.get(param.name, param.default)
    return value, complaint(param, value, document.block)


def _show_shapes(document, node_id: str, fields: dict[str, QLabel]) -> None:
    info = document.bridge.analysis.nodes.get(node_id)
    if info is None:
        return
    fields["receives"].setText(", ".join(f"{port}: {shape_text(s)}" for port, s in info.inputs.items()) or "-")
    fields["gives"].setText(", ".join(shape_text(s) for s in info.outputs.values()) or "-")
    frozen = " (frozen)" if info.param_count and not document.graph.node(node_id).trainable else ""
    fields["parameters"].setText(f"{info.param_count:,}{frozen}" if info.param_count is not None else "?")


def _show_trainable(document, node_id: str, box: QCheckBox) -> None:
    box.setChecked(document.graph.node(node_id).trainable)


def _show_notes(document, node_id: str, notes: QWidget) -> None:
    """The node's problems from the latest analysis, under the form."""
    layout = notes.layout()
    while layout.count():
        widget = layout.takeAt(0).widget()
        widget.hide()
        widget.deleteLater()
    for problem in document.bridge.analysis.problems_for(node_id):
        note = QLabel(breakable(("⚠ " if problem.severity == "warning" else "✖ ") + problem.message))
        note.setWordWrap(True)   # and never wider than the form: a long word wraps (breakable)
        policy = note.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        note.setSizePolicy(policy)
        note.setStyleSheet("color: #e05555;" if problem.severity == "error" else "color: #d0a030;")
        layout.addWidget(note)
    notes.setVisible(layout.count() > 0)


def _default_state(document, index: int, param) -> tuple[Any, str | None]:
    default = document.block.params[index]["default"]
    return default, complaint(param, default)


def _show_param_tip(document, index: int, row: QWidget) -> None:
    record = document.block.params[index]
    used = ", ".join(references(document.block, record["name"])) or "nothing yet"
    row.setToolTip(f"{record['kind']} param; default {record['default']}; used by {used}")
