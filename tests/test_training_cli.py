"""``layerloom-cli train`` and ``layerloom-cli datasets``: output, run folders, overrides, resuming and
exit codes (0 trained, 1 refused or failed, 2 unreadable file, 130 interrupted)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import read_csv

from layerloom.cli.main import main
from layerloom.files.resources import example_path
from layerloom.training import load_checkpoint

DIGITS_MLP = str(example_path("digits_mlp"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_train_prints_each_epoch_and_saves_the_run(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--epochs", 2, "--out", tmp_path)
    assert code == 0, err
    run_dir = _only_run(tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("training on CPU (")
    assert "dataset: digits: classification, features [64], 10 classes; 1,437 train / 360 val / 0 test" in lines
    assert "model: 17,226 parameters; 2 epochs of 23 steps" in lines
    assert f"run folder: {run_dir}" in lines
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert all(" loss " in line and "| val loss " in line and " acc " in line and " f1 " in line for line in epochs)
    assert any(line.startswith("finished; best val_accuracy") for line in lines)
    assert lines[-1] == f"run saved to {run_dir}"
    assert sum("finished" in line for line in lines) == 1  # the outcome is said once
    assert len(read_csv(run_dir / "metrics.csv")) == 2 and (run_dir / "checkpoints" / "last.pt").is_file()
    # the run knows the file it was trained from, resolved
    source = str(Path(DIGITS_MLP).resolve())
    assert json.loads((run_dir / "summary.json").read_text())["source"] == source
    assert json.loads((run_dir / "config.json").read_text())["source"] == source


def test_epoch_lines_show_the_run_metrics(tmp_path, capsys):
    code, out, _ = run(capsys, "train", DIGITS_MLP, "--epochs", 1, "--out", tmp_path)
    row = read_csv(_only_run(tmp_path) / "metrics.csv")[0]
    line = next(line for line in out.splitlines() if line.startswith("epoch 1/1"))
    assert f"loss {float(row['train_loss']):.4f} acc {float(row['train_accuracy']):.4f}" in line
    assert f"val loss {float(row['val_loss']):.4f} acc {float(row['val_accuracy']):.4f}" in line
    assert f"f1 {float(row['val_f1']):.4f}" in line and "lr 0.001" in line and line.endswith("*")


def test_options_override_the_files_settings(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--epochs", 1, "--batch-size", 128, "--lr", 0.01,
                         "--optimizer", "sgd", "--seed", 3, "--device", "cpu", "--compile", "auto", "--memory-format",
                         "contiguous", "--out", tmp_path, "--quiet")
    assert code == 0, err
    record = json.loads((_only_run(tmp_path) / "config.json").read_text())["training"]
    assert (record["epochs"], record["batch_size"], record["seed"], record["device"]) == (1, 128, 3, "cpu")
    assert record["compile"] == "auto"   # auto compiles on CUDA only: this CPU run trains uncompiled
    assert record["memory_format"] == "contiguous"
    assert (record["optimizer"]["name"], record["optimizer"]["lr"]) == ("sgd", 0.01)
    assert record["monitor"] == "val_accuracy"  # the file's own settings stay


def test_quiet_prints_only_the_result(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--epochs", 1, "--out", tmp_path, "-q")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("finished;") and lines[1].startswith("run saved to ")


def test_no_save_writes_no_run_folder(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--epochs", 1, "--out", tmp_path / "runs", "--no-save")
    assert code == 0 and "run saved to" not in out and "run folder" not in out
    assert not (tmp_path / "runs").exists()


def test_a_dataset_that_does_not_fit_names_the_input_node_and_shape(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--dataset", "iris", "--out", tmp_path / "runs")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "error: cannot train:"
    assert any('Input "image"' in line and "set the shape to [4]" in line and line.endswith("[param shape]")
               for line in lines)
    assert not (tmp_path / "runs").exists()  # refused before any folder is made


def test_a_missing_dataset_file_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", DIGITS_MLP, "--dataset", "missing.csv", "--out", tmp_path / "runs")
    assert code == 1
    assert str(tmp_path / "missing.csv") in err and "no such file or folder" in err


@pytest.mark.parametrize("content, message", [(None, "cannot read the file"), ("garbage", "invalid JSON")])
def test_an_unreadable_graph_file_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.llgraph.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "train", path, "--out", tmp_path / "runs")
    assert code == 2 and err.startswith(f"error: {path}") and message in err and out == ""


def test_bad_option_values_exit_1_naming_the_setting(tmp_path, capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--epochs", 0, "--out", tmp_path)
    assert code == 1 and "training.epochs" in err


def test_train_needs_a_file_or_a_run(capsys):
    code, out, err = run(capsys, "train")
    assert code == 1 and "give a graph file to train, or --resume RUN" in err


def test_resume_continues_a_run_for_more_epochs(tmp_path, capsys):
    assert run(capsys, "train", DIGITS_MLP, "--epochs", 2, "--out", tmp_path)[0] == 0
    run_dir = _only_run(tmp_path)
    first = read_csv(run_dir / "metrics.csv")
    before = json.loads((run_dir / "summary.json").read_text())
    code, out, err = run(capsys, "train", "--resume", run_dir, "--epochs", 3)
    assert code == 0, err
    epochs = [line.split()[1] for line in out.splitlines() if line.startswith("epoch ")]
    assert epochs == ["3/3"] and "model: 17,226 parameters; 3 epochs of 23 steps" in out
    rows = read_csv(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and rows[:2] == first
    assert load_checkpoint(run_dir)["epoch"] == 3 and _only_run(tmp_path) == run_dir
    after = json.loads((run_dir / "summary.json").read_text())  # no file given: the recorded one is kept
    assert after["source"] == before["source"] == str(Path(DIGITS_MLP).resolve())
    assert after["started_at"] == before["started_at"] and after["duration_s"] > before["duration_s"]

    code, out, err = run(capsys, "train", "--resume", run_dir)
    assert code == 1 and "the run already trained 3 of 3 epochs; ask for more epochs to continue it" in err


def test_resume_refuses_options_it_would_ignore(tmp_path, capsys):
    """A resumed run keeps its graph and settings: --lr (or a file) with --resume is an error, not a
    silently ignored option."""
    assert run(capsys, "train", DIGITS_MLP, "--epochs", 1, "--out", tmp_path)[0] == 0
    run_dir = _only_run(tmp_path)
    code, out, err = run(capsys, "train", "--resume", run_dir, "--epochs", 2, "--lr", 0.1)
    assert code == 1 and "only --epochs may change" in err
    code, out, err = run(capsys, "train", DIGITS_MLP, "--resume", run_dir, "--epochs", 2)
    assert code == 1 and "only --epochs may change" in err
    assert [int(r["epoch"]) for r in read_csv(run_dir / "metrics.csv")] == [1]


def test_a_diverging_run_exits_1(capsys):
    code, out, err = run(capsys, "train", example_path("regression_mlp"), "--optimizer", "sgd", "--lr", 10,
                         "--no-save")
    assert code == 1 and err.startswith("error: diverged at epoch 1, step ")
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_one_exits_1_with_the_reason(capsys):
    code, out, err = run(capsys, "train", DIGITS_MLP, "--device", "cuda", "--no-save")
    assert code == 1 and "CUDA was asked for but no CUDA GPU is available" in err.splitlines()[0]


def test_datasets_lists_the_builtins(capsys):
    code, out, err = run(capsys, "datasets")
    assert code == 0 and err == ""
    names = [line.split()[0] for line in out.splitlines()]
    assert {"digits", "iris", "wine", "moons", "circles", "spirals", "regression"} <= set(names)
    digits = next(line for line in out.splitlines() if line.split()[0] == "digits")
    assert "classification, samples [1, 8, 8], 10 classes" in digits
    regression = next(line for line in out.splitlines() if line.split()[0] == "regression")
    assert "regression, samples [8]" in regression and "classes" not in regression


# --- end to end in a real process -----------------------------------------------------------------


def _cli(*argv) -> list[str]:
    return [sys.executable, "-m", "layerloom.cli", *[str(a) for a in argv]]


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_cli_trains_in_its_own_process(tmp_path):
    done = subprocess.run(_cli("train", DIGITS_MLP, "--epochs", 1, "--out", tmp_path), capture_output=True,
                          text=True, timeout=120, env=_env(), cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    run_dir = _only_run(tmp_path)
    assert f"run saved to {run_dir}" in done.stdout and "epoch 1/1" in done.stdout
    assert load_checkpoint(run_dir)["epoch"] == 1


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_keeping_the_last_checkpoint(tmp_path):
    """SIGINT during epoch 2 of a long run: exit 130, a Stopped message, epoch 1's checkpoint kept."""
    proc = subprocess.Popen(_cli("train", example_path("digits_cnn"), "--epochs", 200, "--batch-size", 8,
                                 "--out", tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=Path(__file__).parent.parent)
    try:
        deadline = time.monotonic() + 90
        seen = []
        while not any(line.split()[:2] == ["epoch", "1/200"] for line in seen):  # "epoch   1/200  loss..."
            assert time.monotonic() < deadline and proc.poll() is None, seen
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                seen.append(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    out = "".join(seen) + out
    assert "interrupted: stopping after this step" in err
    stopped = [line for line in out.splitlines() if "stopped at epoch" in line.lower()]
    assert len(stopped) == 1 and stopped[0].startswith("Stopped at epoch"), stopped  # said once
    epoch = int(stopped[0].split()[3].rstrip(","))
    assert stopped[0].endswith(f"the last good checkpoint (last.pt, epoch {epoch - 1}) is kept.")
    run_dir = _only_run(tmp_path)
    assert load_checkpoint(run_dir)["epoch"] == epoch - 1
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"


def test_the_output_says_whether_the_network_was_compiled(tmp_path, capsys, monkeypatch):
    """A compiled run explains its slower first epoch; one that fell back says why in a note instead."""
    import layerloom.training.compiling as compiling

    monkeypatch.setattr(torch, "compile", lambda module, **_: module)   # a compiler that works, at once
    code, out, err = run(capsys, "train", DIGITS_MLP, "--steps", 3, "--compile", "on", "--no-save", "--threads", 1)
    assert code == 0, err
    assert "compile: torch.compile (set-up compiled it" in out and "note: compile" not in out
    monkeypatch.setattr(compiling, "cpp_compiler", lambda: None)
    code, out, err = run(capsys, "train", DIGITS_MLP, "--steps", 3, "--compile", "on", "--no-save", "--threads", 1)
    assert code == 0, err
    assert "note: compile: training uncompiled: no C++ compiler found" in out
    assert "compile: torch.compile (" not in out
