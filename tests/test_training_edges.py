"""Edge cases found in review, each pinned by the test that would have caught it: no validation
split, a loss against the input, BatchNorm with a last batch of one, summed losses, one-cycle rates
per step, NaN scores, resuming from the wrong place, and malformed data files."""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import add, chain, mlp_graph
from train_helpers import config_of, example, nan_loss, of_type, read_csv, sabotage

from layerloom import Graph, save_graph
from layerloom.data import REGRESSION, Dataset, DatasetError, load_dataset
from layerloom.training import (Failed, Finished, TrainingConfig, TrainingSession, load_checkpoint, train)

DIGITS_TRAIN = 1437


def test_no_validation_split_trains_and_monitors_the_training_loss():
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=2, dataset={"val_split": 0.0}))
    assert isinstance(result, Finished), result
    assert result.best["metric"] == "train_loss" and "val_loss" not in session.trainer.history[-1]


def test_a_loss_against_the_input_trains_without_labels():
    """An autoencoder: the loss compares the reconstruction with the Input itself (no Target)."""
    g = Graph(name="autoencoder")
    x = add(g, "Input", "image", shape=[64])
    chain(g, x, add(g, "Linear", "enc", out_features=8), add(g, "ReLU", "act"), add(g, "Linear", "dec", out_features=64),
          add(g, "Output", "reconstruction"))
    add(g, "MSELoss", "loss")
    g.connect("dec", "out", "loss", "pred")
    g.connect("image", "out", "loss", "target")
    result, session = train(g, TrainingConfig().replace(epochs=3, optimizer={"lr": 0.01}))
    assert isinstance(result, Finished), result
    history = session.trainer.history
    assert history[-1]["train_loss"] < history[0]["train_loss"] and "val_loss" in history[-1]


def test_batchnorm_skips_a_last_batch_of_one_sample():
    """1,437 digits in batches of 4 leave one sample over: BatchNorm cannot train on it, so that
    batch is left out (and counted out of steps_per_epoch)."""
    g = Graph(name="bn")
    chain(g, add(g, "Input", "image", shape=[64]), add(g, "Linear", "fc1", out_features=16),
          add(g, "BatchNorm1d", "bn"), add(g, "ReLU", "act"), add(g, "Linear", "fc2", out_features=10),
          add(g, "Output", "logits"))
    add(g, "Target", "label")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc2", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    assert DIGITS_TRAIN % 4 == 1
    result, session = train(g, TrainingConfig().replace(epochs=1, batch_size=4))
    assert isinstance(result, Finished), result
    assert session.trainer.steps_per_epoch == DIGITS_TRAIN // 4 and session.trainer.step == DIGITS_TRAIN // 4
    plain = example("digits_mlp")  # no BatchNorm: every sample trains
    _, session = train(plain, config_of(plain, epochs=1, batch_size=4))
    assert session.trainer.steps_per_epoch == DIGITS_TRAIN // 4 + 1


def test_a_summed_loss_reports_the_loss_per_sample():
    """reduction "sum" and "mean" report the same train and validation loss for the same weights (a
    learning rate too small to move them), whatever the batch and validation chunk sizes."""
    results = {}
    for reduction in ("mean", "sum"):
        graph = mlp_graph()
        graph.set_param("loss", "reduction", reduction)
        _, session = train(graph, TrainingConfig().replace(epochs=1, optimizer={"name": "sgd", "lr": 1e-12}))
        results[reduction] = session.trainer.history[0]
    assert results["sum"]["val_loss"] == pytest.approx(results["mean"]["val_loss"], rel=1e-5)
    assert results["sum"]["train_loss"] == pytest.approx(results["mean"]["train_loss"], rel=1e-5)


def test_one_cycle_records_each_steps_own_rate(tmp_path):
    """steps.csv holds the rate each step trained with, even when many steps share one flush."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=2, schedule={"name": "onecycle", "max_lr": 0.05})
    session = TrainingSession(graph, config, run_root=tmp_path, step_interval=1e9)
    assert isinstance(session.run(), Finished)
    recorded = [float(r["lr"]) for r in read_csv(Path(session.trainer.folder.path) / "steps.csv")]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, epochs=2,
                                                    steps_per_epoch=session.trainer.steps_per_epoch)
    expected = []
    for _ in range(len(recorded)):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if len(expected) < len(recorded):
            reference.step()
    assert recorded == pytest.approx(expected, rel=1e-9)


def test_an_undefined_score_is_not_a_divergence():
    """R2 of a single validation sample is NaN: the run goes on (monitoring it just never improves)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(41, 8)).astype(np.float32)
    y = x.sum(1, keepdims=True).astype(np.float32)
    data = Dataset("one-val", "test", REGRESSION, x[:40], y[:40], x[40:], y[40:], feature_shape=(8,))
    result, session = train(example("regression_mlp"), TrainingConfig().replace(epochs=2, monitor="val_r2"),
                            dataset=data)
    assert isinstance(result, Finished), result
    assert math.isnan(session.trainer.history[-1]["val_r2"])


def test_divergence_leaves_the_last_good_weights_in_the_model(monkeypatch, tmp_path):
    sabotage(monkeypatch, 30, nan_loss)  # epoch 2 of the digits MLP (23 steps an epoch)
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=3), run_root=tmp_path)
    assert isinstance(result, Failed) and result.kind == "diverged"
    good = load_checkpoint(Path(result.run_dir) / "checkpoints" / "last.pt")["weights"]
    model = session.trainer.criterion.state_dict()
    assert all(torch.equal(model[k], good[k]) for k in good)


def test_run_refuses_a_second_run_on_the_same_session():
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=1))
    session.run()
    with pytest.raises(RuntimeError, match="already ran"):
        session.run()
    started = TrainingSession(graph, config_of(graph, epochs=1)).start()
    with pytest.raises(RuntimeError, match="already ran"):
        started.run()
    assert started.join(60)


def test_a_relative_dataset_path_is_recorded_absolute_so_resume_works_anywhere(tmp_path, monkeypatch):
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    iris = load_dataset({"name": "iris"})
    rows = ["a,b,c,d,label"] + [",".join(f"{v:.3f}" for v in x) + f",{iris.classes[y]}"
                                for x, y in zip(iris.x_train, iris.y_train)]
    (data / "iris.csv").write_text("\n".join(rows) + "\n")
    graph = mlp_graph(features=4, classes=3)
    graph.training = {"dataset": {"path": "data/iris.csv"}, "epochs": 1}
    path = save_graph(graph, tmp_path / "project" / "iris.llgraph.json")
    from layerloom.cli.main import main

    monkeypatch.chdir(tmp_path / "project")
    assert main(["train", str(path.name), "--out", str(tmp_path / "runs"), "-q"]) == 0
    run = next((tmp_path / "runs").iterdir())
    recorded = json.loads((run / "config.json").read_text())["training"]["dataset"]["path"]
    assert recorded == str(data / "iris.csv")
    monkeypatch.chdir(tmp_path)  # elsewhere: the recorded path still finds the data
    assert main(["train", "--resume", str(run), "--epochs", "2", "-q"]) == 0
    assert [int(r["epoch"]) for r in read_csv(run / "metrics.csv")] == [1, 2]


def test_resuming_from_an_older_best_checkpoint_is_refused(tmp_path):
    graph = example("digits_mlp")
    config = config_of(graph, epochs=4, optimizer={"name": "sgd", "lr": 1e-9}, monitor="val_loss")
    result, _ = train(graph, config, run_root=tmp_path)
    run = Path(result.run_dir)
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["epoch"] < 4  # a learning rate this small barely moves: the best comes early
    retry, _ = train(None, config.replace(epochs=6), resume=run / "checkpoints" / "best.pt")
    assert isinstance(retry, Failed) and retry.kind == "setup"
    assert f"best.pt is from epoch {best['epoch']}, but this run went on to epoch 4" in retry.message
    assert [int(r["epoch"]) for r in read_csv(run / "metrics.csv")] == [1, 2, 3, 4]  # nothing was discarded


def test_a_checkpoint_outside_a_run_folder_continues_in_a_new_run(tmp_path):
    graph = example("digits_mlp")
    first, _ = train(graph, config_of(graph, epochs=1), run_root=tmp_path / "runs")
    loose = tmp_path / "downloads"
    loose.mkdir()
    (loose / "model.pt").write_bytes((Path(first.run_dir) / "checkpoints" / "last.pt").read_bytes())
    result, _ = train(None, config_of(graph, epochs=2), resume=loose / "model.pt", run_root=tmp_path / "runs")
    assert isinstance(result, Finished) and Path(result.run_dir).parent == tmp_path / "runs"
    assert Path(result.run_dir) != Path(first.run_dir) and sorted(os.listdir(loose)) == ["model.pt"]
    assert (Path(result.run_dir) / "graph.llgraph.json").exists()


def test_a_checkpoint_of_another_graph_in_a_run_folder_is_refused(tmp_path):
    digits = example("digits_mlp")
    run_a, _ = train(digits, config_of(digits, epochs=1), run_root=tmp_path)
    regression = example("regression_mlp")
    run_b, _ = train(regression, config_of(regression, epochs=1), run_root=tmp_path / "b")
    target = Path(run_a.run_dir) / "checkpoints" / "other.pt"
    target.write_bytes((Path(run_b.run_dir) / "checkpoints" / "last.pt").read_bytes())
    result, _ = train(None, config_of(regression, epochs=2), resume=target)
    assert isinstance(result, Failed) and "trained from another graph" in result.message


def test_an_npz_member_that_is_not_an_array_is_a_dataset_error(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"definitely not numpy")
        archive.writestr("y.npy", b"nor this")
    with pytest.raises(DatasetError, match="odd.npz"):
        load_dataset({"path": str(path)})


def test_an_idx_header_too_big_to_be_true_is_truncated(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x803, 2**31, 65536, 65536) + bytes(16))
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(struct.pack(">II", 0x801, 1) + bytes(1))
    with pytest.raises(DatasetError, match="truncated: header says 2147483648 images of 65536x65536"):
        load_dataset({"path": str(path)})


def test_a_damaged_checkpoint_message_never_suggests_unsafe_loading(tmp_path):
    from layerloom.training import CheckpointError

    path = tmp_path / "damaged.pt"
    path.write_bytes(b"\x80\x02" + b"\x00" * 64)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert "damaged.pt" in str(caught.value) and "weights_only" not in str(caught.value)


def test_bad_thread_counts_are_refused_by_the_cli(capsys):
    from layerloom.cli.main import main
    from layerloom.files.resources import example_path

    assert main(["train", str(example_path("digits_mlp")), "--threads", "-1", "--no-save"]) == 1
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_a_split_that_leaves_no_training_data_names_the_setting():
    with pytest.raises(DatasetError, match="training.dataset.val_split: splitting 150 samples"):
        load_dataset({"name": "iris", "val_split": 0.9, "test_split": 0.9})


def test_a_batch_larger_than_the_data_is_said_before_the_run():
    """Batch size 100,000 on 1,437 samples trains one step an epoch: the run says so when it starts (a
    run that then learns little is not blamed on its learning rate alone)."""
    from layerloom.training import RunStarted, train

    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=2, batch_size=100_000, device="cpu"), threads=1)
    started = of_type(session.events.drain(), RunStarted)[0]
    assert started.steps_per_epoch == 1
    said = ("batch size 100,000 is more than the 1,437 training samples: each epoch is one step of 1,437, so 2 "
            "epochs train 2 steps; a batch of 64 takes 23 steps an epoch")
    assert any(said in note for note in started.notes), started.notes
