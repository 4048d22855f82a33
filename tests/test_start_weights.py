"""Starting a run from saved weights matched by node name (``training.weights``): an edited graph keeps
what still fits, the rest starts fresh, and the plan says which; bad files are errors naming the file."""

import copy
from pathlib import Path

import pytest
import torch

from layerloom import compile_graph, load_graph
from layerloom.training import SetupError, TrainingConfig, plan_training
from layerloom.training.start_weights import fit_weights, read_weights_file, save_weights_file

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def _graph():
    return load_graph(EXAMPLES / "digits_mlp.llgraph.json")


def _weights(graph):
    return {k: v.clone() for k, v in compile_graph(graph, seed=123).model.state_dict().items()}


def test_weights_file_round_trips_and_fits_by_name(tmp_path):
    graph = _graph()
    weights = _weights(graph)
    path = tmp_path / "m.weights.pt"
    save_weights_file(path, weights, source="test")
    loaded = read_weights_file(path)
    assert loaded.keys() == weights.keys()
    model = compile_graph(graph, seed=7).model
    report = fit_weights(model, loaded, "m")
    assert report.complete and not report.unused
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_a_new_head_keeps_the_other_layers(tmp_path):
    graph = _graph()
    weights = _weights(graph)
    head = [n for n in graph.nodes.values() if n.type_id == "Linear"][-1]
    edited = copy.deepcopy(graph)
    edited.set_param(head.id, "out_features", 5)
    model = compile_graph(edited, seed=7).model
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = fit_weights(model, weights, "m")
    assert [m[0] for m in report.mismatched] == [f"{head.id}.weight", f"{head.id}.bias"]
    for name, tensor in model.state_dict().items():
        expected = fresh[name] if name.startswith(head.id + ".") else weights[name]
        assert torch.equal(tensor, expected), name
    assert any(head.id in line and "[5" in line for line in report.lines())


def test_plan_loads_the_setting_relative_to_the_graph(tmp_path):
    graph = _graph()
    weights = _weights(graph)
    save_weights_file(tmp_path / "start.weights.pt", weights)
    config = TrainingConfig.from_graph(graph).replace(weights="start.weights.pt")
    plan = plan_training(graph, config, base_dir=tmp_path)
    assert plan.start_weights is not None and plan.start_weights.complete
    for name, tensor in plan.compiled.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    assert not [p for p in plan.warnings if p.code == "weights"]


def test_plan_refuses_a_missing_or_foreign_file(tmp_path):
    graph = _graph()
    config = TrainingConfig.from_graph(graph).replace(weights="nowhere.pt")
    with pytest.raises(SetupError, match="nowhere.pt: no such file"):
        plan_training(graph, config, base_dir=tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a zip at all")
    with pytest.raises(SetupError, match="junk.pt: not a weights file"):
        plan_training(graph, config.replace(weights="junk.pt"), base_dir=tmp_path)
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(SetupError, match="no tensor fits this graph"):
        plan_training(graph, config.replace(weights="other.pt"), base_dir=tmp_path)


def test_non_finite_tensors_start_fresh(tmp_path):
    graph = _graph()
    weights = _weights(graph)
    first = next(iter(weights))
    weights[first][...] = float("nan")
    model = compile_graph(graph, seed=7).model
    report = fit_weights(model, weights, "m")
    assert report.not_finite == [first] and not torch.isnan(model.state_dict()[first]).any()


def test_frozen_layers_are_checked_before_a_run(tmp_path):
    graph = _graph()
    linears = [n.id for n in graph.nodes.values() if n.type_id == "Linear"]
    graph.set_trainable(linears[0], False)
    plan = plan_training(graph, TrainingConfig.from_graph(graph))        # no weights to start from
    warned = [p for p in plan.warnings if p.code == "frozen"]
    assert [p.node_id for p in warned] == [linears[0]] and "random start" in warned[0].message
    save_weights_file(tmp_path / "w.pt", _weights(graph))
    plan = plan_training(graph, TrainingConfig.from_graph(graph).replace(weights="w.pt"), base_dir=tmp_path)
    assert not [p for p in plan.warnings if p.code == "frozen"]         # it loads its weights: fine
    for node_id in linears:
        graph.set_trainable(node_id, False)
    with pytest.raises(SetupError, match="every layer is frozen: nothing to train"):
        plan_training(graph, TrainingConfig.from_graph(graph))
