"""Checkpoints written on a background thread, so the next epoch trains while the last one is saved.

The trainer hands over a *copy* of the state (``cpu_copy``: every tensor cloned to the CPU, so the
next optimizer step cannot change what is being written) and a job that writes it; ``CheckpointWriter``
runs one job at a time on its own thread. The crash-safety of a save is the save's own (temp file, then
an atomic rename: a crash mid-write leaves the previous checkpoint whole); what the writer adds is the
bookkeeping: a job's outcome is taken back on the trainer's thread (``collect``), so the trainer only
ever names a checkpoint as "the last good one" once it is complete on disk, and a failed write (a full
disk) stops the run there, on the trainer's thread, as a synchronous write would have.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch


def cpu_copy(value: Any) -> Any:
    """``value`` with every tensor cloned to the CPU (dicts, lists and tuples copied along the way)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: cpu_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cpu_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(cpu_copy(v) for v in value)
    return value


class CheckpointWriter:
    """One write at a time on a daemon thread. ``start(job)`` waits for the previous job first (so at
    most one write is ever behind the loop); ``collect()`` waits for the current one and returns its
    progress record, raising its error on the calling thread."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._progress: dict[str, Any] = {}

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, job: Callable[[dict], None]) -> None:
        """Run ``job(progress)`` in the background; the job records what it finished in ``progress``
        (so a job that fails half-way still says what it wrote)."""
        if self._thread is not None:
            raise RuntimeError("collect the previous checkpoint before starting another")
        progress: dict[str, Any] = {}
        self._progress, self._error = progress, None

        def work() -> None:
            try:
                job(progress)
            except BaseException as exc:  # noqa: BLE001 - handed to the trainer's thread by collect()
                self._error = exc

        self._thread = threading.Thread(target=work, name="layerloom-checkpoint", daemon=True)
        self._thread.start()

    def collect(self) -> tuple[dict[str, Any], BaseException | None]:
        """Wait for the job in flight (if any): ``(progress, error)``; nothing in flight: ``({}, None)``."""
        thread = self._thread
        if thread is None:
            return {}, None
        thread.join()
        self._thread = None
        progress, error = self._progress, self._error
        self._progress, self._error = {}, None
        return progress, error
