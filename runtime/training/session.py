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

import dataclasses
import json
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
from layerloom.training.events import TERMINAL, EventChannel, Failed, Note, Preparing, RunStarted, Step
from layerloom.training.feeds import data_layout
from layerloom.training.plan import Plan, SetupError, plan_training
from layerloom.training.records import CONFIG_FILE, GRAPH_FILE
from layerloom.training.runs import checkpoint_config, checkpoint_graph, load_checkpoint, new_run_dir
from layerloom.training.threads import (ThreadChoice, ThreadGuard, choose_threads, environment_threads,
                                       fallback_choice, thread_text)
from layerloom.training.trainer import Trainer

IDLE, RUNNING, FINISHED = "idle", "running", "finished"


class TrainingSession:
    """One run. ``graph`` is snapshotted (``Graph.copy``) at construction, so editing the original
    during the run changes nothing in it.

    ``run_root``: where the run folder is created (None: no files are written). ``resume``: a run folder
    or checkpoint to continue; its graph and settings are used, ``config`` may raise the epoch count.
    ``source``: the graph file being trained (the editor's document, the CLI's argument), recorded in the
    run folder's config.json and summary.json so a run can be found from its graph; None for an unsaved
    graph (a resumed run keeps the source it recorded). ``threads``: torch CPU threads for the run; None
    lets ``layerloom.training.threads.choose_threads`` decide (``OMP_NUM_THREADS``, else the faster of 1
    and all cores measured on the run's own model); ``thread_choice`` then says what it chose and why.
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
        self.thread_choice: ThreadChoice | None = None
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
        self._thread = threading.Thread(target=self.run, name="layerloom-training", daemon=True)
        self._thread.start()
        return self

    def run(self):
        """Run on the calling thread (what the worker thread does); returns the terminal event. The
        thread count chosen for the run is set on the calling thread (intra-op threads are per OS
        thread) and put back when the run is over, unless this is the session's own worker thread."""
        if self._state != IDLE and threading.current_thread() is not self._thread:
            raise RuntimeError("this session already ran (or is running); make a new TrainingSession")
        self._state = RUNNING
        before = torch.get_num_threads()
        try:
            return self._run()
        finally:
            if threading.current_thread() is not self._thread:
                torch.set_num_threads(before)

    def _run(self):
        torch.set_num_threads(self.threads or worker_threads())   # for the set-up; the run's count comes next
        try:
            resume = self._prepare()
            self.thread_choice = self._choose_threads()
        except BaseException as exc:  # noqa: BLE001 - setup failures become a Failed event
            self.result = _setup_failure(exc)
            self.events.put(self.result)
            self._state = FINISHED
            return self.result
        kwargs = {} if self._step_interval is None else {"step_interval": self._step_interval}
        channel = _ThreadNotes(self)
        self.trainer = Trainer(self.plan, channel, self.control, self._run_dir, resume, source=self.source,
                               **kwargs)
        self.result = self.trainer.run()
        self._state = FINISHED
        return self.result

    def _choose_threads(self) -> ThreadChoice:
        """The run's thread count (``layerloom.training.threads``), measured on copies of its model when
        nobody chose one: the run's weights and random streams are untouched."""
        device = _device_kind(self.config.device)
        if not self.threads and environment_threads() is None and device == "cpu":
            self._preparing("compiling", "Measuring 1 and more CPU threads on this machine…")
        return choose_threads(self.threads, self.plan, device=device)

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
    """Torch threads for work with no model to measure on (a run measures its own, see
    ``layerloom.training.threads``): ``OMP_NUM_THREADS`` when set, else all cores but one (kept for the
    window or the caller).

    Measured on 2 cores: a worker thread running 2 OpenMP threads trained the digits examples at
    0.3-0.9x the speed of 1 thread (the main thread at 2 threads did not slow down), so on small
    machines the worker gets one.
    """
    return environment_threads() or fallback_choice().threads


class _ThreadNotes:
    """The trainer's channel: every event passes through as it is, ``RunStarted`` with the run's thread
    count and its reason added (config.json's ``device`` record gets them too); a run on several threads
    has its ``Step`` speeds watched by a ``ThreadGuard`` and drops to 1 thread when they collapse."""

    def __init__(self, session: "TrainingSession"):
        self._session = session
        self._channel = session.events
        self._guard = ThreadGuard(session.thread_choice, int(session.config.batch_size))
        self._run_dir: str | None = None

    def put(self, event: Any) -> None:
        choice = self._session.thread_choice
        if isinstance(event, RunStarted):
            event = dataclasses.replace(event, threads=choice.threads, threads_reason=choice.reason)
            self._run_dir = event.run_dir
            if event.run_dir:
                _record_threads(Path(event.run_dir), choice)
        elif isinstance(event, Step) and self._guard.active:
            dropped = self._guard.seen(event.samples_per_s)
            if dropped is not None:   # this is the training thread: its count is the run's
                torch.set_num_threads(dropped.threads)
                self._session.thread_choice = dropped
                if self._run_dir:
                    _record_threads(Path(self._run_dir), dropped)
                self._channel.put(event)
                event = Note(event.epoch, event.step, f"training goes on with {thread_text(1, dropped.reason)}",
                             threads=dropped.threads, threads_reason=dropped.reason)
        self._channel.put(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


def _record_threads(run_dir: Path, choice: ThreadChoice) -> None:
    """Add the thread choice to config.json's ``device`` record (its ``threads`` is the recorder's)."""
    from layerloom.core.atomic import atomic_write
    from layerloom.training.records import CONFIG_FILE

    path = run_dir / CONFIG_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record.setdefault("device", {})["thread_choice"] = choice.to_dict()
        atomic_write(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"), durable=False)
    except (OSError, ValueError, TypeError, AttributeError):
        pass   # the record is a courtesy: the run goes on without it


def _device_kind(request: str) -> str:
    """cpu, cuda or mps for a device setting (auto resolved as the trainer will)."""
    from layerloom.training.device import mps_available

    if request == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    return request


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
