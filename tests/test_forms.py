"""Forms that behave: the training form and the inspector, driven with real key and wheel events.

After every edit, undo, redo, refusal and wheel turn, each field must show the value a run will use
(``TrainingConfig.from_graph``) or the node holds; the wheel changes a field only when it has focus;
a number the spec refuses says why and which value was kept; Return moves nothing else.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QScrollArea

from layerloom.nodeeditor.document.commands import SetMetaCommand
from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.panels.inspector import Inspector
from layerloom.nodeeditor.panels.param_editors import ChoiceBox, SpinBox, shown_value
from layerloom.nodeeditor.panels.training_panel import FILE_CHOICE, TrainingPanel
from layerloom import dumps_graph, load_graph, loads_graph
from layerloom.files.resources import example_path
from layerloom.training import TrainingConfig
from layerloom.training.config import TrainingSettingsError, check_training

pytestmark = pytest.mark.gui


def _graph(training: dict | None = None, params: dict | None = None):
    """digits_mlp, with its training section and fc1's params changed as a hand-edited file would."""
    data = json.loads(dumps_graph(load_graph(example_path("digits_mlp"))))
    if training is not None:
        data["training"] = training
    for node in data["nodes"]:
        if node["id"] == "fc1":
            node["params"].update(params or {})
    return loads_graph(json.dumps(data))


def _panel(qtbot, graph, height: int = 420) -> TrainingPanel:
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_document(Document(graph))
    panel.resize(380, height)   # shorter than the form: it scrolls
    panel.show()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    return panel


@pytest.fixture
def panel(qtbot):
    widget = _panel(qtbot, _graph())
    yield widget
    widget.document.close()


def _scroll(widget) -> QScrollArea:
    while not isinstance(widget, QScrollArea):
        widget = widget.parentWidget()
    return widget


def _wheel(widget, dy: int = -120) -> QWheelEvent:
    """A wheel turn over the middle of ``widget`` (negative: towards the user, scrolling down)."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, dy), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event


def _focus(qtbot, editor) -> None:
    """Click into a field, as a user does before typing or wheeling."""
    if isinstance(editor, QComboBox):
        editor.setFocus(Qt.FocusReason.TabFocusReason)   # a click would open its list
    else:
        qtbot.mouseClick(editor.lineEdit() if isinstance(editor, SpinBox) else editor, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(editor.hasFocus)


def _open_sections(panel, qtbot) -> None:
    """Open every "More settings", and wait until the form is laid out so clicks land on the fields."""
    for toggle in panel._toggles.values():
        qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(editor.isVisible() for editor in panel.editors.values()))
    QApplication.processEvents()


def _type(qtbot, editor, text: str) -> None:
    _focus(qtbot, editor)
    (editor.lineEdit() if isinstance(editor, SpinBox) else editor).selectAll()
    if text:
        qtbot.keyClicks(editor, text)
    else:
        qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def assert_form_shows_the_run(panel: TrainingPanel) -> None:
    """Every field of the form shows the value the run will use (a valid file), or, where the file
    holds a value the spec refuses, that value as it is with the spec's reason under it."""
    raw = panel.document.graph.training
    config, problems = check_training(raw)
    if not problems:
        assert TrainingConfig.from_graph(panel.document.graph) == config
    resolved = config.to_dict()
    bad = {p.partition(": ")[0].removeprefix("training."): p.partition(": ")[2] for p in problems}
    for key, param in panel.fields.params.items():
        section, _, name = key.rpartition(".")
        holder = raw.get(section, {}) if section else raw
        if key in bad:
            assert shown_value(panel.editors[key], param) == holder[name], key
            assert bad[key] in panel.fields.problem(key), key
        else:
            expected = resolved[section][name] if section else resolved[name]
            assert shown_value(panel.editors[key], param) == expected, key
    combo = panel.editors["dataset.name"]
    assert combo.currentData() == (FILE_CHOICE if config.dataset["path"] else config.dataset["name"])


# ---------------------------------------------------------------------------------------------- the wheel
def test_the_wheel_scrolls_the_form_over_fields_without_focus_and_changes_none(panel, qtbot):
    doc = panel.document
    before = dumps_graph(doc.graph)
    bar = _scroll(panel.editors["epochs"]).verticalScrollBar()
    assert bar.maximum() > 0
    for key in ("epochs", "batch_size", "monitor", "optimizer.name", "dataset.name"):
        editor = panel.editors[key]
        assert not editor.hasFocus()
        bar.setValue(0)
        event = _wheel(editor)
        assert event.isAccepted()
        assert bar.value() > 0, key            # the form scrolled instead
        assert dumps_graph(doc.graph) == before and doc.undo_stack.count() == 0, key
        assert_form_shows_the_run(panel)


def test_the_wheel_steps_a_focused_field_and_its_steps_are_one_undo_step(panel, qtbot):
    doc = panel.document
    epochs = panel.editors["epochs"]
    _focus(qtbot, epochs)
    bar = _scroll(epochs).verticalScrollBar()
    scrolled = bar.value()
    for _ in range(3):
        _wheel(epochs, +120)
        assert_form_shows_the_run(panel)
    assert doc.graph.training["epochs"] == 23 and doc.undo_stack.count() == 1
    assert bar.value() == scrolled and epochs.hasFocus()
    qtbot.keyClick(epochs, Qt.Key.Key_Down)    # arrow keys are steps too: still one undo step
    assert doc.graph.training["epochs"] == 22 and doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.graph.training["epochs"] == 20
    assert_form_shows_the_run(panel)
    doc.undo_stack.redo()
    assert_form_shows_the_run(panel)

    choice = panel.editors["optimizer.name"]
    _focus(qtbot, choice)
    _wheel(choice, -120)
    assert doc.graph.training["optimizer"]["name"] != "adam"
    assert_form_shows_the_run(panel)


def test_steps_that_come_back_leave_no_undo_step_and_typed_values_are_steps_of_their_own(panel, qtbot):
    doc = panel.document
    batch = panel.editors["batch_size"]
    _focus(qtbot, batch)
    for key in (Qt.Key.Key_Up, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Down):
        qtbot.keyClick(batch, key)
    assert doc.graph.training["batch_size"] == 64
    assert doc.undo_stack.count() == 0 and doc.undo_stack.isClean()
    _type(qtbot, batch, "32")
    _type(qtbot, batch, "16")
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert doc.graph.training["batch_size"] == 32
    assert_form_shows_the_run(panel)


def test_a_value_typed_but_not_entered_is_committed_before_a_run_reads_the_graph(panel, qtbot):
    epochs, lr = panel.editors["epochs"], panel.editors["optimizer.lr"]
    _focus(qtbot, epochs)
    epochs.lineEdit().selectAll()
    qtbot.keyClicks(epochs, "5")               # no Return: F5 would start a run now
    assert panel.document.graph.training["epochs"] == 20
    assert panel.commit_pending() and epochs.hasFocus()
    assert panel.document.graph.training["epochs"] == 5
    assert_form_shows_the_run(panel)
    _focus(qtbot, lr)
    lr.selectAll()
    qtbot.keyClicks(lr, "0")
    assert panel.commit_pending() == "optimizer.lr" and panel.fields.refused("optimizer.lr")
    assert "greater than 0" in panel.fields.problem("optimizer.lr")
    assert_form_shows_the_run(panel)


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("key, text, reason", [
    ("epochs", "-5", "epochs: must be at least 1, got -5; kept 20"),
    ("epochs", "99999999999", "epochs: must be at most 100,000, got 99,999,999,999; kept 20"),
    ("batch_size", "0", "batch_size: must be at least 1, got 0; kept 64"),
    ("seed", "-1", "seed: must be at least 0, got -1; kept 0"),
    ("optimizer.lr", "-1", "lr: must be greater than 0, got -1; kept 0.001"),
    ("epochs", "", "epochs: a value is required; kept 20"),
])
def test_a_typed_value_out_of_range_is_refused_with_the_spec_reason_never_clamped(panel, qtbot, key, text, reason):
    doc = panel.document
    _open_sections(panel, qtbot)
    before = dumps_graph(doc.graph)
    editor = panel.editors[key]
    _type(qtbot, editor, text)
    assert dumps_graph(doc.graph) == before and doc.undo_stack.count() == 0
    assert panel.fields.problem(key) == reason
    assert editor.hasFocus()
    assert_form_shows_the_run(panel)           # the field shows the kept value again
    if isinstance(editor, SpinBox):
        _type(qtbot, editor, "7")
        assert panel.fields.problem(key) is None
        assert_form_shows_the_run(panel)


def test_a_hand_edited_file_shows_its_wrong_values_as_they_are_with_the_reason(qtbot):
    graph = _graph({"epochs": -3, "batch_size": 4_000_000_000, "optimizer": {"name": "adamm", "lr": -1},
                    "dataset": {"name": "digits"}})
    panel = _panel(qtbot, graph)
    with pytest.raises(TrainingSettingsError):
        TrainingConfig.from_graph(graph)
    assert shown_value(panel.editors["epochs"], panel.fields.params["epochs"]) == -3
    assert panel.fields.problem("epochs") == "epochs: must be at least 1, got -3"
    assert panel.editors["batch_size"].text() == "4000000000"     # too big for a spin box: shown as typed
    assert "must be at most 1,000,000" in panel.fields.problem("batch_size")
    assert panel.editors["optimizer.name"].currentText() == "adamm (not allowed)"
    assert panel.fields.problem("optimizer.name").startswith("name: expected one of 'sgd'")
    assert_form_shows_the_run(panel)

    epochs = panel.editors["epochs"]
    _focus(qtbot, epochs)
    qtbot.keyClick(epochs, Qt.Key.Key_Up)       # a step from a wrong value lands on the first allowed one
    assert graph.training["epochs"] == 1 and panel.fields.problem("epochs") is None
    qtbot.keyClick(epochs, Qt.Key.Key_Return)   # the same value again: nothing to undo
    assert panel.document.undo_stack.count() == 1
    choice = panel.editors["optimizer.name"]
    choice.activated.emit(choice.findData("sgd"))
    assert choice.count() == 4 and panel.fields.problem("optimizer.name") is None
    panel.document.undo_stack.undo()
    assert panel.editors["optimizer.name"].currentText() == "adamm (not allowed)"
    assert_form_shows_the_run(panel)
    panel.document.close()


# ---------------------------------------------------------------------------------------------- Return
def test_return_commits_its_field_and_nothing_else_moves(panel, qtbot):
    doc = panel.document
    toggle = panel._toggles["dataset"]
    _open_sections(panel, qtbot)
    assert toggle.isChecked()
    editors = dict(panel.editors)
    scroll = _scroll(panel.editors["epochs"])
    for key, text, value in (("dataset.target_column", "label", "label"), ("dataset.path", "data.csv", "data.csv"),
                             ("epochs", "7", 7), ("optimizer.lr", "0.01", 0.01)):
        editor = panel.editors[key]
        scroll.ensureWidgetVisible(editor)
        position = scroll.verticalScrollBar().value()
        _type(qtbot, editor, text)
        section, _, name = key.rpartition(".")
        assert (doc.graph.training[section] if section else doc.graph.training)[name] == value, key
        assert editor.hasFocus(), key
        assert scroll.verticalScrollBar().value() == position, key
        assert toggle.isChecked() and panel.editors["dataset.format"].isVisible(), key
        assert panel.editors == editors, key     # updated in place, not built again
        assert_form_shows_the_run(panel)
    assert panel.editors["dataset.name"].currentData() == FILE_CHOICE
    count = doc.undo_stack.count()
    qtbot.keyClick(panel.editors["optimizer.lr"], Qt.Key.Key_Return)   # nothing typed: nothing changes
    _focus(qtbot, panel.editors["optimizer.weight_decay"])               # a default the file does not hold
    qtbot.keyClick(panel.editors["optimizer.weight_decay"], Qt.Key.Key_Return)
    assert doc.undo_stack.count() == count and "weight_decay" not in doc.graph.training["optimizer"]
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
        assert_form_shows_the_run(panel)
    assert panel.editors == editors and toggle.isChecked()
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
        assert_form_shows_the_run(panel)


def test_another_document_builds_the_form_again_and_open_sections_stay_open(panel, qtbot):
    qtbot.mouseClick(panel._toggles[None], Qt.MouseButton.LeftButton)
    old = panel.document
    panel.set_document(Document(_graph({"epochs": 3})))
    assert panel._toggles[None].isChecked()
    qtbot.waitUntil(panel.editors["l1"].isVisible)
    assert_form_shows_the_run(panel)
    old.undo_stack.push(SetMetaCommand(old.graph, "training", {"epochs": 9}))
    assert panel.editors["epochs"].value() == 3   # the old document's edits no longer reach the form
    old.close()
    panel.document.close()


# ---------------------------------------------------------------------------------------------- preview
def test_the_preview_fits_the_dock(qtbot):
    from layerloom.data import load_dataset

    panel = _panel(qtbot, _graph(), height=700)
    panel.resize(300, 700)
    qtbot.waitUntil(lambda: _scroll(panel.editors["epochs"]).viewport().width() < 300)
    body = panel._body
    viewport = _scroll(panel.editors["epochs"]).viewport()
    before = body.minimumSizeHint().width()
    panel._preview_clicked()
    panel.show_dataset(load_dataset({"name": "digits"}))
    strip = panel.preview_images
    qtbot.waitUntil(lambda: strip.height() == strip.heightForWidth(strip.width()))
    assert body.minimumSizeHint().width() <= max(before, viewport.width())
    assert body.width() <= viewport.width()
    assert len(strip.pictures) == 8
    right = strip.mapTo(body, strip.rect().topLeft()).x() + strip.per_row(strip.width()) * (strip.SIZE + strip.GAP)
    assert right <= viewport.width() + strip.GAP
    assert strip.height() > strip.SIZE + strip.GAP   # wrapped onto a second row
    panel.preview.setText("✖ cannot read /" + "a_very_long_folder_name/" * 12 + "data.csv")
    QApplication.processEvents()
    assert body.minimumSizeHint().width() <= max(before, viewport.width()) and body.width() <= viewport.width()
    panel.apply("dataset", "name", "iris")      # other data: the old preview goes
    assert not strip.pictures and panel.preview.text() == ""
    panel.document.close()


# ---------------------------------------------------------------------------------------------- the inspector
@pytest.fixture
def inspector(qtbot):
    widget = _inspector(qtbot, _graph())
    yield widget
    widget.document.close()


def _inspector(qtbot, graph, node_id: str = "fc1") -> Inspector:
    widget = Inspector()
    qtbot.addWidget(widget)
    document = Document(graph)
    widget.set_document(document)
    widget.show_node(document, node_id)
    widget.resize(300, 160)
    widget.show()
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    return widget


def assert_inspector_shows_the_node(inspector: Inspector) -> None:
    graph = inspector.document.graph
    node, spec = graph.node(inspector.node_id), graph.spec(inspector.node_id)
    for param in spec.params:
        assert shown_value(inspector.editors[param.name], param) == node.params[param.name], param.name


def test_the_inspector_wheel_needs_focus_and_return_keeps_the_form(inspector, qtbot):
    doc = inspector.document
    spin = inspector.editors["out_features"]
    assert isinstance(spin, SpinBox) and isinstance(inspector.editors["init"], ChoiceBox)
    bar = _scroll(spin).verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(0)
    _wheel(spin)
    assert bar.value() > 0 and doc.graph.node("fc1").params["out_features"] == 128 and doc.undo_stack.count() == 0
    _wheel(inspector.editors["init"])
    assert doc.undo_stack.count() == 0
    assert_inspector_shows_the_node(inspector)

    _focus(qtbot, spin)
    _wheel(spin, +120)
    _wheel(spin, +120)
    assert doc.graph.node("fc1").params["out_features"] == 130 and doc.undo_stack.count() == 1
    _type(qtbot, spin, "32")
    doc.bridge.reanalyze()
    assert inspector.editors["out_features"] is spin and spin.hasFocus()
    assert_inspector_shows_the_node(inspector)
    assert "2,080" in [label.text() for label in inspector.findChildren(QLabel)]   # 64*32 + 32, in place
    doc.undo_stack.undo()
    assert inspector.editors["out_features"] is spin
    assert_inspector_shows_the_node(inspector)


def test_the_inspector_refuses_a_typed_value_with_the_reason_and_shows_a_wrong_file_value(qtbot):
    inspector = _inspector(qtbot, _graph(params={"out_features": -5, "init": "bogus"}))
    spin = inspector.editors["out_features"]
    assert spin.text() == "-5" and inspector.fields.problem("out_features") == \
        "out_features: must be at least 1, got -5"
    assert inspector.editors["init"].currentText() == "bogus (not allowed)"
    assert_inspector_shows_the_node(inspector)
    _type(qtbot, spin, "16")
    assert inspector.document.graph.node("fc1").params["out_features"] == 16
    assert inspector.fields.problem("out_features") is None
    _type(qtbot, spin, "-2")
    assert inspector.fields.problem("out_features") == "out_features: must be at least 1, got -2; kept 16"
    assert inspector.document.graph.node("fc1").params["out_features"] == 16 and spin.hasFocus()
    assert_inspector_shows_the_node(inspector)
    inspector.document.undo_stack.undo()   # back to the file's wrong value: shown, with its reason
    assert spin.text() == "-5" and "got -5" in inspector.fields.problem("out_features")
    assert_inspector_shows_the_node(inspector)
    inspector.document.close()


def test_a_block_param_default_is_edited_in_place_and_refused_with_its_reason(editor_window, qtbot):
    window = editor_window
    window.open_example("digits_residual")
    doc = window.document
    inside_ids = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]
    window.open_instance(doc.group(inside_ids, "ResBlock"))
    inside, inspector = window.editing, window.inspector
    inside.scene.item_for_node["block_conv1"].setSelected(True)
    assert inspector.make_block_param("out_channels") == "out_channels"
    inside.scene.clearSelection()
    editor = inspector.editors["param:out_channels"]
    assert isinstance(editor, SpinBox)
    inspector.activateWindow()
    _type(qtbot, editor, "0")
    assert inspector.fields.problem("param:out_channels") == "out_channels: must be at least 1, got 0; kept 16"
    assert doc.graph.blocks["ResBlock"].params[0]["default"] == 16 and editor.text() == "16"
    _type(qtbot, editor, "8")
    assert doc.graph.blocks["ResBlock"].params[0]["default"] == 8
    assert inspector.editors["param:out_channels"] is editor and editor.hasFocus()
    assert inspector.fields.problem("param:out_channels") is None
    doc.undo_stack.undo()
    assert inspector.editors["param:out_channels"] is editor and editor.text() == "16"


def test_a_long_shape_line_wraps_in_a_narrow_inspector(qtbot):
    """A loss's "receives" line ("pred: [N, 1000], target: [N]") wrapped instead of widening the form:
    the dock at 1366x768 needed a horizontal scroll bar to read it."""
    from helpers import mlp_graph

    graph = mlp_graph(hidden=8, classes=1000, features=4)
    widget = _inspector(qtbot, graph, "loss")
    widget.resize(250, 400)
    qtbot.waitUntil(lambda: widget.width() == 250)
    scroll = widget.findChild(QScrollArea)
    QApplication.processEvents()
    assert not scroll.horizontalScrollBar().isVisible()
