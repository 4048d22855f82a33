"""Frozen nodes (fine-tuning): the graph file's ``"trainable": false``, the graph's setter and its event,
the compiler's frozen parameters and batch norms, the optimizer's trainable-only parameters, the counts."""

import json

import pytest
import torch
from helpers import add, chain, mlp_graph, residual_def

from layerloom import Graph

from layerloom import analyze, compile_graph
from layerloom.core.errors import GraphError, GraphFileError
from layerloom.files.graphfile import dumps_graph, loads_graph, same_network
from layerloom.model.trainable import frozen_params, has_weights, params_summary, switch_text, to_switch
from layerloom.training.optim import NothingToTrain, build_optimizer

ADAM = {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
        "momentum": 0.0, "nesterov": False}


def _bn_graph():
    """Input [8] -> fc1 -> bn -> ReLU -> fc2 (3 classes), with a loss."""
    g = mlp_graph(hidden=16, classes=3, features=8)
    g.disconnect(g.outgoing("fc1")[0])
    bn = add(g, "BatchNorm1d", "bn")
    chain(g, g.node("fc1"), bn, g.node("relu1"))
    return g


def test_the_file_holds_false_beside_params_and_old_files_are_unchanged():
    graph = mlp_graph()
    text = dumps_graph(graph)
    assert "trainable" not in text
    graph.set_trainable("fc1", False)
    data = json.loads(dumps_graph(graph))
    fc1 = next(n for n in data["nodes"] if n["id"] == "fc1")
    assert fc1["trainable"] is False and list(fc1)[:4] == ["id", "type", "name", "params"]
    again = loads_graph(dumps_graph(graph))
    assert not again.node("fc1").trainable and again.node("fc2").trainable
    again.set_trainable("fc1", True)
    assert dumps_graph(again) == text  # unfreezing takes the key away


def test_a_non_bool_trainable_is_an_error_naming_the_node():
    data = json.loads(dumps_graph(mlp_graph()))
    data["nodes"][1]["trainable"] = "no"
    with pytest.raises(GraphFileError, match=r"node 'fc1': must be true or false.*nodes\[1\]\.trainable|"
                                             r"nodes\[1\]\.trainable.*node 'fc1': must be true or false"):
        loads_graph(json.dumps(data))


def test_the_setter_announces_once_checks_its_value_and_copies_keep_it():
    graph = mlp_graph()
    seen = []
    graph.events.trainable_changed.subscribe(lambda node, old, new: seen.append((node.id, old, new)))
    graph.set_trainable("fc1", False)
    graph.set_trainable("fc1", False)
    assert seen == [("fc1", True, False)]
    with pytest.raises(GraphError, match="true or false"):
        graph.set_trainable("fc1", 0)
    assert not graph.copy().node("fc1").trainable
    assert same_network(graph, mlp_graph())  # the same weights fit: freezing is not a new network


def test_frozen_parameters_get_no_gradient_and_the_optimizer_only_trainable_ones():
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.set_trainable("fc1", False)
    compiled = compile_graph(graph, seed=1)
    grads = {name: p.requires_grad for name, p in compiled.model.named_parameters()}
    assert grads == {"fc1.weight": False, "fc1.bias": False, "fc2.weight": True, "fc2.bias": True}
    optimizer = build_optimizer(ADAM, compiled.criterion.parameters(), torch.device("cpu"))
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in compiled.model.fc2.parameters()}
    graph.set_trainable("fc2", False)
    with pytest.raises(NothingToTrain, match="every layer is frozen"):
        build_optimizer(ADAM, compile_graph(graph).criterion.parameters(), torch.device("cpu"))


def test_a_frozen_batch_norm_keeps_its_statistics_while_the_rest_trains():
    graph = _bn_graph()
    graph.set_trainable("bn", False)
    compiled = compile_graph(graph, seed=2)
    before = {k: v.clone() for k, v in compiled.model.bn.state_dict().items()}
    criterion = compiled.criterion.train()
    criterion(torch.randn(16, 8) * 3 + 1, torch.randint(0, 3, (16,)))["loss"].backward()
    assert not compiled.model.bn.training and compiled.model.fc1.training
    for name, tensor in compiled.model.bn.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert compiled.model.fc2.weight.grad is not None and compiled.model.bn.weight.grad is None


def test_counts_say_how_much_is_frozen_and_which_nodes_have_a_switch():
    graph = mlp_graph(hidden=8, classes=3, features=4)
    assert params_summary(analyze(graph)) == "67"
    graph.set_trainable("fc1", False)
    analysis = analyze(graph)
    assert frozen_params(analysis) == 40 and params_summary(analysis) == "67 (40 frozen)"
    assert has_weights(analysis, "fc1") and has_weights(analysis, "fc2")
    assert not has_weights(analysis, "relu1") and not has_weights(analysis, "image")


def test_a_selection_switches_only_the_nodes_with_weights_that_differ():
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.set_trainable("fc2", False)
    analysis = analyze(graph)
    selection = ["image", "fc1", "relu1", "fc2"]
    assert to_switch(analysis, selection, False) == ["fc1"]
    assert to_switch(analysis, selection, True) == ["fc2"]
    assert switch_text(graph, ["fc1"], False) == "Freeze fc1"
    assert switch_text(graph, ["fc1", "fc2"], True) == "Unfreeze 2 nodes"


def test_a_frozen_node_inside_a_block_is_frozen_in_every_instance_and_counted():
    g = Graph(name="rescnn")
    definition = residual_def()
    definition["nodes"][1]["trainable"] = False    # conv1 frozen in the block's own records
    g.define_block("Residual", definition)
    x = add(g, "Input", "image", shape=[3, 8, 8])
    stem = add(g, "Conv2d", "stem", out_channels=4, kernel_size=3, padding=1)
    res1 = g.add_node("Block:Residual", "res1", {"channels": 4}, node_id="res1")
    res2 = g.add_node("Block:Residual", "res2", {"channels": 4}, node_id="res2")
    chain(g, x, stem, res1, res2, add(g, "Output", "features"))
    g.set_trainable("res2", False)                  # a whole instance frozen
    frozen = {name for name, p in compile_graph(g).model.named_parameters() if not p.requires_grad}
    assert frozen == {"res1.conv1.weight", "res1.conv1.bias", "res2.conv1.weight", "res2.conv1.bias",
                      "res2.conv2.weight", "res2.conv2.bias"}
    conv = 4 * 4 * 9 + 4
    assert frozen_params(analyze(g)) == conv + 2 * conv
    assert not loads_graph(dumps_graph(g)).blocks["Residual"].graph.node("conv1").trainable
