"""The thread policy (layerloom.training.threads): the faster of two measured counts, a person's choice
honoured, a collapse mid-run caught, and what a run reports. Fake clocks: no wall-clock asserts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_helpers import config_of, example, of_type

from layerloom.training import Finished, Note, RunStarted, Step, train
from layerloom.training import threads as policy
from layerloom.training.threads import (ENVIRONMENT, EXPLICIT, MEASURED, ThreadChoice, ThreadGuard, choose_threads,
                                        parse_threads, pick_faster)


class FakeMachine:
    """A clock that a step (or probe) moves on by its cost at the current thread count."""

    def __init__(self, step_s: dict[int, float], probe_s: dict[int, float] | None = None):
        self.now, self.threads = 0.0, 1
        self.step_s, self.probe_s = step_s, probe_s or {1: 1e-4, 2: 1e-4}
        self.steps = {1: 0, 2: 0}

    def timer(self) -> float:
        return self.now

    def set_threads(self, count: int) -> None:
        self.threads = count

    def step(self) -> None:
        self.steps[self.threads] += 1
        self.now += self.step_s[self.threads]

    def probe(self) -> None:
        self.now += self.probe_s[self.threads]

    def pick(self, **kwargs) -> ThreadChoice:
        return pick_faster(self.step, 2, set_threads=self.set_threads, timer=self.timer, probe=self.probe, **kwargs)


def test_the_faster_count_is_kept_and_set():
    fast_two = FakeMachine({1: 0.010, 2: 0.004})
    choice = fast_two.pick()
    assert (choice.threads, choice.source, fast_two.threads) == (2, MEASURED, 2)
    assert choice.step_s == pytest.approx({1: 0.010, 2: 0.004}) and "2.5x as fast as 1" in choice.reason
    fast_one = FakeMachine({1: 0.010, 2: 0.012})
    choice = fast_one.pick()
    assert (choice.threads, fast_one.threads) == (1, 1) and choice.reason == "faster than 2 on this machine"
    assert choice.describe() == "1 thread (faster than 2 on this machine)"


def test_a_small_gain_keeps_one_thread():
    """Under MARGIN the second thread is not worth it: 1 leaves a core free and never collapses."""
    choice = FakeMachine({1: 0.010, 2: 0.0095}).pick()
    assert choice.threads == 1 and choice.reason == "as fast as 2 on this machine"


def test_a_short_run_keeps_one_thread_after_timing_it_alone():
    machine = FakeMachine({1: 0.001, 2: 0.0001})
    choice = machine.pick(run_steps=1000)   # 1 s at 1 thread: under SHORT_RUN_S
    assert choice.threads == 1 and choice.reason == "enough for a short run" and machine.steps[2] == 0
    assert FakeMachine({1: 0.001, 2: 0.0001}).pick(run_steps=10_000).threads == 2


def test_a_busy_machine_is_seen_by_the_probe_without_a_slow_step():
    machine = FakeMachine({1: 0.002, 2: 0.5}, probe_s={1: 1e-4, 2: 5e-3})
    choice = machine.pick()
    assert choice.threads == 1 and choice.reason == "faster than 2 on this busy machine"
    assert machine.steps[2] == 0 and 2 not in choice.step_s


def test_a_collapsing_step_ends_the_measuring():
    """The probe looked fine, the first step at 2 threads took 100x: no second one is tried."""
    machine = FakeMachine({1: 0.002, 2: 0.2})
    choice = machine.pick()
    assert choice.threads == 1 and "busy" in choice.reason and machine.steps[2] == 1


def test_explicit_choices_win(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(policy, "pick_faster", lambda *a, **k: pytest.fail("measured an explicit choice"))
    try:
        monkeypatch.setattr(policy, "cores", lambda: 4)
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert choose_threads(2) == ThreadChoice(2, EXPLICIT, "as asked") and torch.get_num_threads() == 2
        assert choose_threads(None, object()) == ThreadChoice(3, ENVIRONMENT, "OMP_NUM_THREADS")
        # more than the cores is done as asked, with a warning in the reason (the CLI and the header say it)
        assert choose_threads(8).reason == "as asked; more than this machine's 4 cores, so likely much slower"
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert choose_threads(None, object(), device="cuda").reason == "training on CUDA"
    finally:
        torch.set_num_threads(before)
    assert [parse_threads(t) for t in ("auto", "", None, "4", 3)] == [None, None, None, 4, 3]
    for bad in ("-1", "two"):
        with pytest.raises(ValueError):
            parse_threads(bad)


def test_the_guard_drops_to_one_thread_when_steps_collapse():
    guard = ThreadGuard(ThreadChoice(2, MEASURED, "x", {1: 0.01, 2: 0.005}), batch_size=64)   # 12,800 samples/s
    assert guard.seen(12000) is None and guard.seen(3000) is None   # one slow report is noise
    dropped = guard.seen(2000)
    assert dropped.threads == 1 and "the machine got busy" in dropped.reason and not guard.active
    assert guard.seen(100) is None
    assert not ThreadGuard(ThreadChoice(2, EXPLICIT, "as asked"), 64).active   # a person's choice stays
    assert not ThreadGuard(ThreadChoice(1, MEASURED, "x"), 64).active


def test_a_run_reports_its_threads_and_measuring_leaves_it_untouched(monkeypatch, tmp_path):
    """A measured run says its count and why (RunStarted, config.json); the measuring runs real steps on
    copies, so the run equals one given that count outright (same seed, same weights)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(policy, "cores", lambda: 2)
    seen = {}

    def measured(step, many, *, set_threads, **kwargs):
        for _ in range(3):
            step()   # the real calibration step, on copies
        seen["threads"] = many
        return ThreadChoice(1, MEASURED, "faster than 2 on this busy machine", {1: 0.001})

    monkeypatch.setattr(policy, "pick_faster", measured)
    graph = example("digits_mlp")
    config = config_of(graph, epochs=1, steps=6, device="cpu")
    result, session = train(graph, config, run_root=tmp_path)
    assert isinstance(result, Finished) and seen["threads"] == 2
    started = of_type(session.events.drain(), RunStarted)[0]
    assert (started.threads, started.threads_reason) == (1, "faster than 2 on this busy machine")
    device = json.loads((Path(result.run_dir) / "config.json").read_text())["device"]
    assert device["threads"] == 1 and device["thread_choice"]["reason"] == started.threads_reason
    monkeypatch.setattr(policy, "pick_faster", lambda *a, **k: pytest.fail("measured an explicit choice"))
    _, fixed = train(graph, config, threads=1)
    assert fixed.thread_choice.source == EXPLICIT
    assert fixed.trainer.history == session.trainer.history
    for a, b in zip(fixed.trainer.criterion.parameters(), session.trainer.criterion.parameters()):
        assert torch.equal(a, b)


def test_a_collapse_mid_run_drops_the_run_to_one_thread(monkeypatch):
    """The guard sits on the trainer's channel: Step speeds far under the measured one switch the
    training thread to 1 (seen from a listener, which runs on that thread)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(policy, "cores", lambda: 2)
    # measured at an impossible 1 µs a step: every real step looks like a collapse
    monkeypatch.setattr(policy, "pick_faster", lambda step, many, *, set_threads, **k: (
        set_threads(2), ThreadChoice(2, MEASURED, "measured", {1: 1e-5, 2: 1e-6}))[1])
    counts = []
    graph = example("digits_mlp")
    before = torch.get_num_threads()
    try:
        result, session = train(graph, config_of(graph, epochs=1, steps=8, device="cpu"), step_interval=0,
                                listeners=(lambda e: counts.append(torch.get_num_threads()) if isinstance(e, Step)
                                           else None,))
    finally:
        torch.set_num_threads(before)
    assert isinstance(result, Finished)
    assert session.thread_choice.threads == 1 and "got busy" in session.thread_choice.reason
    assert counts[0] == 2 and counts[-1] == 1
    notes = of_type(session.events.drain(), Note)   # the window's header and the CLI hear of it at once
    assert len(notes) == 1 and notes[0].threads == 1 and notes[0].threads_reason == session.thread_choice.reason
    assert notes[0].text.startswith("training goes on with 1 thread (")
