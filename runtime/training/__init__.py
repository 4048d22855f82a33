"""Headless training: settings, the background trainer, metrics, run folders and checkpoints.

    from layerloom import load_graph
    from layerloom.training import TrainingSession

    session = TrainingSession(load_graph("digits_mlp.llgraph.json"), run_root="runs").start()
    for event in session.events_until_done():
        print(event)

Nothing here imports Qt: the editor reads the same events through a Qt adapter. The settings, run
control and events import without PyTorch (the editor's training form and ``layerloom-cli check`` use
them); the rest imports torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerloom.core.lazy import lazy_exports
from layerloom.training.config import TrainingConfig, TrainingSettingsError, check_training
from layerloom.training.control import RunControl
from layerloom.training.events import (STAGES, TERMINAL, CheckpointSaved, EpochEnd, EventChannel, Failed, Finished, Paused,
                     Preparing, Resumed, RunStarted, Step, Stopped)

_NEED_TORCH = {
    ".device": ("DeviceChoice", "DeviceError", "choose_device"),
    ".plan": ("Plan", "SetupError", "plan_training"),
    ".runs": ("CheckpointError", "RunFolder", "checkpoint_graph", "load_checkpoint", "load_weights"),
    ".session": ("TrainingSession", "train", "worker_threads"),
    ".trainer": ("Trainer",),
}
__getattr__, __dir__ = lazy_exports(__name__, _NEED_TORCH)
if TYPE_CHECKING:  # pragma: no cover
    from layerloom.training.device import DeviceChoice, DeviceError, choose_device
    from layerloom.training.plan import Plan, SetupError, plan_training
    from layerloom.training.runs import CheckpointError, RunFolder, checkpoint_graph, load_checkpoint, load_weights
    from layerloom.training.session import TrainingSession, train, worker_threads
    from layerloom.training.trainer import Trainer

__all__ = [
    "TrainingConfig", "TrainingSettingsError", "check_training", "RunControl", "DeviceChoice", "DeviceError",
    "choose_device", "STAGES", "TERMINAL", "Preparing", "CheckpointSaved", "EpochEnd", "EventChannel", "Failed",
    "Finished", "Paused", "Resumed", "RunStarted", "Step", "Stopped", "Plan", "SetupError", "plan_training",
    "CheckpointError", "RunFolder", "checkpoint_graph", "load_checkpoint", "load_weights", "TrainingSession",
    "train", "Trainer", "worker_threads",
]
