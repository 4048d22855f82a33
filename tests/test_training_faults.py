"""The training engine under faults: stop, pause and resume from other threads, divergence, exceptions
inside the worker, out of memory, broken listeners, refused set-ups and unreadable or hostile checkpoints.

Every run must end with exactly one terminal event (Finished, Stopped or Failed) and leave its run
folder with the last good checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import mlp_graph
from train_helpers import (after_setup, config_of, example, nan_loss, next_event, of_type, read_csv, sabotage,
                           same_weights, table_dataset, until_terminal, weights)

from layerloom.training import (TERMINAL, CheckpointError, CheckpointSaved, EpochEnd, Failed, Finished, Paused,
                              Preparing, Resumed, RunStarted, Step, Stopped, TrainingConfig, TrainingSession,
                              load_checkpoint, train)
from layerloom.training.runs import save_checkpoint

DIGITS_STEPS = 23  # digits MLP: 1,437 training samples in batches of 64


def _terminals(events) -> list:
    return [e for e in events if isinstance(e, TERMINAL)]


# --- stop -----------------------------------------------------------------------------------------


def test_stop_ends_a_worker_run_within_one_second_mid_epoch(tmp_path):
    """A long CNN run (50 epochs of 180 steps) stopped from the test thread in the middle of its 2nd
    epoch: Stopped arrives and the thread ends within 1 s of stop(), Stopped is the last event, and
    no checkpoint is written for the interrupted epoch."""
    graph = example("digits_cnn")
    config = config_of(graph, epochs=50, batch_size=8)
    session = TrainingSession(graph, config, run_root=tmp_path, step_interval=0.02).start()
    started, _ = next_event(session, RunStarted)
    spe = started.steps_per_epoch
    assert spe == 180
    before_stop = []
    while True:  # until the freshest progress report is in the first half of epoch 2 or later
        step, skipped = next_event(session, Step)
        before_stop += skipped + [step] + session.events.drain()
        latest = of_type(before_stop, Step)[-1]
        if latest.epoch >= 2 and latest.step < (latest.epoch - 1) * spe + spe // 2:
            break

    t0 = time.monotonic()
    session.stop()
    events = until_terminal(session, timeout=30)
    arrived = time.monotonic() - t0
    ended = session.join(timeout=max(0.0, 1.0 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    assert arrived <= 1.0, f"Stopped arrived {arrived:.2f} s after stop()"
    assert ended and elapsed <= 1.0, f"the worker thread was still alive {elapsed:.2f} s after stop()"

    stopped = events[-1]
    assert isinstance(stopped, Stopped) and _terminals(before_stop + events) == [stopped]
    assert session.events.drain() == [] and session.result is stopped and not session.running
    assert stopped.epoch >= 2 and (stopped.epoch - 1) * spe <= stopped.step < stopped.epoch * spe  # mid-epoch
    kept = stopped.epoch - 1
    # one sentence, shown as it is: the place once, then what was kept
    assert stopped.message == f"Stopped at epoch {stopped.epoch}, step {stopped.step}; " \
                              f"the last good checkpoint (last.pt, epoch {kept}) is kept."
    assert stopped.message.count(f"epoch {stopped.epoch}, step") == 1
    assert all(e.epoch <= kept for e in of_type(before_stop + events, CheckpointSaved))
    run_dir = Path(stopped.run_dir)
    assert load_checkpoint(run_dir)["epoch"] == kept
    assert len(read_csv(run_dir / "metrics.csv")) == kept
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["step"] == stopped.step
    assert summary["reason"] == "stopped" and summary["message"] == stopped.message
    assert summary["duration_s"] == stopped.duration_s and stopped.duration_s > 0


def test_a_stop_before_the_first_step_trains_nothing(tmp_path):
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=3), run_root=tmp_path)
    session.stop()
    result = session.run()
    events = session.events.drain()
    assert isinstance(result, Stopped) and result.step == 0 and _terminals(events) == [result]
    assert not of_type(events, (Step, EpochEnd, CheckpointSaved))
    assert not (Path(result.run_dir) / "checkpoints" / "last.pt").exists()


def test_the_steps_done_before_a_stop_are_still_recorded(tmp_path, monkeypatch):
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=2), run_root=tmp_path, step_interval=10.0)

    def stop_here(out):
        session.stop()  # from inside step 5: the loop notices before step 6
        return out

    sabotage(monkeypatch, 5, stop_here)
    result = session.run()
    assert isinstance(result, Stopped) and result.step == 5
    published = [s for e in of_type(session.events.drain(), Step)
                 for s in range(e.step - len(e.losses) + 1, e.step + 1)]
    assert published == [1, 2, 3, 4, 5]
    assert [int(r["step"]) for r in read_csv(Path(result.run_dir) / "steps.csv")] == [1, 2, 3, 4, 5]


# --- pause and resume -----------------------------------------------------------------------------


def _pause_at_step(session, at: int) -> None:
    """Pause the run from its own thread right after the Step event of step ``at``."""
    def listener(event):
        if isinstance(event, Step) and event.step == at:
            session.pause()
    session.events.subscribe(listener)


def test_pause_holds_the_run_and_resume_continues_it_unchanged():
    """Paused after step 3, the run publishes nothing for 0.3 s, then resumes and ends with exactly
    the per-epoch metrics of an uninterrupted run with the same seed; paused time is not counted."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=3)
    _, uninterrupted = train(graph, config)

    session = TrainingSession(graph, config, step_interval=0.0)  # a Step event per optimizer step
    _pause_at_step(session, 3)
    t0 = time.monotonic()
    session.start()
    paused, before = next_event(session, Paused)
    assert (paused.epoch, paused.step) == (1, 3)
    assert [e.step for e in of_type(before, Step)] == [1, 2, 3]
    time.sleep(0.3)
    assert session.events.drain() == []  # no Step, no EpochEnd while paused
    assert session.paused and session.running and not session.join(timeout=0)
    session.resume()
    events = until_terminal(session)
    wall = time.monotonic() - t0
    assert events[0] == Resumed(1, 3)
    result = events[-1]
    assert isinstance(result, Finished) and _terminals(before + events) == [result]
    assert session.join(10)
    assert session.trainer.history == uninterrupted.trainer.history
    assert same_weights(weights(session.trainer.criterion), weights(uninterrupted.trainer.criterion))
    steps = [s for e in of_type(before + events, Step) for s in range(e.step - len(e.losses) + 1, e.step + 1)]
    assert steps == list(range(1, 3 * DIGITS_STEPS + 1))
    assert result.duration_s < wall - 0.3  # the pause is not part of the run's duration


def test_a_pause_from_another_thread_mid_run_changes_no_result():
    """Paused from the test thread once epoch 1 has ended (at whatever step the worker is then), the
    run stays silent while paused and finishes exactly like an uninterrupted run."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=6, batch_size=16)  # 90 steps an epoch: the pause lands well before the end
    _, uninterrupted = train(graph, config)
    session = TrainingSession(graph, config, step_interval=0.01).start()
    next_event(session, EpochEnd)
    session.pause()
    paused, skipped = next_event(session, Paused)
    assert paused.epoch >= 2 and not of_type(skipped, Paused)
    time.sleep(0.3)
    assert session.events.drain() == []
    session.resume()
    events = until_terminal(session)
    assert events[0] == Resumed(paused.epoch, paused.step) and isinstance(events[-1], Finished)
    assert session.join(10)
    assert session.trainer.history == uninterrupted.trainer.history


def test_events_until_done_yields_the_whole_run_once():
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=2)).start()
    events = list(session.events_until_done(poll=0.05))
    assert isinstance(after_setup(events)[0], RunStarted) and isinstance(events[-1], Finished)
    assert len(of_type(events, EpochEnd)) == 2 and _terminals(events) == [events[-1]]
    assert session.join(10) and list(session.events_until_done(poll=0.05)) == []  # the run is over: no waiting


def test_stop_while_paused_ends_the_run_promptly():
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=3), step_interval=0.0)
    _pause_at_step(session, 5)
    session.start()
    paused, _ = next_event(session, Paused)
    t0 = time.monotonic()
    session.stop()
    events = until_terminal(session, timeout=30)
    assert time.monotonic() - t0 <= 1.0
    assert session.join(max(0.0, 1.0 - (time.monotonic() - t0)))
    assert [type(e) for e in events] == [Stopped]  # no Resumed, no more steps
    assert (events[0].epoch, events[0].step) == (1, 5)


def test_a_stopped_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(tmp_path):
    """Stopped right after epoch 2 of 4 (cosine schedule, so the schedule state matters too), then
    resumed from its folder: the same history and weights as the run that was never stopped."""
    graph = example("digits_mlp")
    config = config_of(graph, epochs=4, schedule={"name": "cosine", "min_lr": 1e-5})
    _, uninterrupted = train(graph, config)

    session = TrainingSession(graph, config, run_root=tmp_path)
    session.events.subscribe(lambda e: session.stop() if isinstance(e, EpochEnd) and e.epoch == 2 else None)
    stopped = session.run()
    assert isinstance(stopped, Stopped) and (stopped.epoch, stopped.step) == (3, 2 * DIGITS_STEPS)

    result, resumed = train(None, resume=stopped.run_dir)
    assert isinstance(result, Finished) and result.epochs == 4
    assert resumed.trainer.history == uninterrupted.trainer.history
    assert same_weights(weights(resumed.trainer.criterion), weights(uninterrupted.trainer.criterion))
    assert [e.lr for e in of_type(resumed.events.drain(), EpochEnd)] == \
        [h for h in [e.lr for e in of_type(uninterrupted.events.drain(), EpochEnd)][2:]]
    rows = read_csv(Path(stopped.run_dir) / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_resuming_a_finished_run_without_more_epochs_fails_clearly(tmp_path):
    graph = example("digits_mlp")
    done, _ = train(graph, config_of(graph, epochs=1), run_root=tmp_path)
    for config in (None, config_of(graph, epochs=1)):
        result, session = train(None, config, resume=done.run_dir)
        assert isinstance(result, Failed) and result.kind == "setup"
        assert result.message == "the run already trained 1 of 1 epochs; ask for more epochs to continue it"
        assert session.events.drain() == [result]
    assert len(read_csv(Path(done.run_dir) / "metrics.csv")) == 1  # the folder is untouched


def test_resuming_a_missing_run_fails_naming_it(tmp_path):
    result, _ = train(None, resume=tmp_path / "nowhere")
    assert isinstance(result, Failed) and result.kind == "setup"
    assert "nowhere" in result.message and "no such checkpoint" in result.message


# --- divergence -----------------------------------------------------------------------------------


def test_a_nan_loss_fails_the_run_as_diverged_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """The loss of global step 51 (epoch 3, 5th step) becomes NaN: Failed(kind="diverged") names that
    epoch and step, and epoch 2's checkpoint stays, finite and loadable."""
    bad_step = 2 * DIGITS_STEPS + 5
    sabotage(monkeypatch, bad_step, nan_loss)
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=5), run_root=tmp_path).start()
    events = until_terminal(session)
    assert session.join(10)
    result = events[-1]
    assert isinstance(result, Failed) and _terminals(events) == [result]
    assert (result.kind, result.epoch, result.step) == ("diverged", 3, bad_step)
    assert result.message == (f"diverged at epoch 3, step {bad_step}: the loss became nan; the last good checkpoint "
                              "(last.pt, epoch 2) is kept; try a lower learning rate or gradient clipping")
    assert [e.epoch for e in of_type(events, EpochEnd)] == [1, 2]
    run_dir = Path(result.run_dir)
    for name in ("last.pt", "best.pt"):
        data = load_checkpoint(run_dir / "checkpoints" / name)
        torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert data["epoch"] == 2
        assert all(bool(torch.isfinite(w).all()) for w in data["weights"].values())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["message"] == result.message
    assert summary["reason"] == "diverged" and summary["duration_s"] == result.duration_s > 0
    assert len(read_csv(run_dir / "metrics.csv")) == 2


def test_the_good_steps_before_a_divergence_are_still_recorded(tmp_path, monkeypatch):
    bad_step = 2 * DIGITS_STEPS + 5
    sabotage(monkeypatch, bad_step, nan_loss)
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=5), run_root=tmp_path, step_interval=10.0)
    result = session.run()
    assert result.kind == "diverged" and result.step == bad_step
    published = [s for e in of_type(session.events.drain(), Step)
                 for s in range(e.step - len(e.losses) + 1, e.step + 1)]
    recorded = [int(r["step"]) for r in read_csv(Path(result.run_dir) / "steps.csv")]
    assert recorded == list(range(1, bad_step))
    assert published == list(range(1, bad_step))


def test_an_infinite_feature_value_diverges_at_the_batch_that_holds_it():
    """A training sample with an infinite feature (no scaling) makes the loss of its batch non-finite in
    epoch 1; every step before it was published with a finite loss."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x[117, 2] = np.inf
    dataset = table_dataset(x[:160], y[:160], x[160:], y[160:])
    config = TrainingConfig().replace(epochs=3, batch_size=16, dataset={"scaling": "none"})
    result, session = train(mlp_graph(features=4, classes=2), config, dataset=dataset, step_interval=0.0)
    assert isinstance(result, Failed) and result.kind == "diverged" and result.epoch == 1
    steps = of_type(session.events.drain(), Step)
    assert [e.step for e in steps] == list(range(1, result.step))
    assert all(math.isfinite(e.loss) for e in steps) and 1 <= result.step <= 10
    assert f"diverged at epoch 1, step {result.step}: the loss became" in result.message


def test_a_huge_learning_rate_diverges_cleanly():
    """SGD at rate 10 on the regression example: the squared error overflows to inf within epoch 1;
    the run fails as diverged at that step, with no checkpoint to mention (no run folder)."""
    graph = example("regression_mlp")
    config = config_of(graph, epochs=5, optimizer={"name": "sgd", "lr": 10.0})
    result, session = train(graph, config, step_interval=0.0)
    events = session.events.drain()
    assert isinstance(result, Failed) and result.kind == "diverged" and _terminals(events) == [result]
    steps = of_type(events, Step)
    assert result.epoch == 1 and [e.step for e in steps] == list(range(1, result.step))
    assert all(math.isfinite(e.loss) for e in steps) and not of_type(events, EpochEnd)
    assert result.message == (f"diverged at epoch 1, step {result.step}: the loss became inf; "
                              "try a lower learning rate or gradient clipping")


# --- exceptions inside the worker -----------------------------------------------------------------


def _boom(out):
    raise RuntimeError("boom in the forward pass")


def test_an_exception_in_the_worker_becomes_a_failed_event(tmp_path, monkeypatch):
    sabotage(monkeypatch, 5, _boom)
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=2), run_root=tmp_path).start()
    events = until_terminal(session)
    assert session.join(10) and not session.running
    result = events[-1]
    assert isinstance(result, Failed) and _terminals(events) == [result] and session.result is result
    assert result.kind == "error" and result.exception_type == "RuntimeError" and result.epoch == 1
    assert result.message.startswith("training failed at epoch 1, step ")
    assert result.message.endswith(": RuntimeError: boom in the forward pass")
    assert "Traceback" in result.traceback and "boom in the forward pass" in result.traceback
    assert "sabotaged" in result.traceback  # the frame that raised
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["message"] == result.message
    assert summary["reason"] == "failed" and summary["duration_s"] == result.duration_s > 0
    assert summary["ended_at"] is not None


def test_a_failure_names_the_step_that_failed(monkeypatch):
    sabotage(monkeypatch, 5, _boom)
    graph = example("digits_mlp")
    result, _ = train(graph, config_of(graph, epochs=1))
    assert result.step == 5 and result.message.startswith("training failed at epoch 1, step 5:")


def test_a_failure_while_validating_says_so(monkeypatch):
    """An exception in the validation pass is reported as such, not as a training step."""
    import layerloom.training.session as session_module

    real = session_module.plan_training

    def planned(*args, **kwargs):
        plan = real(*args, **kwargs)
        criterion = plan.compiled.criterion
        forward = criterion.forward

        def broken_in_eval(*inputs):
            if not criterion.training:
                raise RuntimeError("validation broke")
            return forward(*inputs)

        criterion.forward = broken_in_eval
        return plan

    monkeypatch.setattr(session_module, "plan_training", planned)
    graph = example("digits_mlp")
    result, _ = train(graph, config_of(graph, epochs=2))
    assert isinstance(result, Failed) and result.kind == "error"
    assert result.message == "training failed while validating epoch 1: RuntimeError: validation broke"
    assert result.epoch == 1 and result.step == DIGITS_STEPS


def test_labels_the_loss_cannot_take_fail_the_run_with_the_reason():
    """A label outside the declared classes makes CrossEntropyLoss raise inside the worker."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    y[10] = 7
    dataset = table_dataset(x[:48], y[:48], x[48:], y[48:] % 3, classes=("a", "b", "c"))
    session = TrainingSession(mlp_graph(features=4, classes=3), TrainingConfig().replace(epochs=1, batch_size=8),
                              dataset=dataset).start()
    events = until_terminal(session)
    assert session.join(10)
    result = events[-1]
    assert isinstance(result, Failed) and result.kind == "error" and _terminals(events) == [result]
    assert "Target 7 is out of bounds" in result.message and result.exception_type == "IndexError"


def test_out_of_memory_suggests_a_smaller_batch(monkeypatch, tmp_path):
    def out_of_memory(out):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    sabotage(monkeypatch, 3, out_of_memory)
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=1), run_root=tmp_path).start()
    events = until_terminal(session)
    assert session.join(10)
    result = events[-1]
    assert isinstance(result, Failed) and result.kind == "out_of_memory" and _terminals(events) == [result]
    assert "out of memory" in result.message and "with batch size 64" in result.message
    assert "try a smaller batch size (e.g. 32)" in result.message
    assert result.exception_type == "OutOfMemoryError"
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    assert (summary["status"], summary["reason"]) == ("failed", "out_of_memory")


def test_a_listener_that_raises_is_dropped_and_the_run_goes_on():
    graph = example("digits_mlp")
    broken_calls, good_calls = [], []

    def broken(event):
        broken_calls.append(event)
        raise ValueError("listener bug")

    session = TrainingSession(graph, config_of(graph, epochs=2), listeners=(broken, good_calls.append)).start()
    events = until_terminal(session)
    assert session.join(10)
    assert isinstance(events[-1], Finished) and len(of_type(events, EpochEnd)) == 2
    assert len(broken_calls) == 1 and isinstance(broken_calls[0], Preparing)  # its first event
    assert [type(e) for e in session.events.listener_errors] == [ValueError]
    assert good_calls == events


# --- refused set-ups ------------------------------------------------------------------------------


def test_a_refused_setup_on_the_worker_is_one_failed_event_with_the_problems():
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, dataset={"name": "iris"})).start()
    assert session.join(30)
    events = session.events.drain()
    # the set-up stages it went through, then one Failed event
    assert [(type(e), getattr(e, "stage", None)) for e in events] == [
        (Preparing, "loading_data"), (Preparing, "loading_data"), (Preparing, "compiling"), (Failed, None)]
    assert events[0].text == "Loading the dataset iris…" and events[1].text.startswith("Loaded iris: ")
    result = events[-1]
    assert result.kind == "setup" and result.exception_type == "SetupError" and result.traceback == ""
    assert result.message.startswith("cannot train:")
    assert [(p.node_id, p.param) for p in result.problems if p.severity == "error"] == [("image", "shape")]


def test_session_misuse_is_refused():
    with pytest.raises(ValueError, match="give a graph to train or a run to resume"):
        TrainingSession()
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=1)).start()
    with pytest.raises(RuntimeError, match="already started"):
        session.start()
    assert session.join(30)


def test_editing_the_graph_during_a_run_changes_nothing_in_it():
    graph = example("digits_mlp")
    session = TrainingSession(graph, config_of(graph, epochs=1))
    graph.set_param("fc1", "out_features", 7)
    result = session.run()
    assert isinstance(result, Finished)
    assert after_setup(session.events.drain())[0].parameters == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_cuda_device_is_a_setup_failure():
    graph = example("digits_mlp")
    result, _ = train(graph, config_of(graph, epochs=1, device="cuda"))
    assert isinstance(result, Failed) and "CUDA was asked for but no CUDA GPU is available" in result.message
    assert result.kind == "setup" and result.traceback == ""


# --- unreadable and hostile checkpoints -----------------------------------------------------------


class _Payload:
    """Unpickling this calls os.mkdir(marker): what a malicious checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_garbage_checkpoint_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00\x01 this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.pt: not a readable LayerLoom checkpoint"):
        load_checkpoint(path)


def test_other_files_are_not_layerloom_checkpoints(tmp_path):
    torch.save({"weights": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match=r"plain\.pt: not a LayerLoom checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    save_checkpoint({"graph": {}, "epoch": 1}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"partial\.pt: the checkpoint has no 'weights'"):
        load_checkpoint(tmp_path / "partial.pt")
    torch.save({"format": "layerloom-checkpoint", "version": 99, "weights": {}, "graph": {}, "epoch": 1},
               tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=r"future\.pt: checkpoint version 99 is newer"):
        load_checkpoint(tmp_path / "future.pt")


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_malicious_checkpoint_is_refused_without_running_its_payload(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "layerloom-checkpoint", "version": 1, "epoch": 1, "graph": {}, "weights": {},
               "extra": _Payload(str(marker))}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: the file asks to load Python code \(\w+\.mkdir\)"):
        load_checkpoint(path)
    assert not marker.exists()
    live = tmp_path / "live"  # the payload is real: an unrestricted unpickler runs it
    pickle.loads(pickle.dumps(_Payload(str(live))))
    assert live.is_dir()


def test_a_run_that_blew_up_without_a_nan_finishes_with_the_reason_it_did_not_learn():
    """A learning rate of 50 sends the digits MLP's loss to 1e8 and back without a NaN: the run ends,
    but says it did not learn, and why; a sound run says nothing of the kind."""
    from layerloom import load_graph
    from layerloom.files.resources import example_path
    from layerloom.training import Finished, TrainingConfig
    from layerloom.training.session import train

    graph = load_graph(example_path("digits_mlp"))
    for lr, bad in ((0.001, False), (50.0, True)):
        result, _ = train(graph, TrainingConfig.from_graph(graph).replace(epochs=2, optimizer={"lr": lr}))
        assert isinstance(result, Finished)
        assert bool(result.warnings) == bad
        if bad:
            assert "blew up" in result.message and "stayed at chance" in result.message
            assert result.warnings[-1] == "try a lower learning rate (it is 50)"


def _epochs(*losses, **scores) -> list[dict]:
    """A history of per-epoch records: ``losses`` as train_loss, ``scores`` as lists per metric."""
    return [{"epoch": i + 1, "train_loss": loss, **{k: v[i] for k, v in scores.items()}}
            for i, loss in enumerate(losses)]


def test_learning_warnings_name_each_way_a_run_did_not_learn_and_the_likely_fix():
    from layerloom.training.health import learning_warnings

    assert learning_warnings(_epochs(2.0, 0.5, 0.2, val_accuracy=[0.5, 0.8, 0.9]), 2.3, False, 0.1, 0.001) == []
    assert learning_warnings([], None, False, None, 0.001) == []     # no step ran: nothing to judge
    assert learning_warnings(_epochs(500.0, 3.0), 2.0, False, None, 50) == [
        "the training loss blew up from 2 to 500", "try a lower learning rate (it is 50)"]
    assert learning_warnings(_epochs(3.0, 3.5), 2.0, False, None, "0.1") == [
        "the training loss rose from 2 to 3.5", "try a lower learning rate"]   # a rate that is no number
    flat = _epochs(2.302, 2.3021, 2.3019)
    assert learning_warnings(flat, 2.302, False, None, 1e-9) == [
        "the training loss did not move (2.302 in epoch 1, 2.302 in epoch 3)",
        "check the learning rate (it is 1e-09): too low to move the weights, or so high that the network died; "
        "and check that the data and labels vary"]
    assert learning_warnings(flat, 2.302, True, None, 1e-9) == []    # a resumed run had learned already
    # a run resumed at epoch 3 is weighed from its own first step, not against its first session's epochs
    # (a CNN at loss 0.0025 after 82 epochs was said to have "blown up" from 0.00247 to epoch 1's 2.29)
    learned = _epochs(2.29, 0.5, 0.01, 0.0025, 0.0024)
    assert learning_warnings(learned, 0.00247, True, None, 0.001, since_epoch=3) == []
    # a run of 3 steps (batch 100,000 on 1,437 samples) that did not move is told to take more steps
    assert learning_warnings(flat, 2.302, False, None, 1e-3, steps=3)[-1].startswith(
        "it took only 3 optimizer steps: train more steps (a smaller batch size, or more epochs); or check the "
        "learning rate (it is 0.001): too low to move the weights")
    chance = _epochs(2.0, 1.0, val_accuracy=[0.11, 0.12])
    assert learning_warnings(chance, 2.3, False, 0.1, 0.01, steps=2)[-1] == \
        "it took only 2 optimizer steps: train more steps (a smaller batch size, or more epochs)"
    assert learning_warnings(flat, 2.302, False, None, 1e-3, steps=500)[-1].startswith("check the learning rate")
    assert learning_warnings(_epochs(2.29, 0.01, 0.0024, 5.0), 0.01, True, None, 0.001, since_epoch=2) == [
        "the training loss blew up from 0.01 to 5", "try a lower learning rate (it is 0.001)"]   # its own blow-up
    assert learning_warnings(_epochs(2.0, 1.0, val_accuracy=[0.11, 0.12]), 2.3, False, 0.1, 0.01) == [
        "its validation accuracy (12.0%) stayed at chance (10.0%)",
        "train longer, or check the learning rate (it is 0.01) and the labels"]
    assert learning_warnings(_epochs(2.0, 1.0, val_accuracy=[0.11, 0.13]), 2.3, False, 0.1, 0.01) == []
    warnings = learning_warnings(_epochs(2.0, 1.0, val_r2=[math.nan, 0.01]), 2.3, False, None, 0.01)
    assert warnings[0] == "its validation R² (0.010) stayed near 0: it predicts no better than the targets' mean"


def test_chance_accuracy_is_the_share_of_the_commonest_validation_class():
    from types import SimpleNamespace

    from layerloom.training.health import chance_accuracy

    data = SimpleNamespace(num_val=5, y_val=np.array([0, 2, 2, 1, 2]))
    assert chance_accuracy("classification", data) == pytest.approx(0.6)
    binary = SimpleNamespace(num_val=4, y_val=np.array([[0.9], [0.1], [0.8], [0.7]], np.float32))
    assert chance_accuracy("binary", binary) == pytest.approx(0.75)   # float targets: above 0.5 is class 1
    assert chance_accuracy("regression", data) is None
    assert chance_accuracy("classification", SimpleNamespace(num_val=0, y_val=None)) is None
