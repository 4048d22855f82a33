"""A run given in optimizer steps (``training.steps``) instead of epochs: it stops at the step count
inside the epoch that reaches it, its records agree, a resume asks for more steps; and the CLI's
``--steps``, ``--val-split`` and ``--scaling`` options."""

from __future__ import annotations

import json

import pytest
from helpers import mlp_graph
from train_helpers import read_csv

from layerloom.cli.main import main
from layerloom.files.graphfile import save_graph
from layerloom.training import Finished, Step, TrainingConfig, TrainingSession

# iris: 120 training samples, 8 steps an epoch at batch 16; 12 steps end halfway through epoch 2
STEPS = 12


def iris_config(**changes) -> TrainingConfig:
    return TrainingConfig(epochs=50, batch_size=16, device="cpu", dataset={"name": "iris"}).replace(**changes)


@pytest.fixture(scope="module")
def steps_run(tmp_path_factory):
    session = TrainingSession(mlp_graph(hidden=8, classes=3, features=4), iris_config(steps=STEPS),
                              run_root=tmp_path_factory.mktemp("runs"), step_interval=0.0)
    result = session.run()
    return result, session, list(session.events.drain())


def test_steps_stop_the_run_at_the_step_count(steps_run):
    result, session, events = steps_run
    assert isinstance(result, Finished), result
    assert session.trainer.step == STEPS and result.epochs == 2
    assert f"finished after {STEPS} steps" in result.message
    steps = [e for e in events if isinstance(e, Step)]
    assert steps[-1].step == STEPS and steps[-1].progress == 1.0
    folder = session.trainer.folder.path
    rows = read_csv(folder / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2] and int(rows[-1]["step"]) == STEPS
    assert len(read_csv(folder / "steps.csv")) == STEPS
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["step"] == STEPS and summary["epochs"] == 2
    assert json.loads((folder / "config.json").read_text())["training"]["steps"] == STEPS


def test_a_steps_run_resumes_to_more_steps(steps_run):
    _, first, _ = steps_run
    run_dir = first.trainer.folder.path
    done = TrainingSession(None, TrainingConfig(steps=STEPS), resume=run_dir).run()
    assert "already trained 12 of 12 steps" in done.message
    resumed = TrainingSession(None, TrainingConfig(steps=20), resume=run_dir)
    result = resumed.run()
    assert isinstance(result, Finished) and resumed.trainer.step == 20 and result.epochs == 3


def test_cli_takes_steps_val_split_and_scaling(tmp_path, capsys):
    graph = save_graph(mlp_graph(hidden=8, classes=3, features=4), tmp_path / "iris.llgraph.json")
    code = main(["train", str(graph), "--dataset", "iris", "--steps", "5", "--val-split", "0.5",
                 "--scaling", "minmax", "--batch-size", "20", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "5 steps (4 an epoch)" in out and "75 train / 75 val" in out
    assert "scaling: min-max per feature (set by training.dataset.scaling" in out
    [run] = (tmp_path / "runs").iterdir()
    training = json.loads((run / "config.json").read_text())["training"]
    assert training["steps"] == 5 and training["dataset"]["val_split"] == 0.5
    assert training["dataset"]["scaling"] == "minmax"
    assert main(["train", "--resume", str(run), "--steps", "9", "-q"]) == 0
    assert json.loads((run / "summary.json").read_text())["step"] == 9
