"""Faults around a run folder (issue 15, items 4, 6 and 11b): a refused resume, SIGTERM, a full disk,
temp files left by interrupted saves, and a run that "finishes" without learning.

A refused resume must leave its run folder byte for byte as it was; SIGTERM stops ``layerloom-cli train``
like Ctrl-C; a full disk (simulated with ENOSPC at each kind of write, and real on a small tmpfs where
the test may mount one) stops the run with a clear "disk full" naming the folder, keeping the last
complete checkpoint and a valid summary.json that says why.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import mlp_graph
from train_helpers import example, sabotage

import layerloom.training.run_writer as writer_module
from layerloom.cli.main import main
from layerloom.files.graphfile import save_graph
from layerloom.training import (CheckpointSaved, EpochEnd, Failed, Finished, Stopped, TrainingConfig, TrainingSession,
                              load_checkpoint)
from layerloom.training.runs import CheckpointError, RunFolder

REPO = Path(__file__).resolve().parents[2]
TRAINING = {"dataset": {"name": "iris", "val_split": 0.2}, "epochs": 3, "batch_size": 16,
            "optimizer": {"name": "adam", "lr": 0.01}, "seed": 0}


def _graph(**training):
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.training = {**TRAINING, **training}
    return graph


def _train(root: Path, listeners=(), **training):
    session = TrainingSession(_graph(**training), run_root=root, listeners=tuple(listeners), queue_events=False)
    return session.run()


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


# --- a refused resume --------------------------------------------------------------------------------


def _damage_last(run: Path, change) -> None:
    path = run / "checkpoints" / "last.pt"
    data = copy.deepcopy(torch.load(path, weights_only=True))
    change(data)
    torch.save(data, path)


def _refuse_optimizer(run: Path) -> None:
    _damage_last(run, lambda d: d.__setitem__("optimizer", {"state": "x"}))


def _refuse_weights(run: Path) -> None:  # the graph no longer builds what was trained (a plugin changed...)
    _damage_last(run, lambda d: d["weights"].__setitem__("fc2.weight", torch.zeros(5, 8)))


def _refuse_device(run: Path) -> None:
    if torch.backends.mps.is_available():
        pytest.skip("this machine has Apple MPS: the recorded device is not refused")
    _damage_last(run, lambda d: d["config"].__setitem__("device", "mps"))


def _refuse_graph(run: Path) -> None:
    graph = json.loads((run / "graph.llgraph.json").read_text())
    graph["name"] = "something else"
    (run / "graph.llgraph.json").write_text(json.dumps(graph))


@pytest.mark.parametrize("refuse, says", [
    (_refuse_optimizer, "the optimizer state has no 'state' table"),
    (_refuse_weights, "the weights do not fit this graph"),
    (_refuse_device, "Apple MPS was asked for but is not available"),
    (_refuse_graph, "trained from another graph than the run folder's graph.llgraph.json"),
], ids=["optimizer", "weights", "device", "graph"])
def test_a_refused_resume_leaves_the_run_folder_byte_for_byte(tmp_path, capsys, refuse, says):
    result = _train(tmp_path / "runs", epochs=2)
    assert isinstance(result, Finished)
    run = Path(result.run_dir)
    refuse(run)
    (run / "checkpoints" / ".last.pt.stray.tmp").write_bytes(b"half")   # even these wait for an accepted resume
    before = _hashes(run)
    code = main(["train", "--resume", str(run), "--epochs", "4", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and says in err and "Traceback" not in err, err
    assert _hashes(run) == before
    assert _summary(run)["status"] == "finished"


def test_sigterm_stops_layerloom_cli_train_like_ctrl_c(tmp_path):
    """A real process: SIGTERM once the first checkpoint is on disk; the run stops after its step,
    summary.json says stopped, the checkpoint stays, and the exit status is Ctrl-C's (130)."""
    graph_file = tmp_path / "tiny.llgraph.json"
    save_graph(_graph(epochs=100000, batch_size=8), graph_file)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "LAYERLOOM_NO_PLUGINS": "1"}
    process = subprocess.Popen([sys.executable, "-c", "import sys; from layerloom.cli.main import main; sys.exit(main())",
                                "train", str(graph_file), "--out", str(tmp_path / "runs"), "-q"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "runs").glob("*/checkpoints/last.pt")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, (out, err)
    assert "terminated: stopping after this step" in err and "Traceback" not in err, err
    run = next((tmp_path / "runs").iterdir())
    summary = _summary(run)
    assert summary["status"] == "stopped" and summary["reason"] == "stopped"
    assert summary["message"].startswith("Stopped at epoch") and summary["ended_at"]
    assert load_checkpoint(run)["epoch"] >= 1


def test_a_keyboard_interrupt_inside_the_loop_ends_the_run_as_stopped(tmp_path, monkeypatch):
    """A second Ctrl-C raises KeyboardInterrupt in the middle of a step: the run is stopped, not failed."""
    def interrupt(out):
        raise KeyboardInterrupt

    sabotage(monkeypatch, 12, interrupt)   # epoch 2 (8 steps an epoch)
    result = _train(tmp_path)
    assert isinstance(result, Stopped) and result.message.startswith("Interrupted at epoch 2"), result
    run = Path(result.run_dir)
    assert _summary(run)["status"] == "stopped"
    assert load_checkpoint(run)["epoch"] == 1


# --- a full disk --------------------------------------------------------------------------------------


def _full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _Disk:
    """Arms a simulated full disk once epoch 1's checkpoint is saved."""

    def __init__(self):
        self.armed = False

    def listen(self, event) -> None:
        if isinstance(event, CheckpointSaved) and event.kind == "last" and event.epoch == 1:
            self.armed = True


def _fill_checkpoint(monkeypatch, disk: _Disk) -> None:
    real = torch.save

    def save(data, handle, *args, **kwargs):
        if not disk.armed or not hasattr(handle, "write"):
            return real(data, handle, *args, **kwargs)
        buffer = io.BytesIO()
        real(data, buffer)
        handle.write(buffer.getvalue()[: buffer.tell() // 2])
        try:    # what torch's zip writer does when the disk fills: a RuntimeError over the OSError
            raise _full()
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", save)


def _fill_best_copy(monkeypatch, disk: _Disk) -> None:
    def copyfile(source, target):
        Path(target).write_bytes(Path(source).read_bytes()[:100])
        raise _full()

    disk.armed = True
    monkeypatch.setattr(writer_module.shutil, "copyfile", copyfile)


def _fill_append(name: str):
    def fill(monkeypatch, disk: _Disk) -> None:
        real = writer_module._write_all

        def write_all(fd, data):
            if disk.armed and os.readlink(f"/proc/self/fd/{fd}").endswith(name):
                os.write(fd, data[: len(data) // 2])
                raise _full()
            return real(fd, data)

        monkeypatch.setattr(writer_module, "_write_all", write_all)
    return fill


def _fill_summary(monkeypatch, disk: _Disk) -> None:
    real = writer_module.atomic_write

    def atomic_write(path, content, durable=True):
        if disk.armed and Path(path).name == "summary.json":
            raise _full()   # atomic_write removes its temp file and leaves the target as it was
        return real(path, content, durable)

    monkeypatch.setattr(writer_module, "atomic_write", atomic_write)


def _assert_stopped_for_disk_full(result, run: Path) -> None:
    assert isinstance(result, Failed), result
    assert result.kind == "disk_full" and not result.traceback, result
    assert result.message.startswith("disk full: cannot ") and f" in {run}" in result.message, result.message
    assert "the last good checkpoint (last.pt, epoch 1) is kept" in result.message, result.message
    summary = _summary(run)   # valid JSON, saying how the run ended
    assert summary["status"] == "failed" and summary["reason"] == "disk_full", summary
    assert summary["message"] == result.message and summary["ended_at"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    for name in ("metrics.csv", "steps.csv"):   # no half rows
        text = (run / name).read_text(encoding="utf-8")
        lines = text.splitlines()
        assert text.endswith("\n") and len({line.count(",") for line in lines}) == 1, text[-300:]


@pytest.mark.parametrize("fill, epochs_in_metrics", [
    (_fill_checkpoint, 2),          # epoch 2's row is in; resuming from epoch 1 drops it
    (_fill_best_copy, 1),           # epoch 1's best.pt copy fails
    (_fill_append("metrics.csv"), 1),
    (_fill_append("steps.csv"), 1),
    (_fill_summary, 1),             # epoch 1's summary fails, and the final one is written in place
], ids=["checkpoint", "best-copy", "metrics", "steps", "summary"])
def test_a_full_disk_stops_the_run_cleanly_keeping_the_last_checkpoint(tmp_path, monkeypatch, fill,
                                                                       epochs_in_metrics):
    disk, ends = _Disk(), []
    fill(monkeypatch, disk)
    result = _train(tmp_path, listeners=(disk.listen, lambda e: isinstance(e, EpochEnd) and ends.append(e.epoch)))
    run = Path(result.run_dir)
    _assert_stopped_for_disk_full(result, run)
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + epochs_in_metrics
    # the live charts get every epoch metrics.csv holds (a checkpoint that failed after the row included)
    assert ends == list(range(1, epochs_in_metrics + 1))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted in tmp_path (root on Linux; skipped with the reason elsewhere)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if not sys.platform.startswith("linux"):
        pytest.skip("a small tmpfs needs Linux; the simulated full-disk tests cover the rest")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc}); the simulated full-disk tests cover it")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({(done.stderr or done.stdout).strip()}; needs root); "
                    "the simulated full-disk tests cover it")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def test_a_real_full_disk_stops_the_run_cleanly(small_disk):
    """Epoch 1 ends, then the disk fills up (another program's file): epoch 2's writes fail."""
    def fill_up(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            with open(small_disk / "filler", "wb") as handle:
                for size in (1 << 16, 4096, 1):
                    try:
                        while True:
                            handle.write(b"\0" * size)
                            handle.flush()
                    except OSError:
                        pass

    result = _train(small_disk / "runs", listeners=(fill_up,), epochs=5)
    _assert_stopped_for_disk_full(result, Path(result.run_dir))


# --- temp files of interrupted saves --------------------------------------------------------------------


def test_stray_temp_files_go_at_the_next_start_and_the_next_save(tmp_path, capsys):
    result = _train(tmp_path / "runs", epochs=2)
    run = Path(result.run_dir)
    strays = [run / "checkpoints" / ".last.pt.k3j2h1.tmp", run / "checkpoints" / ".best.pt.tmp",
              run / ".summary.json.a8b7c6.tmp"]
    for path in strays:
        path.write_bytes(b"half a save")
    keep = run / "notes.tmp"   # not a save's temp file: left alone
    keep.write_text("mine")
    assert main(["train", "--resume", str(run), "--epochs", "3", "-q"]) == 0, capsys.readouterr().err
    assert not any(p.exists() for p in strays) and keep.exists()

    (run / "checkpoints" / ".last.pt.zz9.tmp").write_bytes(b"half")
    RunFolder(run).save_checkpoint("last", {"epoch": 3, "weights": {}, "graph": {}})
    assert not (run / "checkpoints" / ".last.pt.zz9.tmp").exists()


# --- a run that finishes without learning ---------------------------------------------------------------


def test_a_run_whose_loss_never_moves_finishes_with_a_warning():
    """SGD at 1e-7 leaves the regression MLP where it began: the loss does not move and R² stays at 0.
    Neither is a blow-up or chance accuracy, which the health check already reported."""
    graph = example("regression_mlp")
    config = TrainingConfig.from_graph(graph).replace(epochs=2, optimizer={"name": "sgd", "lr": 1e-7})
    result = TrainingSession(graph, config).run()
    assert isinstance(result, Finished), result
    assert "did not learn" in result.message
    assert any(w.startswith("the training loss did not move") for w in result.warnings), result.warnings
    assert any("R² (" in w and "stayed near 0" in w for w in result.warnings), result.warnings
    assert "too low to move the weights" in result.warnings[-1]

    sound = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=3)).run()
    assert isinstance(sound, Finished) and not sound.warnings, sound.message


def test_a_file_named_runs_is_named_as_the_reason_no_run_folder_can_be_made(tmp_path):
    from layerloom.training.runs import new_run_dir

    (tmp_path / "runs").write_text("my notes", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"'runs' is a file, not a folder"):
        new_run_dir(tmp_path / "runs", "digits")
    assert (tmp_path / "runs").read_text(encoding="utf-8") == "my notes"
