"""Exporting from a run folder verifies on the data the run was trained on (issue 15, item 12).

The run's graph names its dataset relative to the graph file; exporting the run folder from another
directory used to resolve that path against the current directory: verification silently fell back to
random inputs, or used another folder's file of the same name, and ``--quantize static`` failed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerloom.cli.main import main
from layerloom.files.resources import example_path

FEATURES = 4


def _csv(path, rows: int, features: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    lines = [",".join([f"f{i}" for i in range(features)] + ["label"])]
    lines += [",".join(f"{v:.4f}" for v in row) + f",c{label}" for row, label in zip(x, labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _graph(path, dataset: dict) -> None:
    data = json.loads(example_path("digits_mlp").read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if node["type"] == "Input":
            node["params"]["shape"] = [FEATURES]
        if node["type"] == "Linear" and node["params"]["out_features"] == 10:
            node["params"]["out_features"] = 3
    data["name"] = "tabular"
    data["training"].update(dataset=dataset, epochs=1)
    path.write_text(json.dumps(data), encoding="utf-8")


def _train(project, monkeypatch, *extra: str):
    monkeypatch.chdir(project)
    assert main(["train", "g.llgraph.json", "--quiet", *extra]) == 0
    (run,) = (project / "runs").iterdir()
    return run


@pytest.fixture
def folders(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    _csv(project / "data.csv", 60, FEATURES, seed=0)
    # another folder's file with the same relative name and other columns
    _csv(elsewhere / "data.csv", 60, FEATURES + 3, seed=1)
    _graph(project / "g.llgraph.json", {"path": "data.csv", "target_column": "label"})
    return project, elsewhere


def test_export_from_another_folder_verifies_on_the_runs_own_data(folders, monkeypatch, capsys, tmp_path):
    project, elsewhere = folders
    run = _train(project, monkeypatch)
    capsys.readouterr()
    monkeypatch.chdir(elsewhere)
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx"), "--quantize", "static"]) == 0
    out = capsys.readouterr().out
    assert "dataset samples, batch 8" in out, out
    assert "random inputs only" not in out
    assert "int8 (static)" in out
    # the torchrun folder packs the same data
    assert main(["export", str(run), "--ddp-script", str(tmp_path / "ddp")]) == 0
    with np.load(tmp_path / "ddp" / "data.npz") as packed:
        assert packed["x_train"].shape[1:] == (FEATURES,)


def test_a_dataset_given_at_training_time_is_the_one_export_uses(folders, monkeypatch, capsys, tmp_path):
    project, elsewhere = folders
    (project / "data.csv").unlink()   # the graph's own file is gone: only the --dataset one exists
    other = tmp_path / "given.csv"
    _csv(other, 60, FEATURES, seed=2)
    run = _train(project, monkeypatch, "--dataset", str(other))
    capsys.readouterr()
    monkeypatch.chdir(elsewhere)
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "dataset samples, batch 8" in out, out


def test_a_moved_dataset_is_said_not_replaced_by_a_namesake(folders, monkeypatch, capsys, tmp_path):
    project, elsewhere = folders
    run = _train(project, monkeypatch)
    (project / "data.csv").unlink()
    capsys.readouterr()
    monkeypatch.chdir(elsewhere)
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "random inputs only" in out
    assert str(project / "data.csv") in out, out   # names the file the run was trained on
