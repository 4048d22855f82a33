"""The training engine (runtime/training): results on the examples, events, run folders, checkpoints,
determinism, resuming, metrics, settings, set-up checks, optimizers, schedules, devices and data paths.

Faults (stop, pause, divergence, exceptions, bad checkpoints) are in test_training_faults.py, the
``layerloom-cli train`` command in test_training_cli.py.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import mlp_graph
from train_helpers import (after_setup, config_of, example, of_type, read_csv, same_weights, table_dataset,
                           tiny_image_graph, weights, write_image_folder)

from layerloom import WARNING, compile_graph, graph_to_dict, load_graph
from layerloom.data import LazyImages
from layerloom.training import (TERMINAL, CheckpointSaved, DeviceError, EpochEnd, Failed, Finished, RunStarted,
                              SetupError, Step, TrainingConfig, TrainingSession, TrainingSettingsError,
                              check_training, checkpoint_graph, choose_device, load_checkpoint, load_weights,
                              plan_training, train)
from layerloom.training.metrics import Head

DIGITS_TRAIN, DIGITS_VAL, DIGITS_STEPS = 1437, 360, 23  # digits at val_split 0.2, batch 64
MLP_PARAMETERS = 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
METRIC_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The digits MLP example, 4 epochs with its own settings, saved to a run folder. Shared by the
    tests that only read its events, files and trained weights."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=4, device="cpu")  # "cpu" also on a developer's CUDA machine
    root = tmp_path_factory.mktemp("runs")
    result, session = train(graph, config, run_root=root)
    assert isinstance(result, Finished), result
    return SimpleNamespace(graph=graph, config=config, result=result, session=session, root=root,
                           events=session.events.drain(), run_dir=Path(result.run_dir),
                           history=session.trainer.history, weights=weights(session.trainer.criterion))


# --- the acceptance criteria ---------------------------------------------------------------


@pytest.mark.slow
def test_digits_mlp_example_reaches_95_percent_in_20_epochs():
    """The digits example, trained exactly as its file says (20 epochs, batch 64, Adam 1e-3), ends at
    >= 95% validation accuracy."""
    graph = example("digits_mlp")
    config = TrainingConfig.from_graph(graph)
    assert (config.epochs, config.batch_size) == (20, 64)
    assert (config.optimizer["name"], config.optimizer["lr"]) == ("adam", 1e-3)
    result, session = train(graph, config)
    assert isinstance(result, Finished) and result.reason == "completed" and result.epochs == 20
    assert session.trainer.history[-1]["val_accuracy"] >= 0.95
    assert result.best["metric"] == "val_accuracy" and result.best["value"] >= 0.95


def test_regression_example_reaches_r2_0_9():
    """The regression example with its defaults (30 epochs) reaches R2 >= 0.9 on validation."""
    graph = example("regression_mlp")
    result, session = train(graph, TrainingConfig.from_graph(graph))
    assert isinstance(result, Finished) and result.epochs == 30
    last = session.trainer.history[-1]
    assert last["val_r2"] >= 0.9
    assert {"val_mae", "val_rmse", "val_loss"} <= set(last) and "train_accuracy" not in last
    assert last["val_rmse"] == pytest.approx(math.sqrt(last["val_loss"]), rel=1e-4)  # MSELoss: rmse^2 = loss


# --- events ---------------------------------------------------------------------------------------


def test_run_started_comes_first_and_describes_the_run(digits_run):
    first = after_setup(digits_run.events)[0]
    assert isinstance(first, RunStarted)
    assert (first.device, first.precision, first.epochs, first.start_epoch) == ("cpu", "fp32", 4, 0)
    assert (first.num_train, first.num_val, first.steps_per_epoch) == (DIGITS_TRAIN, DIGITS_VAL, DIGITS_STEPS)
    assert first.steps_per_epoch == math.ceil(DIGITS_TRAIN / 64)
    assert first.parameters == MLP_PARAMETERS
    assert first.task == "classification" and first.classes == tuple(str(i) for i in range(10))
    assert first.config == digits_run.config.to_dict()
    assert first.run_dir == str(digits_run.run_dir) and first.notes == ()
    assert "1,437 train / 360 val" in first.dataset


def test_exactly_one_terminal_event_and_it_is_last(digits_run):
    events = digits_run.events
    assert [e for e in events if isinstance(e, TERMINAL)] == [events[-1]]
    result = events[-1]
    assert result is digits_run.session.result and isinstance(result, Finished)
    history = digits_run.history
    best = max(range(4), key=lambda i: (history[i]["val_accuracy"], -i))
    assert result.best == {"metric": "val_accuracy", "value": history[best]["val_accuracy"], "epoch": best + 1}
    assert result.message == f"finished; best val_accuracy {history[best]['val_accuracy']:.4g} at epoch {best + 1}"
    assert result.test == {} and result.run_dir == str(digits_run.run_dir)


def test_step_events_cover_every_step_exactly_once_in_order(digits_run):
    """Step.losses together hold each optimizer step's loss once, in order, and each epoch's
    train_loss is the sample-weighted mean of its steps' losses."""
    steps = of_type(digits_run.events, Step)
    covered, losses = [], []
    for event in steps:
        first = event.step - len(event.losses) + 1
        assert len(event.losses) >= 1 and event.loss == event.losses[-1]
        assert (event.epoch - 1) * DIGITS_STEPS < first and event.step <= event.epoch * DIGITS_STEPS
        assert event.lr == 1e-3 and event.samples_per_s > 0
        covered += range(first, event.step + 1)
        losses += event.losses
    assert covered == list(range(1, 4 * DIGITS_STEPS + 1))
    progress = [e.progress for e in steps]
    assert progress == sorted(progress) and progress[-1] == 1.0
    sizes = [64] * (DIGITS_STEPS - 1) + [DIGITS_TRAIN - 64 * (DIGITS_STEPS - 1)]
    for epoch, record in enumerate(digits_run.history):
        epoch_losses = losses[epoch * DIGITS_STEPS:(epoch + 1) * DIGITS_STEPS]
        mean = sum(v * n for v, n in zip(epoch_losses, sizes)) / DIGITS_TRAIN
        assert record["train_loss"] == pytest.approx(mean, rel=1e-12)


def test_epoch_end_carries_metrics_and_a_confusion_matrix(digits_run):
    ends = of_type(digits_run.events, EpochEnd)
    assert [e.epoch for e in ends] == [1, 2, 3, 4]
    best_so_far = None
    for end, record in zip(ends, digits_run.history):
        assert set(METRIC_COLUMNS) <= set(end.metrics)
        assert {"epoch": end.epoch, **end.metrics} == record
        confusion = np.array(end.details["confusion"])
        assert confusion.shape == (10, 10) and confusion.sum() == DIGITS_VAL
        assert end.metrics["val_accuracy"] == pytest.approx(np.trace(confusion) / DIGITS_VAL, abs=1e-6)
        assert set(end.details["per_class"]) == {"precision", "recall", "f1"}
        assert all(len(v) == 10 for v in end.details["per_class"].values())
        assert end.lr == 1e-3 and end.duration_s >= end.train_s > 0
        improved = best_so_far is None or end.metrics["val_accuracy"] > best_so_far
        assert end.improved == improved
        if improved:
            best_so_far = end.metrics["val_accuracy"]
        assert end.best["metric"] == "val_accuracy" and end.best["value"] == best_so_far


def test_checkpoint_saved_for_last_every_epoch_and_best_when_improved(digits_run):
    saves = of_type(digits_run.events, CheckpointSaved)
    ends = {e.epoch: e for e in of_type(digits_run.events, EpochEnd)}
    checkpoints = digits_run.run_dir / "checkpoints"
    for epoch in range(1, 5):
        kinds = [s.kind for s in saves if s.epoch == epoch]
        expected = ["last", "best"] if ends[epoch].improved else ["last"]
        assert kinds == expected, epoch  # the final last.pt is fsynced, not written a second time
    last_saves = [e for e in digits_run.events if isinstance(e, CheckpointSaved) and e.kind == "last"]
    assert last_saves[-1] == CheckpointSaved(str(checkpoints / "last.pt"), "last", 4)
    assert {Path(s.path) for s in saves} == {checkpoints / "last.pt", checkpoints / "best.pt"}


def test_a_listener_sees_every_event_on_the_worker_thread():
    """Listeners get the same events as the queue, in the same order, on the training thread."""
    graph = example("digits_mlp")
    seen, threads = [], set()

    def listener(event):
        seen.append(event)
        threads.add(threading.current_thread().name)

    session = TrainingSession(graph, config_of(graph, epochs=1), listeners=(listener,)).start()
    assert session.join(60)
    queued = session.events.drain()
    assert seen == queued and isinstance(seen[-1], Finished)
    assert threads == {"layerloom-training"}


# --- the run folder and checkpoints ---------------------------------------------------------------


def test_run_folder_holds_config_graph_metrics_steps_and_summary(digits_run):
    run_dir, history = digits_run.run_dir, digits_run.history
    assert run_dir.parent == digits_run.root and run_dir.name.startswith("digits-mlp-")
    assert {"config.json", "graph.llgraph.json", "metrics.csv", "steps.csv", "summary.json",
            "checkpoints"} <= {p.name for p in run_dir.iterdir()}

    record = json.loads((run_dir / "config.json").read_text())
    assert record["training"] == digits_run.config.to_dict()
    started = after_setup(digits_run.events)[0]
    assert record["dataset"]["summary"] == started.dataset
    assert record["dataset"]["scaling"] == {"mode": "minmax", "min": 0.0, "max": 16.0}
    assert record["dataset"]["feature_shape"] == [64] and record["dataset"]["name"] == "digits"
    assert (record["dataset"]["train"], record["dataset"]["val"], record["dataset"]["test"]) == (1437, 360, 0)
    assert record["device"]["type"] == "cpu" and record["device"]["precision"] == "fp32"
    assert record["monitor"] == "val_accuracy"

    saved_graph = load_graph(run_dir / "graph.llgraph.json")
    assert graph_to_dict(saved_graph) == graph_to_dict(digits_run.graph)

    rows = read_csv(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [int(r["step"]) for r in rows] == [23, 46, 69, 92]
    for row, record in zip(rows, history):
        assert float(row["lr"]) == 1e-3
        for column in METRIC_COLUMNS:
            assert float(row[column]) == record[column], column

    steps = read_csv(run_dir / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 93))
    assert [int(r["epoch"]) for r in steps] == [1 + (i // DIGITS_STEPS) for i in range(92)]
    event_losses = [v for e in of_type(digits_run.events, Step) for v in e.losses]
    assert [float(r["loss"]) for r in steps] == event_losses

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epoch"] == 4 and summary["epochs"] == 4
    assert summary["best"] == digits_run.result.best and summary["last"] == history[-1]
    assert summary["message"] == digits_run.result.message


def test_checkpoints_load_safely_and_record_the_run(digits_run):
    path = digits_run.run_dir / "checkpoints" / "last.pt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "layerloom-checkpoint" and raw["version"] == 1
    last = load_checkpoint(digits_run.run_dir)  # a run folder means its last checkpoint
    assert (last["epoch"], last["step"]) == (4, 92)
    assert last["history"] == digits_run.history and last["metrics"] == digits_run.history[-1]
    assert last["config"] == digits_run.config.to_dict()
    assert last["best"] == digits_run.result.best
    assert same_weights(last["weights"], digits_run.weights)
    best = load_checkpoint(digits_run.run_dir / "checkpoints" / "best.pt")
    torch.load(digits_run.run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] == digits_run.result.best["epoch"]
    assert best["history"] == digits_run.history[:best["epoch"]]


def test_checkpoint_weights_in_a_fresh_model_reproduce_the_trained_outputs(digits_run):
    data = load_checkpoint(digits_run.run_dir / "checkpoints" / "last.pt")
    fresh = compile_graph(checkpoint_graph(data), seed=12345).model.eval()
    trained = digits_run.session.plan.compiled.model.eval()
    x = torch.from_numpy(digits_run.session.plan.dataset.x_val[:100])
    with torch.no_grad():
        assert not torch.equal(fresh(x), trained(x))  # different initial weights: the load matters
        load_weights(fresh, data["weights"])
        assert torch.equal(fresh(x), trained(x))


def test_best_checkpoint_is_the_best_epoch_not_the_last(tmp_path):
    """A run that never improves after epoch 1 (a tiny learning rate) keeps best.pt at epoch 1 while
    last.pt moves on; early stopping ends it after `patience` epochs without improvement."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=10, optimizer={"name": "sgd", "lr": 1e-6, "momentum": 0.0},
                       early_stopping={"enabled": True, "patience": 2})
    result, session = train(graph, config, run_root=tmp_path)
    assert isinstance(result, Finished) and result.reason == "early_stopped" and result.epochs == 3
    assert result.message.startswith("stopped early: no improvement; best val_accuracy")
    assert result.best["epoch"] == 1
    assert [e.improved for e in of_type(session.events.drain(), EpochEnd)] == [True, False, False]
    best = load_checkpoint(Path(result.run_dir) / "checkpoints" / "best.pt")
    last = load_checkpoint(Path(result.run_dir) / "checkpoints" / "last.pt")
    assert (best["epoch"], last["epoch"]) == (1, 3)
    assert not same_weights(best["weights"], last["weights"])
    assert len(read_csv(Path(result.run_dir) / "metrics.csv")) == 3


def test_each_run_gets_its_own_folder(tmp_path):
    graph = example("digits_mlp")
    config = config_of(graph, epochs=1)
    first, _ = train(graph, config, run_root=tmp_path)
    second, _ = train(graph, config, run_root=tmp_path)
    assert first.run_dir != second.run_dir
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([Path(first.run_dir).name, Path(second.run_dir).name])


def test_no_run_root_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=1))
    assert isinstance(result, Finished) and result.run_dir is None
    assert not of_type(session.events.drain(), CheckpointSaved) and list(tmp_path.iterdir()) == []


# --- determinism and resuming ---------------------------------------------------------------------


def test_same_seed_same_run_different_seed_different_run(digits_run):
    graph = digits_run.graph
    again, session = train(graph, digits_run.config)
    assert session.trainer.history == digits_run.history
    assert same_weights(weights(session.trainer.criterion), digits_run.weights)
    other, session = train(graph, digits_run.config.replace(seed=1))
    assert session.trainer.history[0]["train_loss"] != digits_run.history[0]["train_loss"]
    assert session.trainer.history[-1]["val_loss"] != digits_run.history[-1]["val_loss"]


def test_a_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(digits_run, tmp_path):
    """2 epochs, then resumed to 4 from the run folder: the same history and weights as 4 epochs in
    one go, and the files hold each epoch and step once."""
    two, _ = train(digits_run.graph, digits_run.config.replace(epochs=2), run_root=tmp_path)
    assert isinstance(two, Finished) and two.epochs == 2
    result, session = train(None, digits_run.config, resume=two.run_dir)
    assert isinstance(result, Finished) and result.epochs == 4 and result.run_dir == two.run_dir
    assert session.trainer.history == digits_run.history
    assert same_weights(weights(session.trainer.criterion), digits_run.weights)
    events = session.events.drain()
    started = after_setup(events)[0]
    assert isinstance(started, RunStarted) and (started.start_epoch, started.epochs) == (2, 4)
    assert [e.epoch for e in of_type(events, EpochEnd)] == [3, 4]
    assert of_type(events, Step)[0].step - len(of_type(events, Step)[0].losses) + 1 == 2 * DIGITS_STEPS + 1
    run_dir = Path(two.run_dir)
    rows = read_csv(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["val_loss"]) for r in rows] == [h["val_loss"] for h in digits_run.history]
    assert [int(r["step"]) for r in read_csv(run_dir / "steps.csv")] == list(range(1, 4 * DIGITS_STEPS + 1))
    assert load_checkpoint(run_dir)["epoch"] == 4


def test_a_resumed_run_records_the_resume_and_keeps_counting_time(tmp_path):
    """config.json says the run was resumed and from which epoch, with the new epoch count;
    metrics.csv's time_s keeps growing across the resume instead of starting again at 0."""
    graph = example("digits_mlp")
    two, _ = train(graph, config_of(graph, epochs=2), run_root=tmp_path)
    run_dir = Path(two.run_dir)
    assert "resumed" not in json.loads((run_dir / "config.json").read_text())
    train(None, config_of(graph, epochs=3), resume=run_dir)
    record = json.loads((run_dir / "config.json").read_text())
    assert record["training"]["epochs"] == 3
    assert [r["from_epoch"] for r in record["resumed"]] == [2]
    times = [float(r["time_s"]) for r in read_csv(run_dir / "metrics.csv")]
    assert times == sorted(times) and times[2] > times[1] > 0


def test_resuming_from_a_checkpoint_file_uses_its_run_folder(tmp_path):
    graph = example("digits_mlp")
    two, _ = train(graph, config_of(graph, epochs=2), run_root=tmp_path)
    checkpoint = Path(two.run_dir) / "checkpoints" / "last.pt"
    result, _ = train(None, config_of(graph, epochs=3), resume=checkpoint)
    assert isinstance(result, Finished) and result.epochs == 3 and result.run_dir == two.run_dir
    assert [int(r["epoch"]) for r in read_csv(Path(two.run_dir) / "metrics.csv")] == [1, 2, 3]


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_extending_a_finished_run_stretches_its_schedule_to_the_new_length(tmp_path, schedule):
    """A 2-epoch run resumed to 4 epochs continues on the 4-epoch plan's learning rates (not past the
    end of the old plan), and says so in RunStarted.notes."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=2, schedule={"name": schedule})
    two, _ = train(graph, config, run_root=tmp_path)
    result, resumed = train(None, config.replace(epochs=4), resume=two.run_dir, step_interval=0.0)
    _, planned = train(graph, config.replace(epochs=4), step_interval=0.0)
    assert isinstance(result, Finished) and result.epochs == 4
    events = resumed.events.drain()
    assert any(f"{schedule} schedule was planned for 2 epochs and now spans 4" in n for n in after_setup(events)[0].notes)
    resumed_lrs = [e.lr for e in of_type(events, Step)]
    planned_lrs = [e.lr for e in of_type(planned.events.drain(), Step)][2 * DIGITS_STEPS:]
    assert resumed_lrs == pytest.approx(planned_lrs, rel=1e-9)


# --- metrics against scikit-learn -----------------------------------------------------------------


def _sklearn():
    return pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_sklearn(seed):
    """Accuracy, macro precision/recall/F1 and the confusion matrix equal scikit-learn's, also when a
    class is absent from both predictions and targets (class 5) or only in the targets (class 3)."""
    skm = _sklearn()
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 5, 400)
    target = rng.integers(0, 5, 400)
    pred[pred == 3] = 2                   # class 3: only in the targets
    head = Head("loss", "classification", num_classes=6)
    scalars, details = head.evaluate(torch.from_numpy(pred), torch.from_numpy(target))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # sklearn warns about class 3's undefined precision
        expected = {
            "accuracy": skm.accuracy_score(target, pred),
            "precision": skm.precision_score(target, pred, average="macro", zero_division=0),
            "recall": skm.recall_score(target, pred, average="macro", zero_division=0),
            "f1": skm.f1_score(target, pred, average="macro", zero_division=0),
        }
    assert scalars == pytest.approx(expected, abs=1e-6)
    assert np.array_equal(np.array(details["confusion"]), skm.confusion_matrix(target, pred, labels=range(6)))
    per_class_f1 = skm.f1_score(target, pred, labels=range(6), average=None, zero_division=0)
    assert details["per_class"]["f1"] == pytest.approx(per_class_f1.tolist(), abs=1e-6)


def test_classification_with_a_class_only_in_predictions_equals_sklearn():
    skm = _sklearn()
    rng = np.random.default_rng(7)
    pred, target = rng.integers(0, 4, 200), rng.integers(0, 3, 200)  # class 3 is predicted, never true
    scalars, _ = Head("loss", "classification", 4).evaluate(torch.from_numpy(pred), torch.from_numpy(target))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scalars["recall"] == pytest.approx(skm.recall_score(target, pred, average="macro", zero_division=0),
                                                  abs=1e-6)
        assert scalars["f1"] == pytest.approx(skm.f1_score(target, pred, average="macro", zero_division=0), abs=1e-6)


def test_binary_metrics_are_those_of_the_positive_class():
    skm = _sklearn()
    rng = np.random.default_rng(3)
    pred = rng.integers(0, 2, 300)
    target = (rng.random(300) < 0.3).astype(np.float32)
    scalars, _ = Head("loss", "binary").evaluate(torch.from_numpy(pred), torch.from_numpy(target))
    assert scalars["accuracy"] == pytest.approx(skm.accuracy_score(target, pred), abs=1e-6)
    assert scalars["precision"] == pytest.approx(skm.precision_score(target, pred), abs=1e-6)
    assert scalars["recall"] == pytest.approx(skm.recall_score(target, pred), abs=1e-6)
    assert scalars["f1"] == pytest.approx(skm.f1_score(target, pred), abs=1e-6)


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_equal_sklearn(outputs):
    """MAE, RMSE and R2 equal scikit-learn's (several outputs: each output's score, averaged)."""
    skm = _sklearn()
    rng = np.random.default_rng(outputs)
    target = (rng.normal(size=(200, outputs)) * np.arange(1, outputs + 1)).astype(np.float32)
    pred = (target + rng.normal(scale=0.4, size=target.shape)).astype(np.float32)
    scalars, details = Head("loss", "regression").evaluate(torch.from_numpy(pred), torch.from_numpy(target))
    assert details == {}
    assert scalars["mae"] == pytest.approx(skm.mean_absolute_error(target, pred), abs=1e-6)
    assert scalars["r2"] == pytest.approx(skm.r2_score(target, pred), abs=1e-6)
    assert scalars["rmse"] == pytest.approx(skm.root_mean_squared_error(target, pred), abs=1e-6)
    if outputs == 1:
        assert scalars["rmse"] == pytest.approx(skm.root_mean_squared_error(target, pred), abs=1e-6)


# --- settings -------------------------------------------------------------------------------------


def test_config_defaults():
    config = TrainingConfig()
    assert TrainingConfig.from_dict({}) == config == TrainingConfig.from_dict(None)
    assert (config.epochs, config.batch_size, config.seed) == (20, 64, 0)
    assert (config.device, config.precision) == ("auto", "fp32")
    assert (config.l1, config.grad_clip, config.monitor) == (0.0, 0.0, "val_loss")
    assert config.optimizer == {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9, "nesterov": False,
                                "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert config.schedule["name"] == "none" and config.early_stopping["enabled"] is False
    assert config.dataset["name"] == "digits" and config.dataset["val_split"] == 0.2
    assert config.warnings == []


@pytest.mark.parametrize("raw, key", [
    ({"optimizer": {"lr": -1.0}}, "training.optimizer.lr"),
    ({"optimizer": {"lr": 0}}, "training.optimizer.lr"),
    ({"optimizer": {"name": "lbfgs"}}, "training.optimizer.name"),
    ({"epochs": 0}, "training.epochs"),
    ({"batch_size": "big"}, "training.batch_size"),
    ({"monitor": "val_speed"}, "training.monitor"),
    ({"schedule": {"gamma": 1.5}}, "training.schedule.gamma"),
    ({"early_stopping": {"patience": 0}}, "training.early_stopping.patience"),
    ({"dataset": {"val_split": 2.0}}, "training.dataset.val_split"),
    ({"optimizer": "adam"}, "training.optimizer"),
])
def test_bad_settings_are_errors_naming_the_key(raw, key):
    with pytest.raises(TrainingSettingsError) as info:
        TrainingConfig.from_dict(raw)
    assert len(info.value.errors) == 1 and info.value.errors[0].startswith(key + ":")
    assert key in str(info.value)
    config, errors = check_training(raw)  # an editor still gets a form: defaults for the bad values
    assert errors == info.value.errors and config == TrainingConfig()


def test_every_bad_setting_is_listed():
    config, errors = check_training({"epochs": -3, "optimizer": {"lr": -1, "momentum": 5}, "seed": 1})
    assert sorted(e.split(":")[0] for e in errors) == ["training.epochs", "training.optimizer.lr",
                                                      "training.optimizer.momentum"]
    assert config.seed == 1 and config.epochs == 20
    assert check_training([1, 2])[1] == ["training: must be an object, got list"]


@pytest.mark.parametrize("raw, warning", [
    ({"epoch": 5}, "training.epoch: unknown setting, ignored (did you mean 'epochs'?)"),
    ({"optimizer": {"beta_1": 0.8}}, "training.optimizer.beta_1: unknown setting, ignored (did you mean 'beta1'?)"),
    ({"dataset": {"val_spilt": 0.1}},
     "training.dataset.val_spilt: unknown setting, ignored (did you mean 'val_split'?)"),
    ({"zzz": 1}, "training.zzz: unknown setting, ignored"),
])
def test_unknown_settings_are_warnings_with_a_suggestion(raw, warning):
    config = TrainingConfig.from_dict(raw)
    assert config.warnings == [warning]
    assert config == TrainingConfig()


def test_unknown_settings_reach_the_run_as_notes():
    graph = example("digits_mlp")
    graph.set_meta("training", {**graph.training, "epochs": 1, "batchsize": 32})
    result, session = train(graph)
    started = after_setup(session.events.drain())[0]
    assert isinstance(result, Finished)
    assert started.notes == ("training.batchsize: unknown setting, ignored (did you mean 'batch_size'?)",)


def test_replace_merges_sections_and_checks_values():
    config = TrainingConfig.from_dict({"optimizer": {"name": "sgd", "momentum": 0.5}, "epochs": 7})
    changed = config.replace(optimizer={"lr": 0.1}, batch_size=16)
    assert changed.optimizer == {**config.optimizer, "lr": 0.1}
    assert (changed.optimizer["name"], changed.optimizer["momentum"], changed.epochs, changed.batch_size) == \
        ("sgd", 0.5, 7, 16)
    assert config.optimizer["lr"] == 1e-3 and config.batch_size == 64  # the original is untouched
    with pytest.raises(TrainingSettingsError, match=r"training\.optimizer\.lr"):
        config.replace(optimizer={"lr": -1})


def test_replace_keeps_the_warnings_about_unknown_settings():
    config = TrainingConfig.from_dict({"epoch": 5})
    assert config.replace(batch_size=32).warnings == config.warnings


def test_to_dict_round_trips_through_json():
    config = TrainingConfig.from_dict({"epochs": 3, "optimizer": {"name": "rmsprop", "eps": 1e-6},
                                       "schedule": {"name": "onecycle", "max_lr": 0.05},
                                       "dataset": {"name": "wine", "image_size": [4, 4]}})
    raw = json.loads(json.dumps(config.to_dict()))
    again = TrainingConfig.from_dict(raw)
    assert again == config and again.warnings == [] and again.to_dict() == raw


# --- set-up checks (plan_training) ----------------------------------------------------------------


def _plan_problems(graph, config=None, **kwargs):
    with pytest.raises(SetupError) as info:
        plan_training(graph, config, **kwargs)
    return info.value.problems


def test_a_dataset_of_another_shape_is_refused_on_the_input_node():
    graph = example("digits_mlp")
    problems = _plan_problems(graph, config_of(graph, dataset={"name": "iris"}))
    errors = [p for p in problems if p.severity != WARNING]
    assert len(errors) == 1
    assert (errors[0].node_id, errors[0].param, errors[0].code) == ("image", "shape", "input_shape")
    assert "[4]" in errors[0].message and errors[0].label == 'Input "image"'


def test_more_class_scores_than_classes_is_a_warning():
    graph = example("digits_mlp")
    graph.set_param("image", "shape", [13])
    plan = plan_training(graph, config_of(graph, dataset={"name": "wine"}))
    assert [(p.node_id, p.param, p.severity) for p in plan.warnings] == [("fc3", "out_features", WARNING)]
    assert "10 class scores" in plan.warnings[0].message and "3 classes" in plan.warnings[0].message
    assert plan.heads[0].num_classes == 10


def test_fewer_class_scores_than_classes_is_an_error_on_the_layer():
    graph = example("digits_mlp")
    graph.set_param("fc3", "out_features", 2)
    problems = _plan_problems(graph)
    assert [(p.node_id, p.param) for p in problems] == [("fc3", "out_features")]
    assert "make it 10" in problems[0].message


def test_a_classification_loss_on_a_regression_dataset_is_refused():
    problems = _plan_problems(mlp_graph(features=8), TrainingConfig().replace(dataset={"name": "regression"}))
    assert [(p.node_id, p.code) for p in problems] == [("loss", "target_task")]
    assert "integer class labels" in problems[0].message and "MSELoss" in problems[0].message


def test_a_regression_loss_on_named_classes_is_refused():
    graph = example("regression_mlp")
    graph.set_param("features", "shape", [4])
    problems = _plan_problems(graph, TrainingConfig().replace(dataset={"name": "iris"}))
    assert [(p.node_id, p.code) for p in problems] == [("loss", "target_task")]
    assert "setosa" in problems[0].message


def test_a_graph_without_a_loss_is_refused():
    problems = _plan_problems(mlp_graph(with_loss=False))
    assert [p.code for p in problems] == ["no_loss"]


def test_a_missing_builtin_dataset_is_refused():
    problems = _plan_problems(example("digits_mlp"), TrainingConfig().replace(dataset={"name": "digitz"}))
    assert [p.code for p in problems] == ["dataset"] and "did you mean 'digits'" in problems[0].message


@pytest.mark.parametrize("stem, shape", [("digits_mlp", (64,)), ("sequence_lstm", (8, 8)), ("digits_cnn", (1, 8, 8))])
def test_digit_images_are_reshaped_for_the_input(stem, shape):
    """digits are [1, 8, 8] images; an Input of [64] or [8, 8] gets the same pixels reshaped (C order)."""
    plan = plan_training(example(stem))
    reference = plan_training(example("digits_cnn")).dataset
    assert plan.dataset.feature_shape == shape and plan.dataset.x_train.shape == (DIGITS_TRAIN,) + shape
    assert np.array_equal(plan.dataset.x_train.reshape(DIGITS_TRAIN, -1), reference.x_train.reshape(DIGITS_TRAIN, -1))
    assert np.array_equal(plan.dataset.y_val, reference.y_val)


def test_a_monitor_the_graph_cannot_measure_falls_back_with_a_warning():
    graph = example("regression_mlp")
    plan = plan_training(graph, config_of(graph, monitor="val_accuracy"))
    assert [p.code for p in plan.warnings] == ["monitor"] and "using val_loss" in plan.warnings[0].message
    result, session = train(graph, config_of(graph, epochs=1, monitor="val_accuracy"))
    assert result.best["metric"] == "val_loss"


# --- optimizers, schedules, regularization --------------------------------------------------------


@pytest.mark.parametrize("settings, kind", [
    ({"name": "sgd", "lr": 0.05, "nesterov": True}, torch.optim.SGD),
    ({"name": "adam", "lr": 1e-3}, torch.optim.Adam),
    ({"name": "adamw", "lr": 1e-3, "weight_decay": 0.01}, torch.optim.AdamW),
    ({"name": "rmsprop", "lr": 1e-3, "momentum": 0.0}, torch.optim.RMSprop),
])
def test_each_optimizer_trains(settings, kind):
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=2, optimizer=settings))
    assert isinstance(result, Finished)
    optimizer = session.trainer.optimizer
    assert type(optimizer) is kind and optimizer.param_groups[0]["lr"] == settings["lr"]
    if settings["name"] == "sgd":
        assert optimizer.param_groups[0]["nesterov"] is True and optimizer.param_groups[0]["momentum"] == 0.9
    if settings["name"] == "adamw":
        assert optimizer.param_groups[0]["weight_decay"] == 0.01
    first, second = session.trainer.history
    assert second["train_loss"] < first["train_loss"] < math.log(10)
    assert second["val_loss"] < first["val_loss"]


def _lrs_by_epoch(events) -> dict[int, set]:
    used: dict[int, set] = {}
    for event in of_type(events, Step):
        used.setdefault(event.epoch, set()).add(event.lr)
    return used


def test_step_schedule_multiplies_the_rate_by_gamma_every_step_size_epochs():
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=5, schedule={"name": "step", "step_size": 2, "gamma": 0.5}))
    events = session.events.drain()
    # EpochEnd.lr is the rate the epoch trained with
    assert [e.lr for e in of_type(events, EpochEnd)] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4], rel=1e-12)
    used = _lrs_by_epoch(events)
    for epoch in range(1, 6):
        assert len(used[epoch]) == 1, epoch
        assert used[epoch].pop() == pytest.approx(1e-3 * 0.5 ** ((epoch - 1) // 2), rel=1e-12), epoch


def test_cosine_schedule_anneals_to_min_lr_over_the_run():
    """Epoch k (0-based) of n trains at min + (max - min)(1 + cos(pi k / n)) / 2; the rate reaches
    min_lr as the run ends (what the checkpoint's optimizer holds)."""
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=4, schedule={"name": "cosine", "min_lr": 1e-5}))
    lrs = [e.lr for e in of_type(session.events.drain(), EpochEnd)]
    expected = [1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert session.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5, rel=1e-9)


def test_onecycle_schedule_rises_then_falls_within_the_run():
    graph = example("digits_mlp")
    config = config_of(graph, epochs=3, schedule={"name": "onecycle", "max_lr": 0.01, "pct_start": 0.3})
    session = TrainingSession(graph, config, step_interval=0.0)
    result = session.run()
    assert isinstance(result, Finished)
    lrs = [e.lr for e in of_type(session.events.drain(), Step)]  # one Step per optimizer step
    assert len(lrs) == 3 * DIGITS_STEPS
    peak = int(np.argmax(lrs))
    assert max(lrs) == pytest.approx(0.01, rel=1e-3)
    assert 0.2 * len(lrs) < peak < 0.4 * len(lrs)
    assert lrs[:peak + 1] == sorted(lrs[:peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[0] < 0.01 / 10 and lrs[-1] < lrs[0]


def test_plateau_schedule_lowers_the_rate_after_patience_epochs_without_improvement():
    """With a learning rate too small to change any prediction, val_accuracy never improves after
    epoch 1; with patience 1 the rate drops after epochs 3 and 5 (so epochs 4 and 5 train slower)."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=5, optimizer={"name": "sgd", "lr": 1e-6, "momentum": 0.0},
                       schedule={"name": "plateau", "patience": 1, "factor": 0.1})
    result, session = train(graph, config)
    events = session.events.drain()
    assert len({h["val_accuracy"] for h in session.trainer.history}) == 1
    assert [e.lr for e in of_type(events, EpochEnd)] == pytest.approx([1e-6, 1e-6, 1e-6, 1e-7, 1e-7], rel=1e-9)
    assert session.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-8, rel=1e-9)


def test_l1_penalty_shrinks_the_weights():
    graph = example("digits_mlp")

    def weight_norm(l1):
        _, session = train(graph, config_of(graph, epochs=3, l1=l1))
        return sum(float(p.detach().abs().sum()) for p in session.plan.compiled.model.parameters() if p.dim() >= 2)

    plain, penalized = weight_norm(0.0), weight_norm(1e-3)
    assert penalized < 0.75 * plain


def test_grad_clip_bounds_the_gradient_norm_at_every_optimizer_step(monkeypatch):
    import layerloom.training.trainer as trainer_module

    norms: list[float] = []
    real = trainer_module.build_optimizer

    def build(*args, **kwargs):
        optimizer = real(*args, **kwargs)

        def measure(opt, args, kwargs):
            grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
            norms.append(float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads))))

        optimizer.register_step_pre_hook(measure)
        return optimizer

    monkeypatch.setattr(trainer_module, "build_optimizer", build)
    graph = example("digits_mlp")
    train(graph, config_of(graph, epochs=1))
    unclipped = list(norms)
    norms.clear()
    train(graph, config_of(graph, epochs=1, grad_clip=0.3))
    assert len(norms) == len(unclipped) == DIGITS_STEPS
    assert max(unclipped) > 0.3 * 1.5            # clipping really had something to do
    assert max(norms) <= 0.3 * (1 + 1e-5)
    assert max(norms) == pytest.approx(0.3, rel=1e-4)  # steps over the bound are scaled down to it
    assert norms[0] == pytest.approx(min(unclipped[0], 0.3), rel=1e-9)  # same weights, same first batch


# --- devices and threads --------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match=r"CUDA was asked for but no CUDA GPU is available.*use device 'auto'"):
        choose_device("cuda")


def test_device_choices():
    cpu = choose_device("cpu")
    assert cpu.kind == "cpu" and cpu.precision == "fp32" and cpu.note == "" and cpu.name.startswith("CPU (")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        assert choose_device("auto").kind in ("cpu", "mps")
    fallback = choose_device("cpu", "bf16")
    assert fallback.precision == "fp32" and "bf16 mixed precision needs a CUDA GPU" in fallback.note


def test_fp16_on_the_cpu_trains_in_fp32_with_a_note():
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=1, device="cpu", precision="fp16"))
    started = after_setup(session.events.drain())[0]
    assert isinstance(result, Finished)
    assert started.precision == "fp32" and session.trainer.scaler is None
    assert "fp16 mixed precision needs a CUDA GPU; training in fp32 on cpu" in started.notes


def test_a_worker_thread_leaves_the_callers_torch_threads_alone():
    """start() runs with its own intra-op thread count and never changes the calling thread's."""
    graph = example("digits_mlp")
    before = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(2)
        session = TrainingSession(graph, config_of(graph, epochs=1), threads=1,
                                  listeners=(lambda e: seen.append(torch.get_num_threads()),))
        session.start()
        assert session.join(60) and isinstance(session.result, Finished)
        assert torch.get_num_threads() == 2
        assert set(seen) == {1}  # the worker really ran with 1
    finally:
        torch.set_num_threads(before)


def test_worker_thread_policy(monkeypatch):
    """All cores but one whatever the caller uses (the editor's GUI thread runs torch with one),
    OMP_NUM_THREADS when the user set it."""
    from layerloom.training import worker_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert worker_threads() == 15
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert worker_threads() == 1
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert worker_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert worker_threads() == 3


def test_an_explicit_thread_count_leaves_a_fresh_callers_threads_alone():
    graph = example("digits_mlp")
    config = config_of(graph, epochs=1)
    out = {}

    def caller():  # a thread that has not touched torch yet, like a GUI thread at its first run
        torch.set_num_threads(2)
        session = TrainingSession(graph, config, threads=1).start()
        session.join(60)
        out["threads"] = torch.get_num_threads()

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join(60)
    assert out["threads"] == 2


# --- data paths -----------------------------------------------------------------------------------


def test_a_test_split_is_evaluated_at_the_end():
    graph = example("digits_mlp")
    config = config_of(graph, epochs=2, dataset={"test_split": 0.1})
    result, session = train(graph, config)
    assert isinstance(result, Finished)
    assert set(result.test) == {"test_loss", "test_accuracy", "test_precision", "test_recall", "test_f1"}
    data = session.plan.dataset
    assert data.num_test == 180 and "180 test" in after_setup(session.events.drain())[0].dataset
    criterion = session.trainer.criterion.eval()
    with torch.no_grad():
        x, y = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
        loss = float(criterion(x, y)["loss"])
        accuracy = float((session.plan.compiled.model(x).argmax(1) == y).float().mean())
    assert result.test["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert result.test["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert "test_loss" not in session.trainer.history[-1]


def test_augmentation_trains_images_reproducibly_and_changes_the_run():
    graph = example("digits_cnn")
    plain = config_of(graph, epochs=1)
    augmented = config_of(graph, epochs=1, dataset={"augment_shift": 1, "augment_noise": 0.05})
    result, session = train(graph, augmented)
    assert isinstance(result, Finished) and session.plan.augmenter is not None
    again, session_again = train(graph, augmented)
    _, session_plain = train(graph, plain)
    assert session_again.trainer.history == session.trainer.history
    assert session_plain.trainer.history[0]["train_loss"] != session.trainer.history[0]["train_loss"]
    # validation data are never augmented: the same weights would score the same
    assert math.isfinite(session.trainer.history[0]["val_loss"])


def test_augmentation_shifts_the_images_behind_a_flat_input(monkeypatch):
    """The digits MLP reads 8x8 images as [64] vectors: augmentation still shifts the images (each
    batch is viewed as [B, 1, 8, 8] for the augmenter), it does not roll the vector."""
    import layerloom.data.augment as augment

    seen = []
    real = augment.Augmenter.__call__

    def spy(self, batch, generator):
        seen.append(tuple(batch.shape[1:]))
        return real(self, batch, generator)

    monkeypatch.setattr(augment.Augmenter, "__call__", spy)
    graph = example("digits_mlp")
    result, session = train(graph, config_of(graph, epochs=1, dataset={"augment_shift": 1}))
    assert isinstance(result, Finished) and session.plan.image_shape == (1, 8, 8)
    assert seen and set(seen) == {(1, 8, 8)}


def test_augmentation_of_a_table_is_a_setup_problem():
    graph = mlp_graph(features=4, classes=3)
    config = TrainingConfig().replace(dataset={"name": "iris", "augment_shift": 1})
    problems = _plan_problems(graph, config)
    assert [p.code for p in problems] == ["dataset"]
    assert "training.dataset.augment_shift" in problems[0].message and "turn augment_shift off" in problems[0].message
    result = TrainingSession(graph, config).run()
    assert isinstance(result, Failed) and result.kind == "setup" and result.problems == tuple(problems)


def test_a_lazily_loaded_image_folder_trains_like_the_in_memory_one(tmp_path, monkeypatch):
    """An image folder over the memory limit is decoded batch by batch through a DataLoader; with the
    same seed it trains exactly like the same folder decoded up front."""
    import layerloom.data.images as images

    folder = write_image_folder(tmp_path / "images", per_class=20)
    graph = tiny_image_graph()
    config = TrainingConfig().replace(epochs=2, batch_size=8, optimizer={"lr": 0.01},
                                      dataset={"path": str(folder), "val_split": 0.25})
    in_memory, session_memory = train(graph, config)
    monkeypatch.setattr(images, "MEMORY_LIMIT", 0)
    lazy, session_lazy = train(graph, config)
    assert isinstance(in_memory, Finished) and isinstance(lazy, Finished)
    assert isinstance(session_lazy.plan.dataset.x_train, LazyImages) and session_lazy.trainer.train.streaming
    assert isinstance(session_memory.plan.dataset.x_train, np.ndarray) and not session_memory.trainer.train.streaming
    assert session_lazy.trainer.steps_per_epoch == 4  # 30 training images in batches of 8
    assert session_lazy.trainer.history == session_memory.trainer.history
    assert same_weights(weights(session_lazy.trainer.criterion), weights(session_memory.trainer.criterion))


def test_an_array_over_the_in_memory_limit_streams_with_the_same_result(monkeypatch):
    import layerloom.training.batches as batches

    graph = example("digits_mlp")
    config = config_of(graph, epochs=2, batch_size=256)
    _, session_memory = train(graph, config)
    monkeypatch.setattr(batches, "IN_MEMORY_LIMIT", 0)
    _, session_stream = train(graph, config)
    assert session_stream.trainer.train.streaming and not session_memory.trainer.train.streaming
    assert session_stream.trainer.history == session_memory.trainer.history


def test_a_dataset_object_can_be_given_directly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    dataset = table_dataset(x[:90], y[:90], x[90:], y[90:], classes=("no", "yes"), name="sums")
    graph = mlp_graph(features=4, classes=2)
    result, session = train(graph, TrainingConfig().replace(epochs=30, batch_size=16, optimizer={"lr": 0.01}),
                            dataset=dataset)
    assert isinstance(result, Finished)
    started = after_setup(session.events.drain())[0]
    assert started.classes == ("no", "yes") and (started.num_train, started.num_val) == (90, 30)
    assert session.plan.dataset.scaling["mode"] == "standardize"  # a table without a value range
    assert session.trainer.history[-1]["val_accuracy"] >= 0.9
