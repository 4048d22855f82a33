"""Undo commands: every edit undoes and redoes exactly, down to the bytes of the saved file."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from layerloom.nodeeditor.document.commands import (AddNodeCommand, ConnectCommand, DisconnectCommand, MoveNodesCommand,
                                 RemoveNodeCommand, RenameCommand, SetMetaCommand, SetParamCommand)
from layerloom import Edge, ParamError, dumps_graph, load_graph
from layerloom.files.resources import example_path


@pytest.fixture
def stack(qapp):
    return QUndoStack()


def test_a_sequence_of_edits_undoes_to_the_same_bytes_and_redoes_to_the_edited_ones(stack):
    graph = load_graph(example_path("digits_residual"))
    del graph.node("fc").params["init"]     # as a hand-written file leaves a param at its default
    original = dumps_graph(graph)
    first_edge = graph.edges[0]
    stack.push(AddNodeCommand(graph, "Dropout", params={"p": 0.3}, position=(10.0, 20.0)))
    added = [n for n in graph][-1].id
    stack.push(SetParamCommand(graph, "fc", "out_features", 12))
    assert "init" not in graph.node("fc").params          # a param the file leaves at its default...
    stack.push(SetParamCommand(graph, "fc", "init", "xavier_uniform"))   # ...undone, it is left out again
    stack.push(RenameCommand(graph, "fc", "classifier"))
    stack.push(DisconnectCommand(graph, first_edge))
    stack.push(ConnectCommand(graph, first_edge.src, first_edge.src_port, added, "in"))
    stack.push(MoveNodesCommand(graph, {"stem": (graph.node("stem").position, (50.0, 60.0)),
                                        "fc": (graph.node("fc").position, (7.0, 8.0))}))
    stack.beginMacro("Delete 2 nodes")
    stack.push(RemoveNodeCommand(graph, "block_bn1"))
    stack.push(RemoveNodeCommand(graph, "stem_relu"))
    stack.endMacro()
    stack.push(SetMetaCommand(graph, "training", {"epochs": 3}))
    edited = dumps_graph(graph)
    assert edited != original
    while stack.canUndo():
        stack.undo()
    assert dumps_graph(graph) == original
    while stack.canRedo():
        stack.redo()
    assert dumps_graph(graph) == edited


def test_connecting_onto_an_occupied_input_replaces_the_wire_and_undo_restores_it(stack):
    graph = load_graph(example_path("digits_mlp"))
    before = dumps_graph(graph)
    old = graph.edges_into("fc2", "in")
    stack.push(ConnectCommand(graph, "image", "out", "fc2", "in"))  # fc2 now reads the 64 pixels
    assert graph.edges_into("fc2", "in") == [Edge("image", "out", "fc2", "in")] and old[0] not in graph.edges
    stack.undo()
    assert dumps_graph(graph) == before


def test_param_edits_of_one_field_merge_into_one_step(stack):
    graph = load_graph(example_path("digits_mlp"))
    for value in (100, 110, 120):
        stack.push(SetParamCommand(graph, "fc1", "out_features", value))
    assert stack.count() == 1 and graph.node("fc1").params["out_features"] == 120
    stack.undo()
    assert graph.node("fc1").params["out_features"] == 128


def test_an_invalid_param_is_refused_before_anything_changes(stack):
    graph = load_graph(example_path("digits_mlp"))
    with pytest.raises(ParamError):
        stack.push(SetParamCommand(graph, "fc1", "out_features", -3))
    assert graph.node("fc1").params["out_features"] == 128 and stack.count() == 0


def test_a_redone_add_keeps_its_id_and_name(stack):
    graph = load_graph(example_path("digits_mlp"))
    stack.push(AddNodeCommand(graph, "ReLU", position=(1.0, 2.0)))
    node = [n for n in graph][-1]
    stack.undo()
    stack.redo()
    again = [n for n in graph][-1]
    assert (again.id, again.name, again.position) == (node.id, node.name, (1.0, 2.0))


# ---------------------------------------------------------------------- plans (layerloom.edits) as undo steps
INSIDE = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]


def _actions():
    """User actions as planners over (model, scope), each one undo step, in an order that builds on the last."""
    from layerloom.edits.blocks import plan_add_node, plan_group_nodes, plan_rename, plan_ungroup_instance
    from layerloom.edits.params import plan_make_block_param, plan_set_param
    from layerloom.edits.paste import plan_paste, read_selection, selection_text

    def instance(root):
        return next(n.id for n in root if n.type_id == "Block:ResBlock")

    def paste(root):
        return plan_paste(root, None, read_selection(selection_text(root, ["stem", instance(root)]), root.catalog))

    return [
        ("group", lambda root: plan_group_nodes(root, None, INSIDE, "ResBlock")),
        ("rename a port", lambda root: plan_rename(root, "ResBlock", "block_in", "features")),
        ("make a block param", lambda root: plan_make_block_param(root, "ResBlock", "block_conv1", "bias")),
        ("set a param", lambda root: plan_set_param(root, None, "stem", "bias", True)),
        ("paste", paste),
        ("add inside", lambda root: plan_add_node(root, "ResBlock", "Dropout", (5.0, 6.0))),
        ("rename", lambda root: plan_rename(root, None, "stem", "trunk")),
        ("ungroup the pasted one", lambda root: plan_ungroup_instance(root, None, root.find("res_block1").id)),
    ]


def test_plans_carried_out_as_undo_commands_equal_the_headless_edits_and_undo_to_the_same_bytes(qapp):
    """The editor's commands and ``apply_plan`` make the same graph, one undo step per action."""
    from layerloom.edits import apply_plan
    from layerloom.nodeeditor.document.document import Document

    document = Document(load_graph(example_path("digits_residual")))
    headless = load_graph(example_path("digits_residual"))
    original = dumps_graph(document.graph)
    steps = []
    for what, planner in _actions():
        plan = planner(document.graph)
        assert plan.edits and not plan.refusals, (what, plan.refusals)
        assert document.carry_out(plan), what
        apply_plan(planner(headless), headless)
        assert dumps_graph(document.graph) == dumps_graph(headless), what
        steps.append(dumps_graph(document.graph))
    stack = document.undo_stack
    assert stack.count() == len(steps)
    for expected in reversed([original] + steps[:-1]):
        stack.undo()
        assert dumps_graph(document.graph) == expected
    while stack.canRedo():
        stack.redo()
    assert dumps_graph(document.graph) == steps[-1]
    document.close()


def test_a_lone_param_plan_merges_like_typing_and_an_empty_or_refused_plan_leaves_no_step(qapp):
    from layerloom.edits import Plan
    from layerloom.edits.params import plan_set_param
    from layerloom.edits.paste import plan_paste, read_selection
    from layerloom.nodeeditor.document.document import Document

    document = Document(load_graph(example_path("digits_mlp")))
    for value in (100, 110):
        assert document.carry_out(plan_set_param(document.graph, None, "fc1", "out_features", value))
    assert document.undo_stack.count() == 1 and document.undo_stack.undoText() == "Set fc1.out_features"
    said = []
    document.statusMessage.connect(said.append)
    assert not document.carry_out(plan_set_param(document.graph, None, "fc1", "out_features", -1))
    assert not document.carry_out(Plan("Nothing"))
    text = dumps_graph(document.graph).replace('"type": "ReLU"', '"type": "Sparkle"')
    refused = plan_paste(document.graph, None, read_selection(text, document.graph.catalog))
    assert any("Sparkle" in r.message for r in refused.refusals)
    assert document.carry_out(refused) and document.undo_stack.count() == 2   # the rest came in, as one step
    assert said == [] and document.graph.node("fc1").params["out_features"] == 110
    document.close()
