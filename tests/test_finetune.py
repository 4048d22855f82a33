"""Fine-tuning end to end: a trained graph's head replaced (3 classes -> 5), trained from the first run's
checkpoint through ``training.weights`` with the first layer and the batch norm frozen. Every other layer
starts from the checkpoint, the warning names the head, frozen tensors come out bit-identical, the optimizer
holds only trainable parameters and the run folder's config records where the weights came from."""

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import add, chain, mlp_graph
from train_helpers import config_of, table_dataset, weights

from layerloom.training import Finished, plan_training
from layerloom.training.finetune import checkpoint_setting, frozen_notes, preview_fit
from layerloom.training.records import best_checkpoint
from layerloom.training.session import train
from layerloom.training.start_weights import read_weights_file


def _graph(classes: int):
    """Input [8] -> fc1 -> bn -> ReLU -> fc2 (classes), with a loss."""
    g = mlp_graph(hidden=16, classes=classes, features=8)
    g.disconnect(g.outgoing("fc1")[0])
    chain(g, g.node("fc1"), add(g, "BatchNorm1d", "bn"), g.node("relu1"))
    return g


def _data(classes: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 8)).astype(np.float32)
    y = (np.abs(x[:, :classes]).argmax(axis=1)).astype(np.int64)
    return table_dataset(x[:128], y[:128], x[128:], y[128:])


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """One epoch of the 3-class graph, then one epoch of its 5-class edit from that run's checkpoint."""
    root = tmp_path_factory.mktemp("runs")
    first, _ = train(_graph(3), config_of(_graph(3), epochs=1, device="cpu", batch_size=32), dataset=_data(3),
                     run_root=root)
    assert isinstance(first, Finished), first
    checkpoint = best_checkpoint(first.run_dir)
    start = read_weights_file(checkpoint)
    edited = _graph(3)
    edited.set_param("fc2", "out_features", 5)
    edited.set_trainable("fc1", False)
    edited.set_trainable("bn", False)
    relative = str(checkpoint.relative_to(root))
    config = config_of(edited, epochs=1, device="cpu", batch_size=32, weights=relative)
    plan = plan_training(edited, config, dataset=_data(5), base_dir=root)
    result, session = train(edited, config, dataset=_data(5), run_root=root, base_dir=root)
    assert isinstance(result, Finished), result
    return SimpleNamespace(start=start, plan=plan, session=session, run_dir=Path(result.run_dir), relative=relative)


def test_every_layer_but_the_new_head_starts_from_the_checkpoint(tuned):
    started = tuned.plan.compiled.model.state_dict()
    assert [name for name, *_ in tuned.plan.start_weights.mismatched] == ["fc2.weight", "fc2.bias"]
    for name, tensor in started.items():
        if not name.startswith("fc2."):
            assert torch.equal(tensor, tuned.start[name]), name
    warning = next(p for p in tuned.plan.warnings if p.code == "weights")
    assert "7 of 9 tensors loaded" in warning.message
    assert "fc2.weight [3, 16] in the file, [5, 16] here" in warning.message


def test_frozen_layers_come_out_bit_identical_and_the_rest_trained(tuned):
    after = weights(tuned.session.trainer.criterion)
    for name in ("fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                 "bn.num_batches_tracked"):
        assert torch.equal(after[name], tuned.start[name]), name
    assert not torch.equal(after["fc2.weight"], tuned.plan.compiled.model.state_dict()["fc2.weight"])


def test_the_optimizer_holds_only_the_trainable_parameters(tuned):
    criterion = tuned.session.trainer.criterion
    held = {id(p) for group in tuned.session.trainer.optimizer.param_groups for p in group["params"]}
    trainable = {id(p) for name, p in criterion.named_parameters() if name.startswith("fc2.")}
    assert held == trainable


def test_the_run_folder_records_the_weights_source_and_the_frozen_nodes(tuned):
    config = json.loads((tuned.run_dir / "config.json").read_text())
    # made absolute like the dataset path, so a resume from anywhere finds the weights it started from
    assert config["training"]["weights"] == str((tuned.run_dir.parent / tuned.relative).resolve())
    saved = json.loads((tuned.run_dir / "graph.llgraph.json").read_text())
    frozen = sorted(n["id"] for n in saved["nodes"] if n.get("trainable") is False)
    assert frozen == ["bn", "fc1"]


def test_the_preview_fits_like_the_run_and_names_frozen_layers_left_at_their_start(tuned, tmp_path):
    edited = _graph(3)
    edited.set_param("fc2", "out_features", 5)
    edited.set_trainable("fc1", False)
    edited.set_trainable("fc2", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # it copies nothing into its meta model: torch has nothing to say
        report = preview_fit(edited, tuned.relative, tuned.run_dir.parent)
    assert report.lines() == tuned.plan.start_weights.lines()
    assert frozen_notes(edited, report) == ["frozen, keep what they load: fc1",
                                            "frozen but not loaded, so they keep their random start: fc2"]
    assert frozen_notes(edited, None) == ["frozen with no weights to start from, so they keep their random "
                                          "start: fc1, fc2"]
    assert frozen_notes(_graph(3), None) == []


def test_a_checkpoint_setting_is_relative_to_the_saved_graph(tmp_path):
    checkpoint = tmp_path / "runs" / "a" / "checkpoints" / "best.pt"
    assert checkpoint_setting(checkpoint, tmp_path / "g.llgraph.json") == "runs/a/checkpoints/best.pt"
    assert checkpoint_setting(checkpoint, tmp_path / "sub" / "g.llgraph.json") == "../runs/a/checkpoints/best.pt"
    assert checkpoint_setting(checkpoint, None) == str(checkpoint.resolve())
