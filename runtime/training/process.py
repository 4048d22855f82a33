"""A training run in a child process, driven like a ``TrainingSession``.

A run on a thread shares the interpreter lock with its caller: in the editor, every millisecond the
GUI thread spends in Python (painting charts, handling input) is a millisecond the training loop
cannot run its own Python, and a small network's step is mostly Python. Measured on 2 cores with the
digits MLP (benchmarks/bench_gui_training.py): a worker thread trained at 0.4-0.7x of headless speed
behind a live dashboard, with event-loop stalls of 100-250 ms. A child process shares nothing but a
queue of event records, so neither side waits for the other.

    session = ProcessSession(graph, run_root="runs", warm=pool.take()).start()
    events = session.events.drain()      # Preparing, RunStarted, Step, EpochEnd... as the run makes them
    session.pause(); session.resume(); session.stop()

The child is started with the ``spawn`` method (safe next to Qt and torch threads), receives the
graph as its JSON text and the settings as a dict, and stops by itself when the parent goes away.
``warm``: a ``layerloom.training.worker.WarmProcess`` (or a ``WarmPool`` to take one from) that has imported
torch already, so the run reaches its first step seconds sooner; without one, or when it died, a
fresh child is spawned. The first event is always ``Preparing("starting")``; a child that must
import torch first says ``Preparing("importing")``. This module imports neither torch nor Qt: the
child imports torch, the caller never has to.
"""

from __future__ import annotations

import collections
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from layerloom.model.graph import Graph
from layerloom.files.graphfile import dumps_graph, loads_graph
from layerloom.training.config import TrainingConfig
from layerloom.training.events import TERMINAL, Failed, Preparing

COMMANDS = ("pause", "resume", "stop")
STARTING = Preparing("starting", "Starting the training process…")
IMPORTING = Preparing("importing", "Importing PyTorch…")


class ProcessEvents:
    """The parent's end of the child's event queue, with ``EventChannel``'s ``get`` and ``drain``."""

    def __init__(self, session: "ProcessSession"):
        self._session = session
        self._queue = None
        self._local: collections.deque = collections.deque()   # events the parent itself says

    def get(self, timeout: float | None = None) -> Any | None:
        if self._local:
            return self._local.popleft()
        if self._queue is None:
            return None
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return self._session._check_alive()
        return self._session._seen(event)   # None for a repeated "starting" (the parent said it)

    def drain(self) -> list[Any]:
        events = []
        while self._local:
            events.append(self._local.popleft())
        while self._queue is not None:
            try:
                event = self._session._seen(self._queue.get_nowait())
            except queue.Empty:
                break
            if event is not None:
                events.append(event)
        if not events:
            lost = self._session._check_alive()
            if lost is not None:
                events.append(lost)
        return events


class ProcessSession:
    """``TrainingSession``'s controls and events, with the run in a child process.

    ``graph`` is snapshotted at construction; ``threads`` is the child's torch thread count (default:
    measured by the run, see ``layerloom.training.threads``). ``source``: the graph file's path, recorded
    in the run folder. ``warm``: a ``WarmProcess`` or ``WarmPool`` (see the module's doc).
    ``warm_used`` says, once started, whether the run went to a warm child.
    """

    def __init__(self, graph: Graph, config: TrainingConfig | None = None, *, run_root: str | Path | None = None,
                 base_dir: str | Path | None = None, threads: int | None = None,
                 step_interval: float | None = None, source: str | Path | None = None, warm: Any = None,
                 resume: str | Path | None = None):
        self.graph = graph.copy()
        self.resume_from = resume   # a run folder (or checkpoint) to continue: its own graph and settings
        self.config = config
        self.run_root = Path(run_root) if run_root is not None else None
        self.base_dir = base_dir
        self.threads = threads
        self.step_interval = step_interval
        self.source = source
        self.warm = warm
        self.warm_used = False
        self.worker = None
        self.events = ProcessEvents(self)
        self.result = None
        self.run_dir: str | None = None
        self._process = None
        self._conn = None
        self._paused = False

    # ------------------------------------------------------------------ control
    def start(self) -> "ProcessSession":
        from layerloom.training.worker import start_job

        if self._process is not None:
            raise RuntimeError("this session was already started")
        self.events._local.append(STARTING)
        job = ("train", self.job())
        self.worker, self.warm_used = start_job(job, self.warm, name="layerloom-training")
        self.warm = None
        if self.warm_used and not self.worker.ready:  # still importing: the run waits for it
            self.events._local.append(IMPORTING)
        self._process = self.worker.process
        self._conn = self.worker
        self.events._queue = self.worker.events
        return self

    def job(self) -> dict[str, Any]:
        """What the child needs to run this session, as plain data."""
        job = {"graph": dumps_graph(self.graph), "config": self.config.to_dict() if self.config is not None else None,
               "run_root": _text(self.run_root), "base_dir": _text(self.base_dir), "threads": self.threads,
               "step_interval": self.step_interval}
        if self.source is not None:
            job["source"] = str(self.source)
        if self.resume_from is not None:
            job["resume"] = str(self.resume_from)
        return job

    def pause(self) -> None:
        self._paused = True
        self._send("pause")

    def resume(self) -> None:
        self._paused = False
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def kill(self) -> None:
        """End the child now (it did not stop in time); the run is reported as stopped."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child to exit; True when it has."""
        if self._process is None:
            return self.result is not None
        self._process.join(timeout)
        return not self._process.is_alive()

    @property
    def running(self) -> bool:
        return self._process is not None and self.result is None

    @property
    def paused(self) -> bool:
        return self._paused and self.running

    def _send(self, command: str) -> None:
        if self._conn is not None:
            self._conn.send(command)   # ignored once the child has ended: its terminal event says how

    # ------------------------------------------------------------------ events
    def _seen(self, event: Any) -> Any:
        if isinstance(event, Preparing) and event.stage == STARTING.stage:
            return None   # the parent said it when it started the child
        if getattr(event, "run_dir", None):
            self.run_dir = event.run_dir
        if isinstance(event, TERMINAL):
            self.result = event
        return event

    def _check_alive(self) -> Failed | None:
        """A child that died without a terminal event (killed, crashed in native code) becomes one."""
        process = self._process
        if process is None or self.result is not None or process.is_alive():
            return None
        try:  # events the child queued just before exiting
            while True:
                event = self._seen(self.events._queue.get(timeout=0.2))
                if isinstance(event, TERMINAL):
                    return event
        except queue.Empty:
            pass
        code = process.exitcode
        self.result = Failed(f"the training process ended unexpectedly (exit code {code})", "error",
                             run_dir=self.run_dir)
        return self.result


def _text(path) -> str | None:
    return None if path is None else str(path)


def run_training_job(job: dict[str, Any], events, conn) -> None:
    """The child: train on its main thread, obey pause/resume/stop from the pipe, stop when the parent
    goes away (the pipe closes). A child that has not imported torch yet says so first."""
    if "torch" not in sys.modules:
        events.put(IMPORTING)
    import torch  # noqa: F401 - imported before the session, so the "importing" stage is what it says

    from layerloom.training.session import TrainingSession

    config = job.get("config")
    extra = {"source": job["source"]} if job.get("source") is not None else {}
    graph = loads_graph(job["graph"])
    if job.get("resume"):   # the checkpoint brings its graph; the given settings change only its length
        graph, extra["resume"] = None, job["resume"]
    else:
        preloaded = _preloaded(graph, config, job.get("base_dir"))
        if preloaded is not None:
            extra["dataset"] = preloaded
    session = TrainingSession(graph, TrainingConfig.from_dict(config) if config else None,
                              run_root=job.get("run_root"), base_dir=job.get("base_dir"), listeners=(events.put,),
                              queue_events=False, step_interval=job.get("step_interval"),
                              threads=job.get("threads"), **extra)

    def obey() -> None:
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                session.stop()  # the parent is gone
                return
            if command in COMMANDS:
                getattr(session, command)()

    threading.Thread(target=obey, name="layerloom-control", daemon=True).start()
    session.run()


def _preloaded(graph: Graph, config: dict | None, base_dir: str | None):
    """The dataset this warm child loaded ahead for these settings, if it did (``layerloom.training.worker``)."""
    from layerloom.training.worker import PRELOADED, dataset_key

    if not PRELOADED:
        return None
    settings = (TrainingConfig.from_dict(config) if config else TrainingConfig.from_graph(graph)).dataset
    return PRELOADED.pop(dataset_key(settings, base_dir, graph), None)
