"""Wiring rules (layerloom.edits.wiring), headless: which ports a dragged wire can reach and why not,
which node types a wire released on empty canvas can reach, and which port of the chosen node it is
wired to."""

from __future__ import annotations

import pytest

from layerloom import Edge, Graph, load_graph
from layerloom.catalog.spec import Catalog, NodeSpec, Port, default_catalog
from layerloom.core.params import IntParam
from layerloom.edits import Connect, apply_plan
from layerloom.core.errors import ConnectionRefused
from layerloom.edits.wiring import (Verdict, dropped_port, joinable_ports, matching_port, plan_wire_drop, port_verdicts,
                                   same_side_reason, types_for_wire, verdict_text)
from layerloom.files.resources import example_path


def edges(plan) -> list[Edge]:
    assert all(isinstance(edit, Connect) for edit in plan.edits) and not plan.refusals
    return [edit.edge for edit in plan.edits]


@pytest.fixture
def graph():
    return load_graph(example_path("digits_mlp"))   # image -> fc1 ... fc3 -> logits; fc3 + label -> loss


def test_a_tensor_output_reaches_the_types_with_a_tensor_input_and_nothing_else(graph):
    offered = types_for_wire(graph, graph.catalog, "fc3", "out", "out")
    assert {"ReLU", "Linear", "Output", "Concat", "CrossEntropyLoss"} <= set(offered)
    assert "Input" not in offered and "Target" not in offered   # no inputs at all
    assert offered == [s.type_id for s in graph.catalog if s.type_id in offered]   # the catalog's order


def test_a_target_output_reaches_only_the_losses_and_joins_their_target_port(graph):
    offered = types_for_wire(graph, graph.catalog, "label", "out", "out")
    assert offered and "CrossEntropyLoss" in offered and "MSELoss" in offered
    assert not {"ReLU", "Linear", "Output"} & set(offered)
    loss = graph.add_node("CrossEntropyLoss").id
    # the first port that fits: "pred" takes tensors only, "target" takes targets
    assert edges(plan_wire_drop(graph, loss, "label", "out", "out")) == [Edge("label", "out", loss, "target")]


def test_a_wire_from_an_input_reaches_the_types_whose_output_it_accepts(graph):
    offered = types_for_wire(graph, graph.catalog, "fc2", "in", "in")
    assert {"Input", "Linear", "ReLU"} <= set(offered)
    assert not {"Output", "Target", "CrossEntropyLoss"} & set(offered)  # no output / a target / a loss
    into_target = types_for_wire(graph, graph.catalog, "loss", "target", "in")
    assert {"Target", "Input", "Linear"} <= set(into_target)             # accepts targets and tensors


def test_the_plan_wires_the_new_node_in_the_direction_of_the_drop(graph):
    relu = graph.add_node("ReLU").id
    assert edges(plan_wire_drop(graph, relu, "fc3", "out", "out")) == [Edge("fc3", "out", relu, "in")]
    image = graph.add_node("Input").id
    assert edges(plan_wire_drop(graph, image, "fc1", "in", "in")) == [Edge(image, "out", "fc1", "in")]


def test_no_fitting_port_plans_nothing(graph):
    output = graph.add_node("Output").id
    assert edges(plan_wire_drop(graph, output, "fc1", "in", "in")) == []            # an Output has no output
    target = graph.add_node("Target").id
    assert edges(plan_wire_drop(graph, target, "fc3", "out", "out")) == []          # a Target has no input
    assert types_for_wire(graph, graph.catalog, "loss", "loss", "out") == []  # nothing takes a loss


def test_the_offer_reads_default_params_and_the_plan_the_nodes_own():
    def ports(params):
        return tuple(Port(f"in{i}", kind="a" if i <= params["n"] else "b") for i in range(1, params["n"] + 2))

    catalog = Catalog()
    catalog.register(NodeSpec("Grows", "Test", "its last input takes kind b", inputs=ports,
                              params=(IntParam("n", 1, doc="inputs of kind a"),)))
    catalog.register(NodeSpec("MakesB", "Test", "", inputs=(), outputs=(Port("out", kind="b"),)))
    graph = Graph(catalog)
    source = graph.add_node("MakesB").id
    assert types_for_wire(graph, catalog, source, "out", "out") == ["Grows"]   # in2 takes kind b
    grows = graph.add_node("Grows", params={"n": 3}).id
    assert edges(plan_wire_drop(graph, grows, source, "out", "out")) == [Edge(source, "out", grows, "in4")]


def test_the_helpers_each_rule_is_made_of(graph):
    linear = default_catalog()["Linear"]
    assert [p.name for p in joinable_ports(linear, "out")] == ["in"]
    assert [p.name for p in joinable_ports(linear, "in")] == ["out"]
    tensor_out = dropped_port(graph, "fc3", "out", "out")
    assert matching_port(graph.input_ports("loss"), tensor_out, "out") == "pred"
    assert matching_port((), tensor_out, "out") is None
    with pytest.raises(KeyError, match="no input port 'nope'"):
        dropped_port(graph, "fc1", "nope", "in")


def test_the_plan_names_the_level_and_carries_out_on_the_model(graph):
    from layerloom.model.blocks import group_nodes

    relu = graph.add_node("ReLU").id
    plan = plan_wire_drop(graph, relu, "fc3", "out", "out")
    apply_plan(plan, graph)
    assert Edge("fc3", "out", relu, "in") in graph.edges
    block, _ = group_nodes(graph, ["fc2", "relu2"], "Pair")
    inside = block.graph
    inner_relu = next(n.id for n in inside if n.type_id == "ReLU")
    dropout = inside.add_node("Dropout").id
    plan = plan_wire_drop(inside, dropout, inner_relu, "out", "out")
    assert [edit.scope for edit in plan.edits] == ["Pair"]   # a block's inside, named by its block
    apply_plan(plan, graph)
    assert Edge(inner_relu, "out", dropout, "in") in inside.edges


# ---------------------------------------------------------------------- verdicts while a wire is dragged
def test_a_wire_from_an_output_is_judged_at_every_input_of_the_graph(graph):
    verdicts = port_verdicts(graph, "fc2", "out", "out")
    inputs = {(n.id, p.name) for n in graph for p in graph.input_ports(n.id)}
    assert set(verdicts) == inputs                                   # every input, no output
    assert "feed itself" in verdicts[("fc2", "in")].reason          # a self-loop
    assert "cycle" in verdicts[("fc1", "in")].reason                 # fc1 feeds fc2
    assert "cycle" in verdicts[("relu1", "in")].reason
    assert "already connected" in verdicts[("relu2", "in")].reason   # that very wire exists
    fc3 = verdicts[("fc3", "in")]
    assert fc3.accepts and fc3.replaces == Edge("relu2", "out", "fc3", "in")
    assert verdict_text(graph, "fc3", "in", fc3) == "fc3.in: already wired from relu2 (dropping replaces it)"
    assert verdicts[("loss", "target")].accepts                      # a loss's target takes tensors too


def test_a_refused_port_is_refused_by_connect_in_the_same_words_and_an_accepted_one_connects(graph):
    for (node, port), verdict in port_verdicts(graph, "fc2", "out", "out").items():
        trial = graph.copy()
        if verdict.accepts:
            edge = trial.connect("fc2", "out", node, port, replace=True)
            assert trial.edges_into(node, port) == [edge]
        else:
            with pytest.raises(ConnectionRefused) as refused:
                trial.connect("fc2", "out", node, port, replace=True)
            assert str(refused.value) == verdict.reason


def test_kinds_decide_for_targets_and_losses(graph):
    from_label = port_verdicts(graph, "label", "out", "out")
    assert not any(v.accepts for v in from_label.values())               # its one wire is there already
    assert "already connected" in from_label[("loss", "target")].reason
    other = graph.add_node("MSELoss").id
    from_label = port_verdicts(graph, "label", "out", "out")
    assert [key for key, v in from_label.items() if v.accepts] == [(other, "target")]
    assert from_label[("fc1", "in")].reason == "labels from a Target can only feed the target input of a loss"
    assert verdict_text(graph, "fc1", "in", from_label[("fc1", "in")]).startswith("fc1.in: labels from a Target")
    from_loss = port_verdicts(graph, "loss", "loss", "out")
    assert not any(v.accepts for v in from_loss.values())
    assert from_loss[("logits", "in")].reason == "a loss value cannot feed another node"


def test_a_wire_from_an_input_is_judged_at_every_output_and_replaces_the_inputs_wire(graph):
    verdicts = port_verdicts(graph, "fc2", "in", "in")
    outputs = {(n.id, p.name) for n in graph for p in graph.output_ports(n.id)}
    assert set(verdicts) == outputs
    image = verdicts[("image", "out")]
    assert image.accepts and image.replaces == Edge("relu1", "out", "fc2", "in")
    assert verdict_text(graph, "image", "out", image) == \
        "image.out: drop to connect (replaces the wire from relu1 into fc2.in)"
    assert "already connected" in verdicts[("relu1", "out")].reason
    assert "cycle" in verdicts[("fc3", "out")].reason                 # fc2 feeds fc3
    assert "Target" in verdicts[("label", "out")].reason
    free = graph.add_node("ReLU").id
    assert port_verdicts(graph, free, "in", "in")[("image", "out")] == Verdict()   # nothing to replace
    assert verdict_text(graph, "image", "out", Verdict()) == "image.out: drop to connect"


def test_the_same_side_and_unknown_ports(graph):
    assert "another output" in same_side_reason("out") and "another input" in same_side_reason("in")
    with pytest.raises(KeyError):
        port_verdicts(graph, "fc1", "nope", "out")


def test_verdicts_inside_a_block_judge_the_blocks_graph(graph):
    from layerloom.model.blocks import group_nodes

    block, _ = group_nodes(graph, ["fc2", "relu2"], "Pair")
    inside = block.graph
    kinds = {n.type_id: n.id for n in inside}   # Input -> Linear -> ReLU -> Output
    verdicts = port_verdicts(inside, kinds["Linear"], "out", "out")
    assert {node for node, _ in verdicts} == {kinds["Linear"], kinds["ReLU"], kinds["Output"]}
    assert verdicts[(kinds["Output"], "in")].replaces == Edge(kinds["ReLU"], "out", kinds["Output"], "in")
    assert "already connected" in verdicts[(kinds["ReLU"], "in")].reason
