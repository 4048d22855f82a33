"""Headless training: settings, the background trainer, metrics, run folders and checkpoints.

    from layerloom import load_graph
    from layerloom.training import TrainingSession

    session = TrainingSession(load_graph("digits_mlp.llgraph.json"), run_root="runs").start()
    for event in session.events_until_done():
        print(event)

Nothing here imports Qt: the editor reads the same events through a Qt adapter. The settings, run
control, events and run folders import without PyTorch (the editor's training form, its Runs list
and ``layerloom-cli check``/``runs`` use them); the rest imports torch on first use.

What lives where:

- settings and checks: ``config``, ``tasks``, ``metrics``, ``device``, ``optim``, ``batches``;
- planning a run (dataset, split, scaling, compiled graph): ``plan``; which dataset arrays feed which
  Input and Target (a graph may have several): ``feeds``;
- starting from saved weights, matched by node name (fine-tuning, imported models): ``start_weights``;
- the run itself: ``trainer`` (the epoch loop and how a run ends), ``steps`` (the hot step loop and
  evaluation), ``recorder`` (what goes into the run folder, when), ``resume``, ``health`` (did it learn);
- the run folder, torch-free: ``records`` is its one import (``run_format``, ``run_reader``,
  ``run_curves``, ``run_writer`` behind it); checkpoints (torch): ``runs``;
- where a run runs: ``session`` (a thread), ``process`` (a child process), ``worker`` (warm children),
  with ``events`` and ``control`` between them and the caller;
- predictions from a trained graph: ``inference``.

May import: ``layerloom.compiler``, ``layerloom.data``, ``layerloom.files`` and the layers below them;
never ``layerloom.export`` (a warm worker preloads it by name only), the CLI or Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerloom.core.lazy import lazy_exports
from layerloom.training.config import TrainingConfig, TrainingSettingsError, check_training
from layerloom.training.control import RunControl
from layerloom.training.events import (STAGES, TERMINAL, CheckpointSaved, EpochEnd, EventChannel, Failed, Finished,
                                      Note, Paused, Preparing, Resumed, RunStarted, Step, Stopped)

_NEED_TORCH = {
    ".device": ("DeviceChoice", "DeviceError", "choose_device"),
    ".plan": ("Plan", "SetupError", "plan_training"),
    ".feeds": ("data_layout",),
    ".records": ("CheckpointError", "RunFolder"),   # torch-free, but not needed at start-up
    ".runs": ("checkpoint_graph", "load_checkpoint", "load_weights"),
    ".start_weights": ("FitReport", "fit_weights", "read_weights_file", "save_weights_file"),
    ".session": ("TrainingSession", "train", "worker_threads"),
    ".trainer": ("Trainer",),
}
__getattr__, __dir__ = lazy_exports(__name__, _NEED_TORCH)
if TYPE_CHECKING:  # pragma: no cover
    from layerloom.training.device import DeviceChoice, DeviceError, choose_device
    from layerloom.training.plan import Plan, SetupError, plan_training
    from layerloom.training.feeds import data_layout
    from layerloom.training.records import CheckpointError, RunFolder
    from layerloom.training.runs import checkpoint_graph, load_checkpoint, load_weights
    from layerloom.training.start_weights import FitReport, fit_weights, read_weights_file, save_weights_file
    from layerloom.training.session import TrainingSession, train, worker_threads
    from layerloom.training.trainer import Trainer

__all__ = [
    "TrainingConfig", "TrainingSettingsError", "check_training", "RunControl", "DeviceChoice", "DeviceError",
    "choose_device", "STAGES", "TERMINAL", "Preparing", "CheckpointSaved", "EpochEnd", "EventChannel", "Failed",
    "Finished", "Note", "Paused", "Resumed", "RunStarted", "Step", "Stopped", "Plan", "SetupError", "plan_training",
    "data_layout",
    "CheckpointError", "RunFolder", "checkpoint_graph", "load_checkpoint", "load_weights", "TrainingSession",
    "train", "Trainer", "worker_threads", "FitReport", "fit_weights", "read_weights_file", "save_weights_file",
]
