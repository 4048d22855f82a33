"""What a training run tells the outside world, and the thread-safe channel that carries it.

The worker thread only ever *puts* immutable event records; the GUI (through a Qt adapter), the CLI
or a test *takes* them from any thread. Every run ends with exactly one terminal event:
``Finished``, ``Stopped`` or ``Failed``.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Preparing:
    """A stage of a run's set-up, before its first step, as it begins: ``stage`` is one of
    ``STAGES`` (a stable key for code), ``text`` says it to a person ("Loading the dataset…",
    "Loaded digits: 1,437 training, 360 validation samples")."""

    stage: str
    text: str


# The set-up stages in the order a run goes through them ("importing" only in a fresh process).
STAGES = ("starting", "importing", "loading_data", "compiling", "measuring", "first_step")


@dataclass(frozen=True)
class RunStarted:
    run_dir: str | None
    device: str                 # "cpu", "cuda", "mps"
    device_name: str            # "NVIDIA H100 80GB HBM3", "CPU (x86_64, 2 threads)"
    precision: str              # fp32 / bf16 / fp16 actually used
    epochs: int                 # the epoch the run ends at
    start_epoch: int            # 0, or the epochs already done when resuming
    steps_per_epoch: int
    num_train: int
    num_val: int
    parameters: int
    task: str                   # classification, binary, regression or "loss" (no metrics beyond the loss)
    classes: tuple[str, ...] | None
    dataset: str                # one-line dataset summary
    config: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # warnings worth showing (fallbacks, unknown settings...)
    threads: int = 0            # torch CPU threads the run trains with (0: not said)
    threads_reason: str = ""    # why that many: "faster than 2 on this busy machine", "as asked"
    memory_format: str = ""     # channels_last or contiguous (layerloom.training.memory_format; "": not said)
    memory_format_reason: str = ""


@dataclass(frozen=True)
class Note:
    """Something that changed how the run trains after ``RunStarted`` said how: a compiled network
    that fell back to the module itself, a thread count dropped on a machine that got busy (then
    ``threads`` is the new count, with its reason; 0: the count is unchanged)."""

    epoch: int
    step: int
    text: str
    threads: int = 0
    threads_reason: str = ""


@dataclass(frozen=True)
class Step:
    """Training progress, published at most every ~0.1 s. ``losses`` holds every step's loss since the
    previous Step event (steps ``step - len(losses) + 1`` .. ``step``), so charts lose no point."""

    epoch: int                  # 1-based
    step: int                   # global step count, 1-based
    loss: float
    lr: float
    samples_per_s: float
    losses: tuple[float, ...]
    progress: float             # 0..1 over the whole run
    eta_s: float | None


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    metrics: dict[str, float]   # train_loss, train_accuracy, val_loss, val_accuracy, val_f1, val_r2...
    lr: float
    duration_s: float           # the whole epoch: training, validation, checkpoints
    train_s: float              # the training steps alone (what samples/s figures are measured on)
    improved: bool              # the monitored metric reached a new best
    best: dict[str, Any]        # {"metric": name, "value": v, "epoch": e}
    details: dict[str, Any] = field(default_factory=dict)  # confusion matrix, per-class scores


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    kind: str                   # "last" or "best"
    epoch: int


@dataclass(frozen=True)
class Paused:
    epoch: int
    step: int


@dataclass(frozen=True)
class Resumed:
    epoch: int
    step: int


@dataclass(frozen=True)
class Finished:
    reason: str                 # "completed" or "early_stopped"
    epochs: int                 # epochs completed in total
    best: dict[str, Any]
    test: dict[str, float]      # metrics on the test split, when the dataset has one
    duration_s: float           # training time, pauses excluded, earlier sessions of a resumed run included
    run_dir: str | None
    message: str = ""
    warnings: tuple[str, ...] = ()   # it ended but did not learn: its loss rose or blew up, chance accuracy


@dataclass(frozen=True)
class Stopped:
    """``message`` is one sentence a window shows as it is: "Stopped at epoch 133, step 3040; the last
    good checkpoint (last.pt, epoch 132) is kept." """

    epoch: int
    step: int
    run_dir: str | None
    message: str = ""
    duration_s: float | None = None  # as Finished's; None when the trainer never ran


@dataclass(frozen=True)
class Failed:
    message: str
    kind: str                   # "setup", "diverged", "out_of_memory", "disk_full" or "error"
    epoch: int = 0
    step: int = 0
    traceback: str = ""
    exception_type: str = ""
    run_dir: str | None = None
    problems: tuple = ()        # analysis.Problem records when the setup was refused (node, port, param)
    duration_s: float | None = None  # as Finished's; None when the run failed before the trainer began


TERMINAL = (Finished, Stopped, Failed)


class EventChannel:
    """A thread-safe FIFO of events plus optional listeners called on the producing thread.

    Listeners must be quick and must not touch widgets (a Qt adapter re-emits them as queued signals);
    one that raises is dropped from this run rather than killing the training.
    """

    def __init__(self, listeners: tuple[Callable[[Any], None], ...] | list = (), keep: bool = True):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._keep = keep  # False: listeners only (nobody will drain the queue)
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        self.listener_errors: list[BaseException] = []

    def put(self, event: Any) -> None:
        if self._keep:
            self._queue.put(event)
        with self._lock:
            listeners = tuple(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - a broken listener must not kill the run
                self.listener_errors.append(exc)
                with self._lock:
                    if listener in self._listeners:
                        self._listeners.remove(listener)

    def get(self, timeout: float | None = None) -> Any | None:
        """The next event, waiting up to ``timeout`` seconds (None: forever); None on timeout."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[Any]:
        """Every event waiting now, oldest first, without blocking."""
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def subscribe(self, listener: Callable[[Any], None]) -> None:
        with self._lock:
            self._listeners.append(listener)
