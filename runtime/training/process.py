"""A training run in a child process, driven like a ``TrainingSession``.

A run on a thread shares the interpreter lock with its caller: in the editor, every millisecond the
GUI thread spends in Python (painting charts, handling input) is a millisecond the training loop
cannot run its own Python, and a small network's step is mostly Python. Measured on 2 cores with the
digits MLP (benchmarks/bench_gui_training.py): a worker thread trained at 0.4-0.7x of headless speed
behind a live dashboard, with event-loop stalls of 100-250 ms. A child process shares nothing but a
queue of event records, so neither side waits for the other.

    session = ProcessSession(graph, run_root="runs").start()
    events = session.events.drain()      # RunStarted, Step, EpochEnd... as the run makes them
    session.pause(); session.resume(); session.stop()

The child is started with the ``spawn`` method (safe next to Qt and torch threads), receives the
graph as its JSON text and the settings as a dict, and stops by itself when the parent goes away.
This module imports neither torch nor Qt: the child imports torch, the caller never has to.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from pathlib import Path
from typing import Any

from ..graph import Graph
from ..graphfile import dumps_graph, loads_graph
from .config import TrainingConfig
from .events import TERMINAL, Failed

COMMANDS = ("pause", "resume", "stop")


class ProcessEvents:
    """The parent's end of the child's event queue, with ``EventChannel``'s ``get`` and ``drain``."""

    def __init__(self, session: "ProcessSession"):
        self._session = session
        self._queue = None

    def get(self, timeout: float | None = None) -> Any | None:
        if self._queue is None:
            return None
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return self._session._check_alive()
        return self._session._seen(event)

    def drain(self) -> list[Any]:
        events = []
        while self._queue is not None:
            try:
                events.append(self._session._seen(self._queue.get_nowait()))
            except queue.Empty:
                break
        if not events:
            lost = self._session._check_alive()
            if lost is not None:
                events.append(lost)
        return events


class ProcessSession:
    """``TrainingSession``'s controls and events, with the run in a child process.

    ``graph`` is snapshotted at construction; ``threads`` is the child's torch thread count (default:
    the same rule as a worker thread, all cores but one).
    """

    def __init__(self, graph: Graph, config: TrainingConfig | None = None, *, run_root: str | Path | None = None,
                 base_dir: str | Path | None = None, threads: int | None = None,
                 step_interval: float | None = None):
        self.graph = graph.copy()
        self.config = config
        self.run_root = Path(run_root) if run_root is not None else None
        self.base_dir = base_dir
        self.threads = threads
        self.step_interval = step_interval
        self.events = ProcessEvents(self)
        self.result = None
        self.run_dir: str | None = None
        self._process = None
        self._conn = None
        self._paused = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ control
    def start(self) -> "ProcessSession":
        if self._process is not None:
            raise RuntimeError("this session was already started")
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        parent_end, child_end = context.Pipe()
        config = self.config.to_dict() if self.config is not None else None
        self._process = context.Process(
            target=_child_main, name="layerloom-training", daemon=True,
            args=(dumps_graph(self.graph), config, _text(self.run_root), _text(self.base_dir), self.threads,
                  self.step_interval, events, child_end))
        self._process.start()
        child_end.close()
        self._conn = parent_end
        self.events._queue = events
        return self

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
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.send(command)
            except (BrokenPipeError, OSError):
                pass  # the child has ended: its terminal event says how

    # ------------------------------------------------------------------ events
    def _seen(self, event: Any) -> Any:
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


def _child_main(graph_text: str, config: dict | None, run_root: str | None, base_dir: str | None,
                threads: int | None, step_interval: float | None, events, conn) -> None:
    """The child: train on its main thread, obey pause/resume/stop from the pipe, stop when the parent
    goes away (the pipe closes)."""
    import torch

    from .session import TrainingSession, worker_threads

    torch.set_num_threads(threads or worker_threads())
    session = TrainingSession(loads_graph(graph_text), TrainingConfig.from_dict(config) if config else None,
                              run_root=run_root, base_dir=base_dir, listeners=(events.put,), queue_events=False,
                              step_interval=step_interval)

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
    events.close()
    events.join_thread()  # every event is in the pipe before the process exits
