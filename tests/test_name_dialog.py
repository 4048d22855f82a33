"""Names typed in dialogs: the runtime rule says why a block name is refused; the name dialog shows the
reason under the field while the user types, keeps OK disabled and stays open on Return; Blocks > Group
(Ctrl+G) asks through it, so a taken or bad name is fixed in place instead of starting over."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from layerloom.edits.names import block_name_refusal, free_block_name
from layerloom.files.resources import example_paths
from layerloom import load_graph


# ------------------------------------------------------------------------------------ the runtime rule
@pytest.fixture
def graph_with_block():
    from layerloom.model.blocks import plan_group

    graph = load_graph(next(p for p in example_paths() if p.stem.startswith("digits_residual")))
    ids = [n.id for n in graph if n.name in ("block_conv1", "block_bn1")]
    plan_group(graph, ids, "Block1").apply(graph)
    return graph


@pytest.mark.parametrize("name, words", [
    ("", "Type a name"),
    ("my block", "not space"),
    ("res-net", "not '-'"),
    ("café", "not 'é'"),
    ("1st", "cannot start with a digit"),
    ("x" * 65, "At most 64 characters"),
    ("Block1", "already exists"),
])
def test_a_refused_block_name_says_why(graph_with_block, name, words):
    reason = block_name_refusal(graph_with_block, name)
    assert reason is not None and words in reason


@pytest.mark.parametrize("name", ["Block2", "ResBlock", "_private", "a" * 64, "Conv3x3_bn"])
def test_a_good_block_name_is_accepted(graph_with_block, name):
    assert block_name_refusal(graph_with_block, name) is None


def test_the_rule_refuses_what_grouping_refuses(graph_with_block):
    """Every name the rule accepts, grouping accepts; every name grouping refuses, the rule refuses."""
    from layerloom.model.blocks import BlockError, plan_group

    ids = [n.id for n in graph_with_block if n.name == "block_conv2"]
    for name in ["Block1", "my block", "1st", "x" * 65, "", "Fine_2"]:
        try:
            plan_group(graph_with_block, ids, name)
            grouped = True
        except BlockError:
            grouped = False
        assert grouped == (block_name_refusal(graph_with_block, name) is None), name


def test_the_suggested_name_is_free(graph_with_block):
    assert free_block_name(graph_with_block) == "Block2"
    assert block_name_refusal(graph_with_block, free_block_name(graph_with_block)) is None


# ------------------------------------------------------------------------------------ the dialog


@pytest.fixture
def dialog(qtbot, graph_with_block):
    from layerloom.nodeeditor.panels.name_dialog import NameDialog

    box = NameDialog(None, "Group into block", "Block name:", "Block2",
                     lambda typed: block_name_refusal(graph_with_block, typed))
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    box.edit.setFocus()
    return box


@pytest.mark.gui
def test_typing_a_taken_name_shows_the_reason_and_disables_ok(dialog, qtbot):
    assert dialog.ok_button.isEnabled() and dialog.shown_reason() is None
    assert dialog.edit.selectedText() == "Block2"   # the suggestion is selected: typing replaces it
    qtbot.keyClick(dialog.edit, Qt.Key.Key_End)
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(dialog.edit, "1")
    assert dialog.edit.text() == "Block1"
    assert "already exists" in dialog.shown_reason()
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)   # Return on a refused name: the dialog stays
    assert dialog.isVisible() and dialog.result() == 0
    qtbot.keyClicks(dialog.edit, "0")
    assert dialog.shown_reason() is None and dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    assert not dialog.isVisible() and dialog.result() == 1 and dialog.name() == "Block10"


@pytest.mark.gui
def test_the_reason_sits_under_the_field_in_the_error_colour(dialog, qtbot):
    qtbot.keyClick(dialog.edit, Qt.Key.Key_End)
    qtbot.keyClicks(dialog.edit, " x")
    assert "not space" in dialog.shown_reason()
    assert dialog.message.geometry().top() >= dialog.edit.geometry().bottom()
    assert "#e05555" in dialog.message.styleSheet()


@pytest.mark.gui
def test_escape_cancels(dialog, qtbot):
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and dialog.result() == 0


# ------------------------------------------------------------------------------------ Blocks > Group
INSIDE = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]


def _in_dialog(qtbot, steps):
    """Run ``steps(dialog)`` once the modal name dialog is up (its exec() blocks the test's call)."""
    from layerloom.nodeeditor.panels.name_dialog import NameDialog

    seen = []

    def act():
        box = QApplication.activeModalWidget()
        if not isinstance(box, NameDialog):
            QTimer.singleShot(20, act)
            return
        seen.append(box)
        steps(box)

    QTimer.singleShot(0, act)
    return seen


@pytest.mark.gui
def test_ctrl_g_with_a_taken_name_keeps_the_dialog_open_until_fixed(editor_window, qtbot):
    window = editor_window
    window.open_example("digits_residual")
    doc = window.document
    doc.scene.clearSelection()
    for node_id in INSIDE[:2]:
        doc.scene.item_for_node[node_id].setSelected(True)
    assert window.group_selection(name="Taken") is not None
    doc.scene.clearSelection()
    for node_id in INSIDE[2:]:
        doc.scene.item_for_node[node_id].setSelected(True)
    reasons = []

    def steps(box):
        assert box.edit.text() == "Block1"    # a free name is suggested
        box.edit.selectAll()
        qtbot.keyClicks(box.edit, "Taken")
        qtbot.keyClick(box.edit, Qt.Key.Key_Return)
        reasons.append(box.shown_reason())
        assert box.isVisible()               # refused in place: the grouping goes on
        qtbot.keyClicks(box.edit, "2")
        reasons.append(box.shown_reason())
        qtbot.keyClick(box.edit, Qt.Key.Key_Return)

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.view.setFocus()
    seen = _in_dialog(qtbot, steps)
    qtbot.keyClick(window.view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert seen, "Ctrl+G asked no name"
    assert "already exists" in reasons[0] and reasons[1] is None
    assert "Taken2" in doc.graph.blocks
    assert [n.type_id for n in doc.graph if n.type_id.startswith("Block:")] == ["Block:Taken", "Block:Taken2"]


@pytest.mark.gui
def test_cancelling_the_name_groups_nothing(editor_window, qtbot):
    window = editor_window
    window.open_example("digits_residual")
    doc = window.document
    for node_id in INSIDE:
        doc.scene.item_for_node[node_id].setSelected(True)
    _in_dialog(qtbot, lambda box: qtbot.keyClick(box.edit, Qt.Key.Key_Escape))
    assert window.group_selection() is None
    assert not doc.graph.blocks and doc.undo_stack.count() == 0


# ------------------------------------------------------------------------------------ the inspector's name field
@pytest.mark.gui
def test_a_refused_rename_in_the_inspector_says_why_under_the_field(qtbot):
    from layerloom.files.resources import example_path
    from layerloom.nodeeditor.document.document import Document
    from layerloom.nodeeditor.panels.inspector import Inspector

    document = Document(load_graph(example_path("digits_mlp")))
    inspector = Inspector()
    qtbot.addWidget(inspector)
    inspector.set_document(document)
    inspector.show_node(document, "fc1")
    inspector.resize(320, 500)
    inspector.show()
    inspector.activateWindow()
    qtbot.waitUntil(inspector.isActiveWindow)
    try:
        taken = document.graph.node("fc2").name
        field = inspector.editors["name"]
        field.setFocus()
        field.selectAll()
        qtbot.keyClicks(field, taken)
        qtbot.keyClick(field, Qt.Key.Key_Return)
        problem = inspector.fields.problem("name")
        assert problem is not None and "already called" in problem and "kept fc1" in problem
        assert inspector.errors["name"].isVisible()
        assert document.graph.node("fc1").name == "fc1" and field.text() == "fc1"
        field.selectAll()
        qtbot.keyClicks(field, "hidden")
        qtbot.keyClick(field, Qt.Key.Key_Return)
        assert document.graph.node("fc1").name == "hidden"
        assert inspector.fields.problem("name") is None
    finally:
        document.close()


@pytest.mark.gui
def test_a_long_prompt_and_a_reason_take_their_own_room(qtbot, graph_with_block):
    """The group dialog's two-line prompt and the reason under the field never overlap the field or the
    buttons (a word-wrapped label in a dialog sized before it wrapped did)."""
    from layerloom.nodeeditor.panels.name_dialog import NameDialog

    box = NameDialog(None, "Group into block", "Block name (letters, digits and _; it becomes the node type "
                     "Block:<name>):", "Block2", lambda typed: block_name_refusal(graph_with_block, typed))
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    qtbot.keyClicks(box.edit, " x!")
    qtbot.wait(10)
    assert box.shown_reason()
    prompt, edit, message, buttons = (w.geometry() for w in (box.prompt, box.edit, box.message, box.buttons))
    assert prompt.height() >= box.prompt.heightForWidth(prompt.width())   # every line of the prompt shows
    assert message.height() >= box.message.heightForWidth(message.width())
    assert prompt.bottom() < edit.top() and edit.bottom() < message.top() and message.bottom() < buttons.top()
    assert buttons.bottom() <= box.height()
