"""A training run on a background thread: start, pause, resume, stop, and events to read.

    session = TrainingSession(graph, run_root="runs").start()
    for event in session.events_until_done():
        print(event)

``stop()`` takes effect at the next step (or validation chunk), so well within a second for any
network that trains at least one batch per second; the thread always ends with a terminal event.
Setup (checking the graph, loading the dataset, compiling) also runs on the worker thread, so a big
image folder never freezes the caller; call ``plan_training`` first to show problems up front. Each
set-up stage is announced as it begins with a ``Preparing`` event: loading the dataset, what was
loaded, compiling, and (from the trainer) the first step.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from layerloom.model.analysis import Problem, analyze
from layerloom.data import Dataset, DatasetError, load_dataset
from layerloom.data.settings import resolve_settings
from layerloom.core.errors import LayerLoomError
from layerloom.model.graph import Graph
from layerloom.files.graphfile import dumps_graph, load_graph
from layerloom.training.config import TrainingConfig
from layerloom.training.control import RunControl
from layerloom.training.events import TERMINAL, EventChannel, Failed, Preparing
from layerloom.training.feeds import data_layout
from layerloom.training.plan import Plan, SetupError, plan_training
from layerloom.training.records import CONFIG_FILE, GRAPH_FILE
from layerloom.training.runs import checkpoint_config, checkpoint_graph, load_checkpoint, new_run_dir
from layerloom.training.trainer import Trainer

IDLE, RUNNING, FINISHED = "idle", "running", "finished"


class TrainingSession:
    """One run. ``graph`` is snapshotted (``Graph.copy``) at construction, so editing the original
    during the run changes nothing in it.

    ``run_root``: where the run folder is created (None: no files are written). ``resume``: a run folder
    or checkpoint to continue; its graph and settings are used, ``config`` may raise the epoch count.
    ``source``: the graph file being trained (the editor's document, the CLI's argument), recorded in the
    run folder's config.json and summary.json so a run can be found from its graph; None for an unsaved
    graph (a resumed run keeps the source it recorded).
    """

    def __init__(self, graph: Graph | None = None, config: TrainingConfig | None = None, *,
                 run_root: str | Path | None = None, dataset: Dataset | None = None,
                 base_dir: str | Path | None = None, resume: str | Path | None = None,
                 listeners: tuple[Callable[[Any], None], ...] = (), queue_events: bool = True,
                 threads: int | None = None, step_interval: float | None = None,
                 source: str | os.PathLike | None = None):
        if graph is None and resume is None:
            raise ValueError("give a graph to train or a run to resume")
        self.graph = graph.copy() if graph is not None else None
        self.config = config
        self.run_root = Path(run_root) if run_root is not None else None
        self.dataset = dataset
        self.base_dir = base_dir
        self.resume_from = resume
        self.source = _absolute(source) if source is not None else None
        self.events = EventChannel(listeners, keep=queue_events)
        self.threads = threads
        self.control = RunControl()
        self.result = None          # the terminal event once the run is over
        self.plan: Plan | None = None
        self.trainer: Trainer | None = None
        self._step_interval = step_interval
        self._thread: threading.Thread | None = None
        self._run_dir: Path | None = None
        self._state = IDLE

    # ------------------------------------------------------------------ control
    def start(self) -> "TrainingSession":
        """Run on a new daemon thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("this session was already started")
        self._state = RUNNING
        # Touch the caller's count before the worker exists: torch initialises a thread's count from a
        # process-wide value on first use, which the worker's set_num_threads would otherwise change.
        torch.get_num_threads()
        threads = self.threads or worker_threads()
        self._thread = threading.Thread(target=self._work, args=(threads,), name="layerloom-training", daemon=True)
        self._thread.start()
        return self

    def _work(self, threads: int) -> None:
        # Intra-op threads are per OS thread (OpenMP): this sets the worker's alone, never the caller's.
        torch.set_num_threads(threads)
        self.run()

    def run(self):
        """Run on the calling thread (what the worker thread does); returns the terminal event."""
        if self._state != IDLE and threading.current_thread() is not self._thread:
            raise RuntimeError("this session already ran (or is running); make a new TrainingSession")
        self._state = RUNNING
        try:
            resume = self._prepare()
        except BaseException as exc:  # noqa: BLE001 - setup failures become a Failed event
            self.result = _setup_failure(exc)
            self.events.put(self.result)
            self._state = FINISHED
            return self.result
        kwargs = {} if self._step_interval is None else {"step_interval": self._step_interval}
        self.trainer = Trainer(self.plan, self.events, self.control, self._run_dir, resume, source=self.source,
                               **kwargs)
        self.result = self.trainer.run()
        self._state = FINISHED
        return self.result

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread; True when it has ended."""
        if self._thread is None:
            return self._state == FINISHED
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._state == RUNNING

    @property
    def paused(self) -> bool:
        return self.control.pause_requested and self.running

    def events_until_done(self, poll: float = 0.5) -> Iterator[Any]:
        """Yield events as they come until (and including) the terminal one."""
        while True:
            event = self.events.get(timeout=poll)
            if event is None:
                if self._state == FINISHED and self.result is not None:
                    # the terminal event was already taken by someone else
                    return
                continue
            yield event
            if isinstance(event, TERMINAL):
                return

    # ------------------------------------------------------------------ setup
    def _prepare(self) -> dict | None:
        resume = None
        if self.resume_from is not None:
            resume = self._load_resume(Path(self.resume_from))
        elif self.config is None:
            self.config = TrainingConfig.from_graph(self.graph)
        self.config = _absolute_dataset_path(self.config, self.base_dir)
        analysis = analyze(self.graph)  # a broken graph is refused before a long load
        if analysis.errors:
            raise SetupError(analysis.errors)
        dataset = self.dataset
        if dataset is None:
            self._preparing("loading_data", f"Loading the dataset {_dataset_label(self.config.dataset)}…")
            try:
                dataset = load_dataset(self.config.dataset, base_dir=self.base_dir,
                                       layout=data_layout(self.graph, analysis))
            except DatasetError as exc:  # as plan_training reports it
                raise SetupError([Problem("dataset", str(exc), label="dataset")]) from exc
        self._preparing("loading_data", f"Loaded {dataset.summary().splitlines()[0]}")   # one line: a status
        self._preparing("compiling", f"Compiling the graph ({len(self.graph)} nodes)…")
        self.plan = plan_training(self.graph, self.config, dataset=dataset, base_dir=self.base_dir)
        self.config = self.plan.config
        if self._run_dir is None and self.run_root is not None:
            self._run_dir = new_run_dir(self.run_root, self.graph.name or "run")
        return resume

    def _preparing(self, stage: str, text: str) -> None:
        self.events.put(Preparing(stage, text))

    def _load_resume(self, source: Path) -> dict:
        """The checkpoint to continue, its graph and settings, and the run folder to continue in
        (its own, or a new one when the checkpoint does not sit in a run folder)."""
        state = load_checkpoint(source)
        self.graph = checkpoint_graph(state)
        config = checkpoint_config(state)
        if self.config is not None:  # a run given in steps keeps its epochs setting (steps decide its length)
            config = config.replace(steps=self.config.steps) if self.config.steps else \
                config.replace(epochs=self.config.epochs, steps=0)
        self.config = config
        done = int(state["epoch"])
        if config.steps and int(state.get("step") or 0) >= config.steps:
            raise LayerLoomError(f"the run already trained {int(state.get('step') or 0):,} of {config.steps:,} "
                                 "steps; ask for more steps to continue it")
        if not config.steps and done >= config.epochs:
            raise LayerLoomError(f"the run already trained {done} of {config.epochs} epochs; "
                                 "ask for more epochs to continue it")
        folder = _resume_dir(source)
        if not (folder / CONFIG_FILE).is_file() or not (folder / GRAPH_FILE).is_file():
            return state  # a checkpoint from elsewhere (a torchrun job, a download): continue in a new run
        if dumps_graph(load_graph(folder / GRAPH_FILE)) != dumps_graph(self.graph):
            raise LayerLoomError(f"{source}: this checkpoint was trained from another graph than the run "
                                 f"folder's {GRAPH_FILE}; copy it to a folder of its own to continue it")
        last = folder / "checkpoints" / "last.pt"
        if last.is_file() and last.resolve() != (source / "checkpoints" / "last.pt" if source.is_dir()
                                                  else source).resolve():
            later = int(load_checkpoint(last)["epoch"])
            if later > done:
                raise LayerLoomError(
                    f"{source.name} is from epoch {done}, but this run went on to epoch {later}: continuing "
                    f"from it would discard epochs {done + 1}-{later}. Resume the run folder (its last "
                    f"checkpoint), or copy {source.name} to a folder of its own")
        self._run_dir = folder
        return state


def _absolute(path: str | os.PathLike) -> str:
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


def _dataset_label(settings: dict) -> str:
    """How a person names the dataset: its file or folder name, else the built-in's name."""
    try:
        values = resolve_settings(settings)
    except DatasetError:  # load_dataset says what is wrong in a moment
        values = settings if isinstance(settings, dict) else {}
    path = values.get("path")
    if path:
        return Path(str(path)).name or str(path)
    return str(values.get("name") or "")


def _absolute_dataset_path(config: TrainingConfig, base_dir) -> TrainingConfig:
    """A relative dataset path (and side table) and start weights made absolute against the graph file's
    folder, so the run's settings (config.json, checkpoints) still find them from anywhere, a resume included."""
    if base_dir is None:
        return config
    changes = {key: str((Path(base_dir) / value).resolve()) for key in ("path", "side_table")
               if (value := config.dataset.get(key)) and not Path(value).is_absolute()}
    top = {}
    if config.weights and not Path(config.weights).expanduser().is_absolute():   # the start weights too
        top["weights"] = str((Path(base_dir) / config.weights).resolve())
    if not changes and not top:
        return config
    resolved = config.replace(**({"dataset": changes} if changes else {}), **top)
    resolved.warnings = list(config.warnings)
    return resolved


def worker_threads() -> int:
    """Torch threads for a training worker thread: ``OMP_NUM_THREADS`` when set, else all cores but
    one (kept for the window or the caller). Independent of the caller's own count: the editor runs
    its GUI thread with one torch thread and still trains with the rest of the machine.

    Measured on 2 cores: a worker thread running 2 OpenMP threads trained the digits examples at
    0.3-0.9x the speed of 1 thread (the main thread at 2 threads did not slow down), so on small
    machines the worker gets one.
    """
    requested = os.environ.get("OMP_NUM_THREADS", "").strip()
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    return max(1, (os.cpu_count() or 1) - 1)


def _resume_dir(path: Path) -> Path:
    """The run folder of a checkpoint path or run folder."""
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def _setup_failure(exc: BaseException) -> Failed:
    import traceback
    problems = tuple(exc.problems) if isinstance(exc, SetupError) else ()
    if isinstance(exc, LayerLoomError):
        return Failed(str(exc), "setup", problems=problems, exception_type=type(exc).__name__)
    return Failed(f"cannot start training: {type(exc).__name__}: {exc}", "setup", traceback=traceback.format_exc(),
                  exception_type=type(exc).__name__)


def train(graph: Graph, config: TrainingConfig | None = None, *, source: str | os.PathLike | None = None,
          **kwargs):
    """Train on the calling thread and return ``(terminal_event, session)``: the simplest use from code.
    ``source`` and the other keywords are ``TrainingSession``'s."""
    session = TrainingSession(graph, config, source=source, **kwargs)
    return session.run(), session
