"""Warm worker processes: a child that has imported PyTorch before it is given its one job.

Importing torch takes seconds (more on a busy machine), and every training run and export runs in a
child process of its own. A ``WarmProcess`` pays that cost ahead of time, while the window is idle:

    pool = WarmPool()                 # the window keeps one; nothing starts yet
    pool.refill()                     # once the window is idle: one child starts importing torch
    session = ProcessSession(graph, config, run_root="runs", warm=pool.take()).start()
    ...                               # after the run: pool.refill() for the next one

A child takes exactly ONE job (a training run or a call such as an export) and then exits: a fresh
process per run keeps runs independent (no state, memory or thread settings carried over). The caller
starts the next warm child afterwards. A child ends by itself when its parent goes away (its pipe
closes), and ``close()`` ends an idle one. ``LAYERLOOM_NO_WARM=1`` turns warm children off: the pool
then hands out None and callers spawn a fresh child, as before.

The parent side imports neither torch nor Qt. Protocol, over one duplex pipe per child:

- child -> parent: ``("ready", facts)`` once torch is imported (a warm child only), and ``("preloaded",)``
  after each ``("preload", request)`` it handled while idle;
- parent -> child: one job, ``("train", kwargs)`` or ``("call", function, payload)``; then, for a
  training run, ``"pause"``/``"resume"``/``"stop"``;
- events and messages travel back on ``events``, a multiprocessing queue made with the child.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Any, Callable

ENV_OFF = "LAYERLOOM_NO_WARM"
IDLE_NICE = 10           # the idle child imports torch at a lower priority (restored for its job)


def warm_enabled() -> bool:
    """False when ``LAYERLOOM_NO_WARM`` is set to anything but "" or "0"."""
    return os.environ.get(ENV_OFF, "") in ("", "0")


class WarmProcess:
    """One child process for one job. ``WarmProcess().start()`` starts a warm child (it imports torch
    and waits); ``WarmProcess(job).start()`` starts a fresh child that runs ``job`` at once.

    ``warm_export``: the idle child also imports and runs the ONNX exporter once, so a first export
    is faster (see ``benchmarks/bench_export.py`` for what it costs and saves).
    """

    def __init__(self, job: tuple | None = None, *, warm_export: bool = False, name: str = "layerloom-worker"):
        self._job = job
        self.warm_export = warm_export
        self.name = name
        self.process = None
        self.events = None            # child -> parent: events and messages of the job
        self.conn = None              # duplex pipe: "ready", the job, then controls
        self.facts: dict[str, Any] = {}
        self.started_at = 0.0
        self.ready_at: float | None = None
        self.preloaded = 0               # preload requests the idle child has handled
        self._ready = job is not None  # a fresh child needs no "ready": its job is already in
        self._taken = job is not None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life
    def start(self) -> "WarmProcess":
        if self.process is not None:
            raise RuntimeError("this worker was already started")
        context = multiprocessing.get_context("spawn")
        self.events = context.Queue()
        parent_end, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_child_main, name=self.name, daemon=True,
                                       args=(child_end, self.events, self._job, self.warm_export))
        self.started_at = time.monotonic()
        self.process.start()
        child_end.close()           # the child's end lives in the child only: its exit closes the pipe
        self.conn = parent_end
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    @property
    def taken(self) -> bool:
        """A job was given (a fresh child's at start): it will never take another."""
        return self._taken

    @property
    def ready(self) -> bool:
        """The child has imported torch and waits for its job (never blocks)."""
        if not self._ready and self.conn is not None and not self._taken:
            try:
                while self.conn.poll(0):
                    self._heard(self.conn.recv())
            except (EOFError, OSError):
                return False
        return self._ready and self.alive

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the child is ready (True) or has died / the time is up (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready:
            if not self.alive or self._taken:
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                if self.conn.poll(0.05 if left is None else min(0.05, left)):
                    self._heard(self.conn.recv())
            except (EOFError, OSError):
                return False
        return True

    def _heard(self, message: Any) -> None:
        if isinstance(message, tuple) and message and message[0] == "ready":
            self._ready = True
            self.ready_at = time.monotonic()
            self.facts = dict(message[1] or {})
        elif isinstance(message, tuple) and message and message[0] == "preloaded":
            self.preloaded += 1

    def wait_preloaded(self, count: int = 1, timeout: float = 60.0) -> bool:
        """Wait until the idle child has handled ``count`` preload requests (loaded, or found it could not);
        False when it died, took a job or the time is up. (A job that arrives first is run at once: its
        own load then replaces the preload.)"""
        deadline = time.monotonic() + timeout
        while self.preloaded < count:
            if not self.alive or self._taken or time.monotonic() > deadline:
                return False
            try:
                if self.conn.poll(0.05):
                    self._heard(self.conn.recv())
            except (EOFError, OSError):
                return False
        return True

    @property
    def usable(self) -> bool:
        """Alive and not given a job yet: it can take one (perhaps after its import finishes)."""
        return not self._taken and self.alive

    def submit(self, job: tuple) -> bool:
        """Give the child its one job; False when it cannot take it (dead, or already given one)."""
        with self._lock:
            if self._taken or not self.alive:
                return False
            self.ready  # noqa: B018 - read a pending "ready" before the job goes out
            try:
                self.conn.send(job)
            except (BrokenPipeError, OSError, ValueError):
                return False
            self._taken = True
            return True

    def preload(self, graph_text: str, base_dir: str | None) -> bool:
        """Ask the idle child to load the dataset this graph trains on, ahead of its run (the run then
        skips the load when its settings are the same). False when the child took a job already."""
        with self._lock:
            if self._taken or self.conn is None:
                return False
            try:
                self.conn.send(("preload", {"graph": graph_text, "base_dir": base_dir}))
            except (BrokenPipeError, OSError, ValueError):
                return False
            return True

    def send(self, command: str) -> None:
        """A control for the running job ("pause", "resume", "stop"); ignored once the child is gone."""
        with self._lock:
            if self.conn is None:
                return
            try:
                self.conn.send(command)
            except (BrokenPipeError, OSError, ValueError):
                pass

    def kill(self, timeout: float = 5.0) -> None:
        """End the child now and reap it (no zombie)."""
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """End the child: an idle one (or one finishing its job) leaves when its pipe closes; one still
        there after ``timeout`` seconds is killed. Its queue is let go without waiting for undelivered
        events."""
        if self.process is None:
            return
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
        self.process.join(timeout)
        self.kill()
        if self.events is not None:
            self.events.cancel_join_thread()
            self.events.close()


def claim(warm: Any) -> WarmProcess | None:
    """A warm child to use from what a caller was given: a ``WarmProcess``, a ``WarmPool`` (one is
    taken from it) or None. None when warm children are off or none can take a job."""
    if warm is None or not warm_enabled():
        return None
    if hasattr(warm, "take"):
        warm = warm.take()
    return warm if isinstance(warm, WarmProcess) and warm.usable else None


def start_job(job: tuple, warm: Any = None, name: str = "layerloom-worker") -> tuple[WarmProcess, bool]:
    """``(process, warm_used)``: ``job`` given to a warm child when one can take it, else to a freshly
    spawned one. A warm child that died or refuses the job falls back to a fresh spawn, unseen."""
    process = claim(warm)
    if process is not None and process.submit(job):
        return process, True
    if process is not None:
        process.close(0)
    return WarmProcess(job, name=name).start(), False


class WarmPool:
    """Keeps up to ``size`` warm children for the window: ``refill()`` when idle, ``take()`` when a
    run or an export starts, ``close()`` at exit. Off (``take()`` gives None, ``refill()`` starts
    nothing) when ``LAYERLOOM_NO_WARM`` is set or ``enabled=False``.

    ``warm_export`` (default on): the children also warm the ONNX exporter, so one child serves a run
    or an export equally. Measured on the 2-core machine (benchmarks/bench_export.py): it costs 0.8 s
    more of idle-time CPU and 45 MiB (408 against 363 MiB), and saves about 0.95 s on every export
    (dialog to verified file 0.26 s against 1.21 s). A run that arrives first skips it."""

    def __init__(self, size: int = 1, *, warm_export: bool = True, enabled: bool | None = None):
        self.size = size
        self.warm_export = warm_export
        self._enabled = enabled
        self._children: list[WarmProcess] = []
        self.started = 0          # children started over the pool's life (for tests and status lines)

    @property
    def enabled(self) -> bool:
        return warm_enabled() if self._enabled is None else self._enabled and warm_enabled()

    def _prune(self) -> None:
        for child in [c for c in self._children if not c.usable]:
            child.close(0)
            self._children.remove(child)

    def refill(self) -> int:
        """Start children until ``size`` live ones are held; returns how many were started."""
        if not self.enabled:
            return 0
        self._prune()
        count = 0
        while len(self._children) < self.size:
            self._children.append(WarmProcess(warm_export=self.warm_export).start())
            count += 1
        self.started += count
        return count

    def take(self) -> WarmProcess | None:
        """A live child that has not been given a job (ready ones first), or None. The pool forgets it:
        the caller gives it its job, and calls ``refill()`` once the work is over."""
        if not self.enabled:
            return None
        self._prune()
        if not self._children:
            return None
        child = next((c for c in self._children if c.ready), self._children[0])
        self._children.remove(child)
        return child

    def preload(self, graph_text: str, base_dir: str | None) -> int:
        """Every idle child loads this graph's dataset ahead of its run; how many were asked."""
        if not self.enabled:
            return 0
        self._prune()
        return sum(1 for child in self._children if child.preload(graph_text, base_dir))

    @property
    def ready_count(self) -> int:
        return sum(1 for c in self._children if c.ready)

    def __len__(self) -> int:
        self._prune()
        return len(self._children)

    def close(self) -> None:
        """End every idle child (the window is closing)."""
        children, self._children = self._children, []
        for child in children:
            child.close()


# ---------------------------------------------------------------------- the child
def _child_main(conn, events, job: tuple | None, warm_export: bool) -> None:
    """A child's whole life: (warm) import torch, say ready and wait for one job; then run it."""
    if job is None:
        restore = _lower_priority()
        preloads: list[dict] = []
        waiting: list[tuple] = []

        def job_waiting() -> bool:
            """A job has arrived (preloads that come meanwhile are kept for after the warm-up)."""
            try:
                while not waiting and conn.poll():
                    message = conn.recv()
                    (preloads if _is_preload(message) else waiting).append(
                        message[1] if _is_preload(message) else message)
            except (EOFError, OSError):
                waiting.append(("gone",))
            return bool(waiting)

        facts = _warm_up(warm_export, job_waiting)
        try:
            conn.send(("ready", facts))
            if not job_waiting():
                for request in preloads[-PRELOAD_LIMIT:]:
                    _preload(request)      # the window's dataset, loaded before F5 asks for it
                    conn.send(("preloaded",))
            while not waiting:
                message = conn.recv()
                if _is_preload(message):
                    _preload(message[1])
                    conn.send(("preloaded",))
                else:
                    waiting.append(message)
        except (EOFError, OSError):
            return  # the parent went away (or closed an idle child)
        job = waiting[0]
        if job == ("gone",):
            return
        restore()
    kind = job[0]
    if kind == "train":
        try:
            from layerloom.training.process import run_training_job

            run_training_job(job[1], events, conn)
        except BaseException as exc:  # noqa: BLE001 - the window is told why, not just an exit code
            import traceback

            from layerloom.training.events import Failed

            events.put(Failed(f"the training process failed: {type(exc).__name__}: {exc}", "error",
                              traceback=traceback.format_exc(), exception_type=type(exc).__name__))
    elif kind == "call":
        _watch_parent(conn)
        function: Callable[[Any, Any], None] = job[1]
        function(job[2], events)
    _flush(events)


# Datasets an idle child loaded ahead (``WarmProcess.preload``), by ``dataset_key``; its job takes the
# one it asks for. A child makes one run, so what it holds is used at most once.
PRELOADED: dict[str, Any] = {}
PRELOAD_LIMIT = 2                  # datasets kept at once (the newest)
PRELOAD_MAX_BYTES = 64 * 2**20     # a file dataset larger than this is left to the run to load


def _is_preload(message: Any) -> bool:
    return isinstance(message, tuple) and len(message) == 2 and message[0] == "preload"


def dataset_key(settings: dict, base_dir: str | None, graph=None) -> str:
    """What identifies a dataset a run will load: its settings, the folder relative paths start from,
    and the names of the graph's Inputs and Targets (arrays named after them are read for each)."""
    import json

    from layerloom.training.feeds import data_layout

    layout = data_layout(graph) if graph is not None else None
    nodes = [layout.inputs, layout.targets] if layout is not None else None
    return json.dumps([settings, base_dir, nodes], sort_keys=True, default=str)


def _preload(request: dict) -> None:
    """Load the dataset a graph's training settings name (built-in, or a file below the size limit),
    and keep it for the job. A dataset that cannot load is left to the run, which says why."""
    from layerloom.files.graphfile import loads_graph
    from layerloom.training.config import TrainingConfig

    try:
        graph = loads_graph(request["graph"])
        settings = TrainingConfig.from_graph(graph).dataset
        base_dir = request.get("base_dir")
        key = dataset_key(settings, base_dir, graph)
        if key in PRELOADED:
            return
        path = settings.get("path")
        if path:
            from pathlib import Path

            file = Path(path) if Path(path).is_absolute() or base_dir is None else Path(base_dir) / path
            if not file.is_file() or file.stat().st_size > PRELOAD_MAX_BYTES:
                return
        from layerloom.data import load_dataset

        from layerloom.training.feeds import data_layout

        PRELOADED[key] = load_dataset(settings, base_dir=base_dir, layout=data_layout(graph))
        while len(PRELOADED) > PRELOAD_LIMIT:
            PRELOADED.pop(next(iter(PRELOADED)))
    except Exception:  # noqa: BLE001 - a preload only saves time; the run reports any problem itself
        return


def _warm_up(warm_export: bool, job_waiting: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Import what every run needs before its first step, and time each part. Imports only: no model,
    no data and no settings are kept, so a run in a warm child is the run a fresh one would make.
    Once a job is waiting, the rest is left to the job (it imports what it needs itself)."""
    facts: dict[str, Any] = {}
    started = time.perf_counter()
    import torch

    facts["torch_s"] = time.perf_counter() - started
    for name, step in (("training_s", _warm_training), ("data_s", _warm_data)) + \
            ((("export_s", _warm_export),) if warm_export else ()):
        if job_waiting():
            facts["interrupted"] = name
            break
        started = time.perf_counter()
        try:
            step(torch)
        except Exception as exc:  # noqa: BLE001 - a warm-up that fails only costs what it would save
            facts[name.replace("_s", "_error")] = f"{type(exc).__name__}: {exc}"
        facts[name] = time.perf_counter() - started
    return facts


def _warm_training(torch) -> None:
    # The first optimizer imports torch._dynamo (about 1.3-1.9 s here): pay it now, on a throw-away one.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    from layerloom.catalog.spec import default_catalog
    from layerloom.training import session  # noqa: F401 - the trainer, planner and compiler
    from layerloom.training.metrics import torchmetrics_functional

    torchmetrics_functional()   # the metrics (torchmetrics, scipy): about 0.25 s a run would wait for
    default_catalog()           # the node catalog the run's graph is read with (plugins included)


def _warm_data(torch) -> None:
    from layerloom.data import load_dataset  # noqa: F401 - the loaders (the small tables need no scikit-learn)


def _warm_export(torch) -> None:
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    # By name: the export layer sits above training (docs/architecture.md); a warm child only preloads it.
    import importlib

    importlib.import_module("layerloom.export.verify")  # and through it the PyTorch source tools
    importlib.import_module("layerloom.export.onnx_export").warm_exporter()   # the first trace pays the exporter's start-up (about 1 s here)


def _watch_parent(conn) -> None:
    """A call (an export) has no use once its parent is gone: leave when the pipe closes."""
    def watch() -> None:
        try:
            while True:
                conn.recv()
        except (EOFError, OSError):
            os._exit(0)

    threading.Thread(target=watch, name="layerloom-parent-watch", daemon=True).start()


def _flush(events) -> None:
    events.close()
    events.join_thread()  # every event is in the pipe before the process exits


def _lower_priority() -> Callable[[], None]:
    """Lower this idle child's CPU priority while it imports (the window comes first), when the
    original priority can be restored for the job (root, or RLIMIT_NICE allows it); else keep it."""
    if not hasattr(os, "nice"):
        return lambda: None
    try:
        import resource

        original = os.getpriority(os.PRIO_PROCESS, 0)
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
        allowed = os.geteuid() == 0 or soft == resource.RLIM_INFINITY or 20 - soft <= original
        if not allowed:
            return lambda: None
        os.setpriority(os.PRIO_PROCESS, 0, min(19, original + IDLE_NICE))
    except (ImportError, AttributeError, OSError):
        return lambda: None

    def restore() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, original)
        except OSError:
            pass

    return restore
