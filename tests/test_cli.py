"""layerloom-cli: the same facts and messages as the editor, with exit codes scripts can use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import add, chain, mlp_graph

from layerloom import Graph, load_graph, save_graph
from layerloom.cli.main import main
from layerloom.files.resources import example_path, example_paths


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_valid_example_prints_shapes_counts_and_totals(capsys):
    code, out, err = run(capsys, "check", str(example_path("digits_cnn")))
    assert code == 0 and err == ""
    lines = out.splitlines()
    conv1 = next(line for line in lines if line.strip().startswith("conv1 "))
    assert conv1.split() == ["conv1", "Conv2d", "[N,", "16,", "8,", "8]", "160"]
    assert "total parameters: 13,706" in out
    assert "OK: 0 errors, 0 warnings" in out


def test_check_says_how_many_parameters_are_frozen(tmp_path, capsys):
    graph = load_graph(example_path("digits_cnn"))
    graph.set_trainable("conv1", False)
    path = tmp_path / "frozen.llgraph.json"
    save_graph(graph, path)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0 and "total parameters: 13,706 (160 frozen)" in out
    code, out, _ = run(capsys, "check", "--json", str(path))
    report = json.loads(out)
    assert report["frozen_params"] == 160
    assert [n["trainable"] for n in report["nodes"] if n["id"] == "conv1"] == [False]


def test_check_reports_problems_and_exits_1(tmp_path, capsys):
    g = Graph(name="broken")
    x = add(g, "Input", "image", shape=[1, 8, 8])
    conv = add(g, "Conv2d", "conv", out_channels=32, kernel_size=3, padding=1)
    pool = add(g, "MaxPool2d", "pool")
    fc1 = add(g, "Linear", "fc1", out_features=10)
    chain(g, x, conv, pool, fc1, add(g, "Output", "out"))
    path = save_graph(g, tmp_path / "broken.llgraph.json")
    code, out, _ = run(capsys, "check", str(path))
    assert code == 1
    assert ('Linear "fc1": expects [N, features] but receives [N, 32, 4, 4]; insert a Flatten before it [port in]'
            in out)
    assert "fc1 !" in out and "FAILED: 1 error, 0 warnings" in out


def test_warnings_alone_do_not_fail(tmp_path, capsys):
    g = mlp_graph()
    add(g, "Target", "spare")
    code, out, _ = run(capsys, "check", str(save_graph(g, tmp_path / "w.json")))
    assert code == 0 and 'warning: Target "spare": is not connected to a loss' in out


@pytest.mark.parametrize("content", ["{not json", '{"format": "layerloom-graph", "version": 99, "nodes": []}'])
def test_unreadable_file_exits_2_with_the_reason(tmp_path, capsys, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, "check", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: ")


def test_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read the file" in err


def test_check_json_report(capsys, tmp_path):
    g = mlp_graph()
    g.set_param("fc2", "out_features", 0, check=False)
    code, out, _ = run(capsys, "check", "--json", str(save_graph(g, tmp_path / "g.json")))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    fc1 = next(n for n in report["nodes"] if n["id"] == "fc1")
    assert fc1["outputs"] == {"out": {"shape": ["N", 32], "dtype": "float32"}} and fc1["params"] == 2080
    assert report["problems"][0]["code"] == "bad_param" and report["problems"][0]["node"] == "fc2"


def test_every_example_checks_clean(capsys):
    for path in example_paths():
        code, out, _ = run(capsys, "check", str(path))
        assert code == 0, out


def test_code_prints_readable_forward(capsys):
    code, out, _ = run(capsys, "code", str(example_path("digits_residual")))
    assert code == 0
    assert "def forward(self, image):" in out
    assert "residual = block_bn2 + stem_relu" in out
    assert "#   self.stem = Conv2d(1, 16, kernel_size=(3, 3)" in out
    code, out, _ = run(capsys, "code", "--criterion", str(example_path("digits_mlp")))
    assert "def forward(self, image, label):" in out and "'loss': loss" in out


def test_nodes_lists_the_catalog_and_details(capsys):
    code, out, _ = run(capsys, "nodes")
    assert code == 0 and "Convolution" in out and "TransformerEncoderLayer" in out
    code, out, _ = run(capsys, "nodes", "Dense")  # aliases work here too
    assert code == 0 and out.startswith("Linear (Dense) = torch.nn.Linear")
    assert "out_features = 64  [whole number from 1 to 1,000,000]  Number of output features" in out
    code, out, _ = run(capsys, "nodes", "Formula")  # what a field takes, in words: never a type name
    assert "[text, e.g. a, b]" in out and "[str]" not in out and "[int" not in out
    code, _, err = run(capsys, "nodes", "Nope")
    assert code == 1 and "unknown node type" in err


def test_console_script_runs_headless(tmp_path):
    result = subprocess.run([sys.executable, "-m", "layerloom.cli", "check", str(example_path("sequence_lstm"))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "lstm    LSTM" in result.stdout


def test_code_counts_the_parameters_of_what_it_prints(tmp_path, capsys):
    g = mlp_graph()
    aux = add(g, "Linear", "aux", out_features=10)   # an auxiliary head that only feeds a loss
    g.connect("relu1", "out", "aux", "in")
    add(g, "CrossEntropyLoss", "aux_loss")
    g.connect("aux", "out", "aux_loss", "pred")
    g.connect("label", "out", "aux_loss", "target")
    path = str(save_graph(g, tmp_path / "g.json"))
    _, out, _ = run(capsys, "code", path)
    assert out.startswith("# Mlp: 2,410 parameters")
    _, out, _ = run(capsys, "code", "--criterion", path)
    assert out.startswith("# Criterion: 2,740 parameters")


def test_check_reports_the_training_settings_too(tmp_path, capsys):
    """A graph file is an experiment: check also validates its training section, by key."""
    g = mlp_graph()
    g.training = {"epoch": 3, "optimizer": {"lr": 0}}
    path = save_graph(g, tmp_path / "settings.llgraph.json")
    code, out, err = run(capsys, "check", str(path))
    assert code == 1
    assert "training.optimizer.lr: must be greater than 0, got 0" in out
    assert "warning: training.epoch: unknown setting, ignored (did you mean 'epochs'?)" in out
    assert "FAILED: 1 error, 1 warning" in out
    code, out, err = run(capsys, "check", "--json", str(path))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["training"]["errors"] == ["training.optimizer.lr: must be greater than 0, got 0"]
    g.training = {"epochs": 3}
    save_graph(g, path)
    code, out, err = run(capsys, "check", str(path))
    assert code == 0 and "training settings" not in out


# ------------------------------------------------------------------ runs
def _run_folder(root, name: str, summary: dict | None, graph: str = "G"):
    """A run folder written by the run-folder writer (what the trainer uses), without training."""
    from layerloom.training.records import RunFolder

    folder = RunFolder(root / name)
    folder.path.mkdir(parents=True)
    folder.write_graph(Graph(name=graph))
    folder.write_json("config.json", {"graph": graph, "source": None, "training": {"epochs": 4},
                                      "monitor": "val_accuracy"})
    folder.append_epoch({"epoch": 1, "step": 10, "time_s": 3.0, "val_accuracy": 0.5})
    if summary is not None:
        folder.write_json("summary.json", {"graph": graph, "source": None, "epoch": 1, "epochs": 4, **summary})
    return folder.path


def test_runs_lists_what_train_wrote_newest_first(tmp_path, capsys):
    graph = example_path("digits_mlp")
    for _ in range(2):
        code, _, err = run(capsys, "train", str(graph), "--epochs", "1", "--quiet", "--out", str(tmp_path))
        assert code == 0, err
    code, out, err = run(capsys, "runs", str(tmp_path))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["run", "graph", "status", "started", "duration", "epochs", "best"]
    names = sorted((p.name for p in tmp_path.iterdir()), reverse=True)   # same second: -2 is the newer
    assert [line.split()[0] for line in lines[2:4]] == names
    assert all("Digits MLP  completed" in line and " 1/1 " in line and "val_accuracy" in line for line in lines[2:4])
    assert lines[-1] == f"2 runs in {tmp_path}"
    code, out, _ = run(capsys, "runs", "--json", str(tmp_path / names[0]))   # one run's folder
    (listed,) = json.loads(out)["runs"]
    assert code == 0 and listed["name"] == names[0] and listed["source"] == str(graph.resolve())
    assert (listed["status"], listed["reason"], listed["epoch"], listed["epochs"]) == ("completed", "completed", 1, 1)
    assert listed["started_at"] and listed["ended_at"] and listed["duration_s"] > 0
    assert listed["best"]["metric"] == "val_accuracy" and listed["best"]["epoch"] == 1
    assert listed["checkpoint"].endswith("checkpoints/best.pt")


def test_runs_says_how_each_run_ended(tmp_path, capsys):
    _run_folder(tmp_path, "full-20250101-090000", {"status": "failed", "reason": "disk_full", "message": "disk full",
                                                   "started_at": "2025-01-01T09:00:00+00:00", "duration_s": 75})
    _run_folder(tmp_path, "stop-20250102-090000", {"status": "stopped", "reason": "stopped",
                                                   "started_at": "2025-01-02T09:00:00+00:00", "duration_s": 4.2,
                                                   "best": {"metric": "val_accuracy", "value": 0.5, "epoch": 1}})
    _run_folder(tmp_path, "killed-20250103-090000", None)   # no summary: killed in its first epoch
    (tmp_path / "notes.txt").write_text("not a run")
    code, out, _ = run(capsys, "runs", str(tmp_path))
    rows = [line.split("  ") for line in out.splitlines()[2:5]]
    assert code == 0 and [row[0] for row in rows] == ["killed-20250103-090000", "stop-20250102-090000",
                                                      "full-20250101-090000"]
    assert "incomplete" in out.splitlines()[2] and "val_accuracy 0.5 @ 1" in out.splitlines()[2]  # from metrics.csv
    assert "stopped" in out.splitlines()[3] and "4.2 s" in out.splitlines()[3]
    assert "failed (disk full)" in out.splitlines()[4] and "1:15" in out.splitlines()[4]
    code, out, _ = run(capsys, "runs", "--json", str(tmp_path))
    report = json.loads(out)
    assert report["folder"] == str(tmp_path.resolve())
    assert [(r["status"], r["reason"]) for r in report["runs"]] == [("incomplete", None), ("stopped", "stopped"),
                                                                   ("failed", "disk_full")]
    assert report["runs"][0]["message"].startswith("no summary.json") and report["runs"][0]["ended_at"] is None


def test_runs_of_an_empty_missing_or_file_folder(tmp_path, capsys):
    code, out, err = run(capsys, "runs", str(tmp_path))
    assert (code, out.strip(), err) == (0, f"no runs in {tmp_path}", "")
    code, out, _ = run(capsys, "runs", "--json", str(tmp_path))
    assert code == 0 and json.loads(out)["runs"] == []
    code, out, err = run(capsys, "runs", str(tmp_path / "nope"))
    assert (code, out, err.strip()) == (2, "", f"error: {tmp_path / 'nope'}: no such folder")
    (tmp_path / "runs").write_text("")
    code, out, err = run(capsys, "runs", str(tmp_path / "runs"))
    assert (code, out, err.strip()) == (2, "", f"error: {tmp_path / 'runs'}: not a folder")
