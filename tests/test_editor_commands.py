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
    original = dumps_graph(graph)
    first_edge = graph.edges[0]
    stack.push(AddNodeCommand(graph, "Dropout", params={"p": 0.3}, position=(10.0, 20.0)))
    added = [n for n in graph][-1].id
    stack.push(SetParamCommand(graph, "fc", "out_features", 12))
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
