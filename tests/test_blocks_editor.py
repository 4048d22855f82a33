"""Blocks in the editor, driven like a user: Ctrl+G groups a selection as one undo step, the palette
lists the block, a double-click opens its inside with a breadcrumb back, edits inside reach every
instance, inner params become block params, renaming a port keeps the wires, blocks travel through
the clipboard and block library files, and Ctrl+Shift+G ungroups."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from layerloom import dumps_graph

pytestmark = pytest.mark.gui

INSIDE = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]


@pytest.fixture
def window(editor_window):
    editor_window.open_example("digits_residual")
    return editor_window


def _discard_changes(window) -> None:
    if window.document is not None:
        window.document.undo_stack.setClean()


def _select(document, ids) -> None:
    document.scene.clearSelection()
    for node_id in ids:
        document.scene.item_for_node[node_id].setSelected(True)


def _key(qtbot, window, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts go to the active window
    window.view.setFocus()
    qtbot.keyClick(window.view, key, modifiers)


def _grouped(window, qtbot, monkeypatch, name="ResBlock") -> str:
    """Select the residual block's nodes and press Ctrl+G, answering the name question."""
    from layerloom.nodeeditor.window import blocks

    asked = []
    monkeypatch.setattr(blocks, "ask_name", lambda parent, title, prompt, text, *a, **k: (asked.append(text), name)[1])
    _select(window.document, INSIDE)
    _key(qtbot, window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["Block1"]  # a free name is suggested
    (instance,) = [n.id for n in window.document.graph if n.type_id == f"Block:{name}"]
    return instance


def _double_click(qtbot, window, node_id) -> None:
    """A real double-click on the body of a node's card (below its title, which renames)."""
    item = window.editing.scene.item_for_node[node_id]
    window.view.centerOn(item)
    point = window.view.mapFromScene(item.mapToScene(item.boundingRect().center() + QPoint(0, 6)))
    qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_ctrl_g_groups_as_one_undo_step_and_the_palette_lists_the_block(window, qtbot, monkeypatch):
    doc = window.document
    before = dumps_graph(doc.graph)
    params = doc.bridge.analysis.total_params
    instance = _grouped(window, qtbot, monkeypatch)
    qtbot.waitUntil(lambda: doc.bridge.analysis.ok and not doc.bridge._stale)
    assert doc.bridge.analysis.total_params == params  # same network, now with a block in it
    assert [i.node_id for i in doc.scene.selectedItems()] == [instance]
    assert window.palette_widget.item_for("Block:ResBlock") is not None
    assert window.palette_widget.tree.topLevelItem(0).text(0) == "Blocks"  # the model's own blocks first
    assert doc.undo_stack.count() == 1
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dumps_graph(doc.graph) == before
    assert window.palette_widget.item_for("Block:ResBlock") is None
    doc.undo_stack.redo()
    assert doc.graph.blocks["ResBlock"].inputs == ("in",)


def test_double_click_opens_the_inside_and_edits_there_reach_every_instance(window, qtbot, monkeypatch):
    doc = window.document
    instance = _grouped(window, qtbot, monkeypatch)
    second = window.duplicate()[0]
    doc.graph.move_node(second, 1620.0, 300.0)  # not over the first one's card
    doc.connect_ports(instance, "out", second, "in")
    doc.connect_ports(second, "out", "global_pool", "in")
    qtbot.waitUntil(lambda: not doc.bridge._stale)
    before = doc.bridge.analysis.total_params

    _double_click(qtbot, window, instance)
    inside = window.editing
    assert inside is not doc and inside.block.name == "ResBlock"
    crumbs = window.scopes.breadcrumb
    assert crumbs.isVisible() and [b.text() for b in crumbs.buttons] == ["Digits ResNet", "ResBlock"]
    assert "2 in the model" in crumbs.note.text()
    assert window.view.scene() is inside.scene and "block_conv1" in inside.scene.item_for_node

    # Change a convolution inside: both instances (and the model's size) follow.
    _select(inside, ["block_conv1"])
    assert window.inspector.node_id == "block_conv1"
    window.inspector.apply("bias", True)
    qtbot.waitUntil(lambda: doc.bridge.analysis.total_params == before + 2 * 16)

    # The breadcrumb goes back; Ctrl+Z undoes the inner edit from the model's level (one history).
    qtbot.mouseClick(crumbs.buttons[0], Qt.MouseButton.LeftButton)
    assert window.editing is doc and not crumbs.isVisible()
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.graph.blocks["ResBlock"].graph.node("block_conv1").params["bias"] is False
    qtbot.waitUntil(lambda: doc.bridge.analysis.total_params == before)


def test_an_inner_param_becomes_a_block_param_that_each_instance_sets(window, qtbot, monkeypatch):
    doc = window.document
    instance = _grouped(window, qtbot, monkeypatch)
    window.open_instance(instance)
    inside = window.editing
    for node_id in ("block_conv1", "block_conv2"):
        _select(inside, [node_id])
        if node_id == "block_conv1":
            assert window.inspector.make_block_param("out_channels") == "out_channels"
        else:  # the $ button's menu offers the existing block param
            menu = window.inspector.editors["out_channels.link"].menu()
            (use,) = [a for a in menu.actions() if a.text().startswith("Use block param out_channels")]
            use.trigger()
    block = doc.graph.blocks["ResBlock"]
    assert block.params[0]["name"] == "out_channels" and block.params[0]["default"] == 16
    assert [inside.graph.node(n).params["out_channels"] for n in ("block_conv1", "block_conv2")] == \
        ["$out_channels", "$out_channels"]
    _select(inside, [])
    assert "param:out_channels" in window.inspector.editors  # the block's own panel lists it
    assert window.inspector.remove_block_param(0) is False   # still used: refused

    window.scopes.up()
    _select(doc, [instance])
    assert "out_channels" in window.inspector.editors and "repeat" in window.inspector.editors
    window.inspector.apply("out_channels", 8)
    qtbot.waitUntil(lambda: not doc.bridge._stale)
    problems = [p.describe() for p in doc.bridge.analysis.errors]
    assert any("inside block 'ResBlock'" in p for p in problems)  # 16 channels in, 8 added back: named
    window.inspector.apply("out_channels", 16)
    window.inspector.apply("repeat", 3)
    qtbot.waitUntil(lambda: not doc.bridge._stale)
    assert doc.bridge.analysis.ok
    assert "× 3" in doc.scene.item_for_node[instance].type_id

    window.inspector.apply("repeat", 1)
    _key(qtbot, window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert doc.graph.node("block_conv1").params["out_channels"] == 16  # the instance's value, substituted
    assert doc.graph.blocks == {}


def test_renaming_a_port_inside_keeps_every_instance_wired(window, qtbot, monkeypatch):
    doc = window.document
    instance = _grouped(window, qtbot, monkeypatch)
    wires = [e for e in doc.graph.edges if instance in (e.src, e.dst)]
    window.open_instance(instance)
    inside = window.editing
    inside.rename_node("block_in", "features")
    assert doc.graph.blocks["ResBlock"].inputs == ("features",)
    assert [e.dst_port for e in doc.graph.edges if e.dst == instance] == ["features"]
    qtbot.waitUntil(lambda: not doc.bridge._stale)
    assert doc.bridge.analysis.ok
    doc.undo_stack.undo()  # one step: the name, the port and the wires
    assert [e for e in doc.graph.edges if instance in (e.src, e.dst)] == wires
    assert doc.graph.blocks["ResBlock"].inputs == ("in",)


def test_undoing_the_group_while_inside_closes_the_block(window, qtbot, monkeypatch):
    doc = window.document
    before = dumps_graph(doc.graph)
    instance = _grouped(window, qtbot, monkeypatch)
    window.open_instance(instance)
    inside = window.editing
    assert inside.add_node("Block:ResBlock", (0.0, 0.0)) is None  # a block cannot contain itself
    doc.undo_stack.undo()
    assert window.editing is doc and not window.scopes.breadcrumb.isVisible()
    assert dumps_graph(doc.graph) == before


def test_blocks_travel_through_the_clipboard_and_library_files(window, qtbot, monkeypatch, tmp_path):
    from layerloom.nodeeditor.window.main_window import _windows

    doc = window.document
    instance = _grouped(window, qtbot, monkeypatch)
    _select(doc, [instance])
    _key(qtbot, window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    area = window.screen().availableGeometry()
    window.resize(area.size())   # a window as big as the screen: File > New Window's cascade stays on it
    window.move(area.topLeft())
    second = window.new_window()
    qtbot.addWidget(second, before_close_func=_discard_changes)
    _windows.discard(second)
    frame = second.geometry()   # as much of it on the screen as its minimum size allows
    assert frame.top() >= area.top() and frame.left() >= area.left()
    assert frame.bottom() <= area.bottom() or frame.height() == second.minimumHeight()
    _key(qtbot, second, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    graph = second.document.graph
    assert [n.type_id for n in graph] == ["Block:ResBlock"] and list(graph.blocks) == ["ResBlock"]
    assert graph.blocks["ResBlock"].to_dict() == doc.graph.blocks["ResBlock"].to_dict()

    # A different block under the same name: the pasted one is renamed, its instance follows.
    second.document.undo_stack.undo()
    other = second.document.graph
    other.define_block("ResBlock", {"inputs": ["x"], "outputs": ["y"], "nodes": [
        {"id": "x", "type": "Input", "name": "x", "params": {"shape": [4]}},
        {"id": "y", "type": "Output", "name": "y", "params": {}}],
        "edges": [{"from": ["x", "out"], "to": ["y", "in"]}]})
    second.paste()
    assert sorted(other.blocks) == ["ResBlock", "ResBlock_2"]
    assert [n.type_id for n in other] == ["Block:ResBlock_2"]

    library = tmp_path / "mine.llblocks.json"
    assert window.export_blocks(library)
    assert second.import_blocks(library) == []  # ResBlock_2 is the same block: nothing new
    fresh = window.new_window()
    qtbot.addWidget(fresh, before_close_func=_discard_changes)
    _windows.discard(fresh)
    assert fresh.import_blocks(library) == ["ResBlock"]
    assert fresh.palette_widget.item_for("Block:ResBlock") is not None
    fresh.document.undo_stack.undo()
    assert fresh.document.graph.blocks == {}


def test_palette_context_actions_edit_and_delete_a_block(window, qtbot, monkeypatch):
    doc = window.document
    instance = _grouped(window, qtbot, monkeypatch)
    assert window.open_block("ResBlock") and window.editing.block.name == "ResBlock"
    assert window.editing.opened_from == doc.graph.node(instance).name  # shown with its shapes
    window.scopes.up()
    assert window.delete_block("ResBlock") is False  # used by an instance: refused, with its name
    assert "ResBlock" in window.statusBar().currentMessage()
    doc.ungroup(instance)
    assert doc.graph.blocks == {}  # the last instance ungrouped takes the block with it
    doc.graph.define_block("Spare", {"inputs": ["x"], "outputs": ["y"], "nodes": [
        {"id": "x", "type": "Input", "name": "x", "params": {"shape": [4]}},
        {"id": "y", "type": "Output", "name": "y", "params": {}}],
        "edges": [{"from": ["x", "out"], "to": ["y", "in"]}]})
    assert window.delete_block("Spare") and "Spare" not in doc.graph.blocks   # unused: deleted, one step
    assert doc.undo_stack.undoText() == "Delete block Spare"
    doc.undo_stack.undo()
    assert "Spare" in doc.graph.blocks
