"""The torchrun export: a folder that trains the graph with DistributedDataParallel, without
LayerLoom, and writes checkpoints LayerLoom reads back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from layerloom import load_graph
from layerloom.cli.main import main
from layerloom.export import ExportError, export_onnx, load_exportable, verify_onnx
from layerloom.export.ddp import export_ddp
from layerloom.files.resources import example_path
from layerloom.training import load_checkpoint, plan_training


def _torchrun() -> list[str]:
    found = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_two_cpu_processes_train_an_epoch_and_layerloom_reads_the_checkpoint(tmp_path):
    folder = tmp_path / "ddp"
    exportable = load_exportable(example_path("digits_mlp"))
    script = export_ddp(exportable, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["data.npz", "initial.pt", "model.py", "recipe.json",
                                                        "train_ddp.py"]
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    # LayerLoom must not be needed: block its packages in the children
    (folder / "sitecustomize.py").write_text("import sys\nsys.modules['layerloom'] = None\n")
    env["PYTHONPATH"] = str(folder)
    result = subprocess.run(_torchrun() + ["--standalone", "--nproc_per_node=2", script.name, "--epochs", "1"],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training on 2 process(es), cpu, 1,437 samples, 12 steps per epoch per process" in result.stdout
    assert "epoch 1/1  train_loss" in result.stdout

    checkpoint = load_checkpoint(folder / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["trained_with"] == "torchrun, 2 processes"
    assert checkpoint["config"]["epochs"] == 1 and checkpoint["metrics"]["val_accuracy"] > 0.1
    trained = load_exportable(folder / "checkpoints" / "best.pt")
    assert trained.trained and trained.classes == [str(d) for d in range(10)]
    changed = any(not torch.equal(a, b) for a, b in zip(trained.model.state_dict().values(),
                                                         exportable.model.state_dict().values()))
    assert changed  # the weights moved during training
    report = verify_onnx(export_onnx(trained, tmp_path / "m.onnx"), trained)
    assert report.ok, report.describe()


def test_the_data_file_is_what_layerloom_trains_on(tmp_path):
    exportable = load_exportable(example_path("regression_mlp"))
    export_ddp(exportable, tmp_path)
    data = np.load(tmp_path / "data.npz")
    plan = plan_training(load_graph(example_path("regression_mlp")))
    assert np.array_equal(data["x_train"], plan.dataset.x_train)
    assert np.array_equal(data["y_val"], plan.dataset.y_val) and data["y_val"].shape[1:] == (1,)
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    assert recipe["training"]["epochs"] == 30 and recipe["dataset"]["scaling"]["mode"] == "standardize"
    text = (tmp_path / "train_ddp.py").read_text()
    assert "from model import RegressionMLPTraining" in text and "CLASSIFICATION = False" in text
    initial = torch.load(tmp_path / "initial.pt", weights_only=True)
    assert initial.keys() == exportable.compiled.criterion.state_dict().keys()


def test_a_graph_without_a_loss_is_refused(tmp_path):
    from helpers import mlp_graph

    from layerloom.export.source import Exportable
    from layerloom import compile_graph

    graph = mlp_graph(with_loss=False)
    with pytest.raises(ExportError, match="the graph has no loss"):
        export_ddp(Exportable(graph, compile_graph(graph)), tmp_path)


def test_the_cli_writes_the_folder(tmp_path, capsys):
    assert main(["export", str(example_path("digits_mlp")), "--ddp-script", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "torchrun --nproc_per_node=N" in out and (tmp_path / "out" / "train_ddp.py").exists()
