"""Adding a loss to a graph that has none (``layerloom.edits.loss``): the loss the task needs, wired to the
prediction, with a Target that fits it; the graph then trains. Refused, with the reason, where it cannot."""

from __future__ import annotations

import pytest
from helpers import add, chain, mlp_graph

from layerloom import Graph, analyze
from layerloom.edits import apply_plan
from layerloom.edits.loss import plan_add_loss
from layerloom.training import Finished, TrainingConfig, train


def _added(graph, task=None):
    plan = plan_add_loss(graph, analyze(graph), task)
    assert not plan.refusals, plan.refusals
    apply_plan(plan, graph)
    return {graph.node(i).type_id: graph.node(i) for i in plan.added_ids}


def test_a_classifier_gets_cross_entropy_and_class_index_labels_and_then_trains():
    graph = mlp_graph(hidden=8, classes=3, features=4, with_loss=False)
    assert not [n for n in graph if n.type_id.endswith("Loss")]
    added = _added(graph)
    loss, target = added["CrossEntropyLoss"], added["Target"]
    assert (target.params["shape"], target.params["dtype"]) == ([], "int64")
    feeds = {(e.dst_port, e.src) for e in graph.edges if e.dst == loss.id}
    output = next(n for n in graph if n.type_id == "Output")
    into_output = next(e.src for e in graph.edges if e.dst == output.id)
    assert feeds == {("pred", into_output), ("target", target.id)}
    assert loss.position[1] > output.position[1] and target.position[0] < loss.position[0]   # under, to the left
    assert not analyze(graph).errors
    config = TrainingConfig.from_dict({"dataset": {"name": "iris"}, "epochs": 1, "device": "cpu"})
    result, _ = train(graph, config)
    assert isinstance(result, Finished), result


@pytest.mark.parametrize("task, loss, shape, dtype", [
    ("regression", "MSELoss", [3], "float32"),
    ("binary", "BCEWithLogitsLoss", [3], "float32"),
    ("classification", "CrossEntropyLoss", [], "int64"),
])
def test_the_task_picks_the_loss_and_the_target(task, loss, shape, dtype):
    graph = mlp_graph(hidden=8, classes=3, features=4, with_loss=False)
    added = _added(graph, task)
    assert set(added) == {loss, "Target"}
    assert (added["Target"].params["shape"], added["Target"].params["dtype"]) == (shape, dtype)
    assert not analyze(graph).errors


def test_a_single_value_prediction_is_taken_for_regression():
    graph = mlp_graph(hidden=8, classes=1, features=4, with_loss=False)
    assert set(_added(graph)) == {"MSELoss", "Target"}


def test_a_target_left_without_its_loss_is_used_again():
    graph = mlp_graph(hidden=8, classes=3, features=4)
    loss = next(n for n in graph if n.type_id == "CrossEntropyLoss")
    graph.remove_node(loss.id)    # the user deleted the loss; its Target stays, unwired
    targets = [n.id for n in graph if n.type_id == "Target"]
    added = _added(graph)
    assert set(added) == {"CrossEntropyLoss"} and [n.id for n in graph if n.type_id == "Target"] == targets
    assert not analyze(graph).errors


def _ending_in(type_id: str, spatial: bool = False):
    """Input [4] (or [3, 4, 4]) -> ... -> scores [N, 3] (or [N, 3, 1, 1]) -> ``type_id`` -> Output."""
    graph = Graph(name="imported")
    if spatial:
        nodes = [add(graph, "Input", "x", shape=[3, 4, 4]), add(graph, "Conv2d", "conv", out_channels=3, kernel_size=1),
                 add(graph, "AdaptiveAvgPool2d", "pool", output_size=[1, 1])]
    else:
        nodes = [add(graph, "Input", "x", shape=[4]), add(graph, "Linear", "fc", out_features=3)]
    nodes += [add(graph, type_id, "last", dim=1)] if type_id else []
    chain(graph, *nodes, add(graph, "Output", "probs"))
    return graph, nodes[-2] if type_id else nodes[-1]


@pytest.mark.parametrize("last, loss", [("Softmax", "CrossEntropyLoss"), ("LogSoftmax", "NLLLoss")])
def test_a_classifier_that_ends_in_softmax_trains_on_its_scores(last, loss):
    """Exported classifiers end in Softmax: the loss takes the scores before it (CrossEntropyLoss applies
    softmax itself); after LogSoftmax, NLLLoss takes its output."""
    graph, scores = _ending_in(last)
    added = _added(graph)
    assert set(added) == {loss, "Target"}
    into = next(e.src for e in graph.edges if e.dst == added[loss].id and e.dst_port == "pred")
    assert into == (scores.id if last == "Softmax" else graph.node("last").id)
    assert not analyze(graph).errors


def test_pooled_class_scores_are_flattened_first():
    graph, pooled = _ending_in("Softmax", spatial=True)
    added = _added(graph)
    assert set(added) == {"Flatten", "CrossEntropyLoss", "Target"}
    flatten = added["Flatten"]
    assert next(e.src for e in graph.edges if e.dst == flatten.id) == pooled.id
    assert next(e.src for e in graph.edges if e.dst == added["CrossEntropyLoss"].id and e.dst_port == "pred") == \
        flatten.id
    assert not analyze(graph).errors


def test_refusals_say_why():
    graph = mlp_graph(hidden=8, classes=3, features=4)   # with its loss
    plan = plan_add_loss(graph, analyze(graph))
    assert plan.refused and "has a loss already" in plan.refusals[0].message
    bare = mlp_graph(hidden=8, classes=3, features=4, with_loss=False)
    output = next(n for n in bare if n.type_id == "Output")
    for edge in [e for e in bare.edges if e.dst == output.id]:
        bare.disconnect(edge)
    plan = plan_add_loss(bare, analyze(bare))
    assert plan.refused and f"nothing is wired into {output.label()}" in plan.refusals[0].message
    bare.remove_node(output.id)
    plan = plan_add_loss(bare, analyze(bare))
    assert plan.refused and "no Output" in plan.refusals[0].message
