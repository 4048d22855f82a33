"""What a training run writes to its run folder, as it goes.

At the start: ``config.json`` (the settings, dataset, device and versions; a resume adds itself to its
``resumed`` list) and the graph; each epoch: a row of ``metrics.csv``, the ``last`` checkpoint (and
``best`` when the monitored metric improved), and at most once a second ``evaluation.json`` and
``summary.json``; at the end: the final ``summary.json``. Checkpoints are written on a background thread
(``checkpoint_writer``) from a CPU copy of the state while the next epoch trains (the run's first one is
written at once, so a checkpoint exists from the first epoch on); the trainer waits for the write in
flight before the next epoch's row, before the run ends and before it names "the last good checkpoint",
so that name is always a complete file, and a failed write stops the run before the next row.

The files' format and the writes themselves belong to the run-folder modules (``RunFolder``); this
module decides what goes into the folder and when.

``RunRecorder`` is a part of ``Trainer`` (``layerloom.training.trainer``): it reads the trainer's
plan, settings, folder and progress (epoch, step, history, best score).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from layerloom import __version__
from layerloom.files.graphfile import graph_to_dict
from layerloom.training.checkpoint_writer import CheckpointWriter, cpu_copy
from layerloom.training.events import CheckpointSaved
from layerloom.training.records import CONFIG_FILE, SUMMARY_FILE, iso_time, read_run
from layerloom.training.run_writer import write_error
from layerloom.training.runs import DiskFullError, save_checkpoint


class RunRecorder:
    """The trainer's run-folder writes (a part of ``Trainer``). Without a folder each is a no-op."""

    # ------------------------------------------------------------------ the run's start
    def _continue_records(self) -> None:
        """A resumed run in its own folder keeps its first start and the graph file it recorded."""
        if self.folder is None or self.resume_state is None:
            return
        summary, config = self.folder.read_json(SUMMARY_FILE), self.folder.read_json(CONFIG_FILE)
        first = summary.get("started_at")
        if not isinstance(first, str) or not first:  # a run from before started_at: its folder's time
            started = read_run(self.folder.path).started if config else None
            first = iso_time(started) if started is not None else None
        self._started_at = first or self._started_at
        if self.source is None:
            self.source = summary.get("source") or config.get("source")

    def _write_run_files(self) -> None:
        """config.json and the graph (a resume first cuts the CSVs back to its checkpoint)."""
        record = self._config_record()
        if self.resume_state is not None:
            self.folder.truncate_after(self.epoch, self.step)
            previous = self.folder.read_json(CONFIG_FILE)
            record["resumed"] = list(previous.get("resumed") or []) + [
                {"from_epoch": self.epoch, "at": iso_time()}]
        if not self.folder.has_graph():
            self.folder.write_graph(self.plan.graph)
        self.folder.write_json(CONFIG_FILE, record)

    def _record_note(self, text: str) -> None:
        """A note made after the run started (a compile that fell back mid-run) added to config.json's
        ``notes``, so the run folder says how the run really trained. A courtesy: never fails the run."""
        self._run_notes.append(text)
        if self.folder is None or not self._writable:
            return
        try:
            record = self.folder.read_json(CONFIG_FILE)
            record["notes"] = list(self._run_notes)
            self.folder.write_json(CONFIG_FILE, record)
        except Exception:  # noqa: BLE001 - the record is a courtesy
            pass

    def _config_record(self) -> dict[str, Any]:
        data = self.plan.dataset
        return {
            "graph": self.plan.graph.name,
            "source": self.source,
            "training": self.config.to_dict(),
            "dataset": {"summary": data.summary(), "name": data.name, "task": data.task,
                        "feature_shape": list(data.feature_shape), "classes": list(data.classes or []),
                        "scaling": data.scaling, "train": data.num_train, "val": data.num_val,
                        "test": data.num_test, **_more_inputs(data)},
            "device": {"type": self.choice.device.type, "name": self.choice.name,
                       "precision": self.choice.precision, "threads": torch.get_num_threads(),
                       "memory_format": self.layout.to_dict()},
            "monitor": self.best.metric,
            "notes": list(getattr(self, "_run_notes", ())),   # fallbacks and warnings: how it really trained
            "versions": {"layerloom": __version__, "torch": torch.__version__},
        }

    # ------------------------------------------------------------------ each epoch
    def _record_epoch(self, metrics: dict, lr: float, improved: bool, details: dict) -> None:
        if self.folder is None:
            return
        self._settle_checkpoint()  # the previous epoch's write: a failure stops the run before this row
        self.folder.append_epoch({"epoch": self.epoch, "step": self.step, "time_s": round(self._elapsed(), 3),
                                  "train_s": round(self._train_s, 4), "lr": lr, **metrics})
        self.folder.flush()
        self._row_written = True
        if details:
            self._evaluation = (self.epoch, metrics, details)
        self._save_in_background(also_best=improved)
        now = time.perf_counter()
        if now >= self._summary_at:  # summary.json is for run lists: once a second is plenty
            self._summary_at = now + 1.0
            self._write_evaluation()  # and so is evaluation.json (a write costs ~0.3 ms; the end writes the last)
            self._summary("running", f"epoch {self.epoch} of {self.epochs}")

    def _write_evaluation(self, quiet: bool = False) -> None:
        """evaluation.json for the latest validated epoch not yet written. ``quiet``: at the end of a
        run, where a failed write must not change the outcome already decided."""
        pending, self._evaluation = self._evaluation, None
        if pending is None or self.folder is None:
            return
        epoch, metrics, details = pending
        try:
            self.folder.write_evaluation(epoch, self.plan.task, metrics, self.plan.dataset.classes, details)
        except Exception:  # noqa: BLE001
            if not quiet:
                raise

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_payload(self, kind: str) -> dict[str, Any]:
        data = self.plan.dataset
        rng = {"torch": torch.get_rng_state(), "shuffle": self.shuffle_gen.get_state(),
               "augment": self.augment_gen.get_state()}
        return {
            "epoch": self.epoch, "step": self.step, "elapsed_s": self._elapsed(),
            "weights": self.criterion.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "best": self.best.as_dict(), "bad_epochs": self.best.bad_epochs,
            "metrics": self.history[-1] if self.history else {},
            "history": self.history,
            "graph": graph_to_dict(self.plan.graph),
            "config": self.config.to_dict(),
            "dataset": {"name": data.name, "task": data.task, "feature_shape": list(data.feature_shape),
                        "classes": list(data.classes or []), "scaling": data.scaling, **_more_inputs(data)},
            "layerloom": __version__,
        }

    def _save_in_background(self, also_best: bool) -> None:
        """Start writing checkpoint ``last`` (and ``best``, a copy of the same file, when ``also_best``)
        from a CPU copy of the state taken now; ``_settle_checkpoint`` takes the outcome back."""
        folder, epoch = self.folder, self.epoch
        payload = self.checkpoint_payload("last")
        # the state training goes on changing, copied; the records (graph, config...) are built fresh
        for key in ("weights", "optimizer", "schedule", "scaler", "rng"):
            payload[key] = cpu_copy(payload[key])
        payload["history"] = [dict(row) for row in payload["history"]]
        payload["metrics"] = dict(payload["metrics"])
        path = folder.checkpoint_path("last")
        try:
            folder.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, path, "save the checkpoint") from None
        folder.clean_stray()  # here, not on the writer's thread: the folder's own writes make temp files too

        def job(progress: dict) -> None:
            save_checkpoint(payload, path)
            progress["last"] = (path, epoch)
            if also_best:  # the same state as last: copy the file rather than serialize it again
                progress["best"] = (folder.copy_checkpoint(path, "best"), epoch)

        if self._last_checkpoint is None:  # the run's first is written at once: from then on one always exists
            progress: dict = {}
            try:
                job(progress)
            finally:
                self._saved(progress)
            return
        if not hasattr(self, "_writer"):
            self._writer = CheckpointWriter()
        self._writer.start(job)

    def _settle_checkpoint(self, quiet: bool = False) -> None:
        """Wait for the checkpoint being written; record what it saved (``CheckpointSaved`` events, the
        last good checkpoint) and raise its error. ``quiet``: the run's outcome is already decided
        (stopped, failed): record what was saved, raise nothing."""
        writer = getattr(self, "_writer", None)
        if writer is None:
            return
        progress, error = writer.collect()
        self._saved(progress)
        if error is not None and not quiet:
            raise error

    def _saved(self, progress: dict) -> None:
        for kind in ("last", "best"):
            if kind in progress:
                path, epoch = progress[kind]
                if kind == "last":
                    self._last_checkpoint, self._checkpoint_epoch = path, epoch
                self.channel.put(CheckpointSaved(str(path), kind, epoch))

    # ------------------------------------------------------------------ summary.json
    def _summary(self, status: str, message: str, reason: str | None = None, duration: float | None = None,
                 test: dict | None = None) -> None:
        """summary.json (fields: runs.py). ``status`` "running" has no end, and a full disk while writing it
        stops the run (``DiskFullError``); the others end the run, are flushed to disk, and are written
        even on a full disk when the file's own space allows (a failure then changes nothing). A refused
        resume writes none: the folder still tells the run it resumed."""
        if self.folder is None or not self._writable:
            return
        now = iso_time()
        final = status != "running"
        try:
            self.folder.write_json(SUMMARY_FILE, {
                "status": status, "reason": reason, "message": message,
                "graph": self.plan.graph.name, "source": self.source,
                "started_at": self._started_at, "ended_at": None if status == "running" else now,
                "duration_s": self._duration() if duration is None else duration,
                "epoch": self.epoch, "epochs": getattr(self, "epochs", self.config.epochs),
                "step": self.step, "steps": self.config.steps or None, "best": self.best.as_dict() if hasattr(self, "best") else None,
                "last": self.history[-1] if self.history else None, "test": test or {},
                "updated": now}, durable=final, last_resort=final)
        except DiskFullError:
            if not final:
                raise
        except Exception:  # noqa: BLE001 - a failed write must not hide the run's real outcome
            pass


def _more_inputs(data) -> dict[str, Any]:
    """For a dataset that feeds several Inputs: each Input's name, sample shape and scaling, in the
    criterion's order (the first is the record's own ``feature_shape`` and ``scaling``)."""
    if not data.extra_inputs:
        return {}
    return {"inputs": [{"name": a.name, "feature_shape": list(a.feature_shape), "scaling": a.scaling}
                       for a in data.input_arrays()]}
