"""A training run in a child process: the same events and controls as a thread, and a child that dies
is reported, never waited on forever. A warm child (torch already imported) runs the same run without
the import stage; a dead one is replaced by a fresh child unseen."""

from __future__ import annotations

import time

import pytest

from layerloom import load_graph
from layerloom.files.resources import example_path
from layerloom.training import TrainingConfig
from layerloom.training.events import (STAGES, EpochEnd, Failed, Finished, Paused, Preparing, Resumed, RunStarted, Step,
                                     Stopped)
from layerloom.training.process import ProcessSession
from layerloom.training.worker import ENV_OFF, WarmProcess

pytestmark = pytest.mark.slow


def _events_until_done(session, limit: float = 120.0) -> list:
    events, deadline = [], time.monotonic() + limit
    while session.result is None and time.monotonic() < deadline:
        event = session.events.get(timeout=0.5)
        if event is not None:
            events.append(event)
    return events


def _session(tmp_path, epochs: int, **kwargs) -> ProcessSession:
    graph = load_graph(example_path("digits_mlp"))
    config = TrainingConfig.from_graph(graph).replace(epochs=epochs)
    return ProcessSession(graph, config, run_root=tmp_path, threads=1, **kwargs)


def _stages(events) -> list[str]:
    return [e.stage for e in events if isinstance(e, Preparing)]


def test_a_run_in_a_child_process_reports_every_step_and_writes_its_folder(tmp_path):
    session = _session(tmp_path, 2).start()
    events = _events_until_done(session)
    stages = _stages(events)
    assert stages[:2] == ["starting", "importing"] and set(stages) <= set(STAGES) and not session.warm_used
    events = [e for e in events if not isinstance(e, Preparing)]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], Finished)
    started = events[0]
    assert sum(len(e.losses) for e in events if isinstance(e, Step)) == 2 * started.steps_per_epoch
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    assert session.run_dir == started.run_dir and (tmp_path / started.run_dir.split("/")[-1]).is_dir()
    assert session.join(10)


def test_pause_resume_and_stop_reach_the_child(tmp_path):
    session = _session(tmp_path, 500).start()
    while not isinstance(session.events.get(timeout=0.5), Step):
        pass
    session.pause()
    events = []
    while not any(isinstance(e, Paused) for e in events):
        events += session.events.drain()
        time.sleep(0.05)
    assert session.paused
    session.resume()
    while not any(isinstance(e, Resumed) for e in events):
        events += session.events.drain()
        time.sleep(0.05)
    begin = time.perf_counter()
    session.stop()
    events += _events_until_done(session, 10)
    assert isinstance(session.result, Stopped) and time.perf_counter() - begin < 2.0
    assert session.join(10)


def test_a_child_that_dies_is_reported_as_failed(tmp_path):
    session = _session(tmp_path, 500).start()
    while session.events.get(timeout=0.5) is None:
        pass
    session.kill()
    events = _events_until_done(session, 10)
    assert isinstance(events[-1], Failed) and "ended unexpectedly" in events[-1].message
    assert session.result is events[-1]


def test_a_warm_child_runs_the_same_run_without_importing(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_OFF, raising=False)
    warm = WarmProcess().start()
    assert warm.wait_ready(120)
    session = _session(tmp_path, 1, warm=warm).start()
    events = _events_until_done(session)
    assert session.warm_used and session.worker is warm
    stages = _stages(events)
    assert stages[0] == "starting" and "importing" not in stages and stages.count("starting") == 1
    assert isinstance(events[-1], Finished) and any(isinstance(e, Step) for e in events)
    assert session.join(10)


def test_a_dead_warm_child_is_replaced_by_a_fresh_one_unseen(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_OFF, raising=False)
    warm = WarmProcess().start()
    warm.kill()
    session = _session(tmp_path, 1, warm=warm).start()
    events = _events_until_done(session)
    assert not session.warm_used and session.worker is not warm
    assert _stages(events)[:2] == ["starting", "importing"] and isinstance(events[-1], Finished)
    assert session.join(10)


def test_the_graph_files_path_travels_to_the_child_only_when_given(tmp_path):
    assert "source" not in _session(tmp_path, 1).job()
    assert _session(tmp_path, 1, source=tmp_path / "g.llgraph.json").job()["source"] == str(tmp_path / "g.llgraph.json")


def test_a_run_continues_from_its_folder_in_a_child_process(tmp_path):
    """The window resumes a stopped run this way: the child reads the graph and settings from the run's
    checkpoint and goes on in the same folder; only the length comes from the given settings. (The child's
    own function, run here in this process: spawning is what the other tests prove.)"""
    import threading

    from layerloom.training import train
    from layerloom.training.process import run_training_job

    graph = load_graph(example_path("digits_mlp"))
    first, _ = train(graph, TrainingConfig.from_graph(graph).replace(epochs=1), run_root=tmp_path, threads=1)
    assert isinstance(first, Finished)
    job = ProcessSession(graph, TrainingConfig.from_graph(graph).replace(epochs=2), threads=1,
                         resume=first.run_dir).job()
    assert job["resume"] == first.run_dir

    class Events(list):
        put = list.append

    class Pipe:   # the parent's end: no command comes
        def __init__(self):
            self.closed = threading.Event()

        def recv(self):
            self.closed.wait()
            raise EOFError

    events, pipe = Events(), Pipe()
    try:
        run_training_job(job, events, pipe)
    finally:
        pipe.closed.set()
    events = [e for e in events if not isinstance(e, Preparing)]
    started, result = events[0], events[-1]
    assert isinstance(started, RunStarted) and (started.start_epoch, started.epochs) == (1, 2)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [2]
    assert isinstance(result, Finished) and result.run_dir == first.run_dir and result.epochs == 2
