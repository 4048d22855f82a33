"""Checkpoints after a run's first are written on a background thread while the next epoch trains.

What must hold: the loop goes on while a write is in flight; until the write's atomic rename the previous
checkpoint is the one on disk, whole and readable; a write that fails half-way (a crash of the write)
leaves that previous checkpoint as the last good one and stops the run with a message naming it; the
written state is a copy taken at the epoch's end, not the weights training goes on changing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from helpers import mlp_graph

import layerloom.training.recorder as recorder
from layerloom.training import CheckpointSaved, Failed, Finished, Step, TrainingSession
from layerloom.training.checkpoint_writer import cpu_copy
from layerloom.training.runs import load_checkpoint

TRAINING = {"dataset": {"name": "iris", "val_split": 0.2}, "epochs": 3, "batch_size": 16,
            "optimizer": {"name": "adam", "lr": 0.01}, "seed": 0}


def _session(root: Path, listeners=()):
    graph = mlp_graph(hidden=8, classes=3, features=4)
    graph.training = dict(TRAINING)
    return TrainingSession(graph, run_root=root, listeners=tuple(listeners), threads=1)


def test_a_copy_shares_no_storage():
    state = {"weights": {"w": torch.ones(3)}, "optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}}, "n": [1, (2,)]}
    copy = cpu_copy(state)
    state["weights"]["w"].add_(1)
    state["optimizer"]["state"][0]["exp_avg"].add_(1)
    assert torch.equal(copy["weights"]["w"], torch.ones(3)) and torch.equal(copy["optimizer"]["state"][0]["exp_avg"],
                                                                           torch.zeros(2))
    assert copy["n"] == [1, (2,)]


def test_the_loop_trains_on_while_a_checkpoint_is_written_and_the_previous_one_stays_readable(tmp_path, monkeypatch):
    real = recorder.save_checkpoint
    halfway, release = threading.Event(), threading.Event()
    seen: dict = {"threads": [], "during": None}

    def slow_save(payload, path):
        seen["threads"].append(threading.current_thread().name)
        if payload["epoch"] == 2:   # the second write: stop half-way through, its temp file on disk
            tmp = Path(path).with_name(f".{Path(path).name}.slow.tmp")
            tmp.write_bytes(b"PK\x03\x04 half a checkpoint")
            halfway.set()
            assert release.wait(30), "the loop waited for the checkpoint instead of training on"
            tmp.unlink()
        real(payload, path)

    def listen(event):
        if isinstance(event, Step) and event.epoch == 3 and seen["during"] is None:
            assert halfway.wait(30)
            seen["during"] = load_checkpoint(tmp_path / run_name()).get("epoch")
            release.set()

    monkeypatch.setattr(recorder, "save_checkpoint", slow_save)
    session = _session(tmp_path, (listen,))
    run_name = lambda: next(p for p in tmp_path.iterdir() if p.is_dir()).name  # noqa: E731
    result = session.run()
    assert isinstance(result, Finished), result
    # epoch 3 was training while epoch 2's write hung; the file on disk was epoch 1's, whole
    assert seen["during"] == 1
    assert seen["threads"][0] == threading.current_thread().name          # the first: at once
    assert set(seen["threads"][1:]) == {"layerloom-checkpoint"}            # the rest: in the background
    last = load_checkpoint(result.run_dir)
    assert last["epoch"] == 3
    final = session.trainer.criterion.state_dict()
    assert all(torch.equal(last["weights"][k], v) for k, v in final.items())
    saves = [e.epoch for e in session.events.drain() if isinstance(e, CheckpointSaved) and e.kind == "last"]
    assert saves == [1, 2, 3]
    assert not [p for p in Path(result.run_dir).rglob("*.tmp")]


def test_a_write_that_fails_half_way_keeps_the_previous_checkpoint_as_the_last_good_one(tmp_path, monkeypatch):
    real_save = torch.save

    def crash(data, handle, *args, **kwargs):
        if isinstance(data, dict) and data.get("epoch") == 2 and hasattr(handle, "write"):
            handle.write(b"PK\x03\x04 the first bytes")
            raise RuntimeError("the writer died")
        return real_save(data, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crash)
    result = _session(tmp_path).run()
    assert isinstance(result, Failed), result
    assert "the last good checkpoint (last.pt, epoch 1) is kept" in result.message, result.message
    run = Path(result.run_dir)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert not [p for p in run.rglob("*.tmp")]
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2   # no row after the failed write
