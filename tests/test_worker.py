"""Warm worker processes: torch imported before the job, one job per child, a dead or busy child
replaced by a fresh one unseen, no child outliving its parent, and a switch that turns them off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from layerloom.training.worker import ENV_OFF, WarmPool, WarmProcess, start_job

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


# jobs for the children: top-level functions, importable in the spawned process
def report_state(payload, channel):
    channel.put(("done", {"torch_before": payload, "torch": "torch" in sys.modules, "pid": os.getpid(),
                          "trainer": "layerloom.training.session" in sys.modules,
                          "priority": os.getpriority(os.PRIO_PROCESS, 0)}))


def gone(pid: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # our own child: reap it so it does not linger as a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False


def test_a_warm_child_has_torch_in_before_its_one_job(monkeypatch):
    monkeypatch.delenv(ENV_OFF, raising=False)
    worker = WarmProcess().start()
    try:
        assert worker.wait_ready(120), "the warm child never said it was ready"
        assert worker.facts["torch_s"] > 0 and "training_s" in worker.facts
        assert worker.submit(("call", report_state, "sent"))
        kind, state = worker.events.get(timeout=60)
        assert kind == "done" and state["torch"] and state["trainer"] and state["pid"] == worker.process.pid
        assert state["priority"] == os.getpriority(os.PRIO_PROCESS, 0)   # the idle child's lower priority is undone
        assert not worker.submit(("call", report_state, "again"))    # one job per child
        worker.process.join(30)
        assert worker.process.exitcode == 0                          # it leaves after its job
    finally:
        worker.close()


def test_a_dead_warm_child_falls_back_to_a_fresh_one(monkeypatch):
    monkeypatch.delenv(ENV_OFF, raising=False)
    warm = WarmProcess().start()
    warm.kill()
    process, used = start_job(("call", report_state, "fresh"), warm)
    try:
        assert not used and process is not warm
        kind, state = process.events.get(timeout=120)
        assert kind == "done" and state["pid"] == process.process.pid and not state["trainer"]  # no warm-up
    finally:
        process.close()


def test_an_idle_child_closes_and_one_whose_parent_dies_leaves_by_itself(monkeypatch):
    monkeypatch.delenv(ENV_OFF, raising=False)
    worker = WarmProcess().start()
    worker.close()
    assert not worker.alive and worker.process.exitcode is not None
    # a parent that starts a warm child and dies without a word (killed, crashed)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from layerloom.training.worker import WarmProcess
        if __name__ == "__main__":
            child = WarmProcess().start()
            print(child.process.pid, flush=True)
            os._exit(0)
    """)
    env = {k: v for k, v in os.environ.items() if k != ENV_OFF}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    pid = int(out.stdout.split()[0])
    assert gone(pid), f"the orphaned warm child {pid} is still running"


def test_the_pool_hands_out_children_and_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(ENV_OFF, "1")
    pool = WarmPool()
    assert not pool.enabled and pool.refill() == 0 and pool.take() is None and len(pool) == 0
    process, used = start_job(("call", report_state, None), pool)   # off: a fresh child does the job
    assert not used
    process.close()
    monkeypatch.setenv(ENV_OFF, "0")
    pool = WarmPool()
    try:
        assert pool.refill() == 1 and pool.refill() == 0 and len(pool) == 1
        child = pool.take()
        assert isinstance(child, WarmProcess) and child.usable and len(pool) == 0
        child.close()
        assert pool.refill() == 1 and pool.started == 2
    finally:
        pool.close()
    assert len(pool) == 0


def test_a_dataset_preloaded_by_the_idle_child_is_the_one_its_run_uses_and_warm_up_goes_on(monkeypatch, tmp_path):
    """The window asks the idle child to load its graph's dataset ahead of F5 (even while the child
    still warms up): the run then starts from it, and the warm-up was not cut short by the request."""
    from layerloom import dumps_graph, load_graph
    from layerloom.files.resources import example_path
    from layerloom.training.events import TERMINAL, Preparing
    from layerloom.training.process import ProcessSession

    monkeypatch.delenv(ENV_OFF, raising=False)
    graph = load_graph(example_path("digits_mlp"))
    graph.training = {**(graph.training or {}), "epochs": 1}
    worker = WarmProcess().start()
    try:
        assert worker.preload(dumps_graph(graph), None)           # sent at once, while torch imports
        assert worker.wait_ready(120)
        assert "interrupted" not in worker.facts                   # a preload is not a job
        assert worker.wait_preloaded(1, 120)   # loaded before F5 (a job sent sooner would load it itself)
        session = ProcessSession(graph, run_root=tmp_path / "runs", warm=worker).start()
        stages = []
        while session.result is None:
            event = session.events.get(timeout=60)
            if isinstance(event, Preparing):
                stages.append(event.text)
            if isinstance(event, TERMINAL):
                break
        assert session.warm_used and type(session.result).__name__ == "Finished"
        assert not any(text.startswith("Loading the dataset") for text in stages)   # it was loaded ahead
        assert any(text.startswith("Loaded digits") for text in stages)
    finally:
        worker.close()


def test_a_training_job_that_breaks_before_its_run_says_why_not_only_an_exit_code(monkeypatch):
    """A child whose job fails outside the trainer (here: a graph text it cannot read) sends a Failed
    event with the reason, instead of ending with 'the process ended unexpectedly (exit code 1)'."""
    from layerloom.training.events import Failed

    worker = WarmProcess(("train", {"graph": "{ not a graph"})).start()
    try:
        event = worker.events.get(timeout=120)
        while not isinstance(event, Failed):
            event = worker.events.get(timeout=120)
        assert event.message.startswith("the training process failed:") and event.exception_type
        assert event.traceback
    finally:
        worker.close()
