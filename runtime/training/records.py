"""The run folder: its format, and the one import for everything that writes or reads it (the
trainer, ``layerloom-cli runs``, the editor's Runs list, charts and dashboard). Imports neither torch
nor Qt: saving a checkpoint's weights (``RunFolder.save_checkpoint``) imports torch when it is called.

A run folder holds everything needed to understand, reproduce and resume a run::

    runs/digits-mlp-20261121-093000/
      config.json          resolved settings, dataset summary and scaling, device, versions, the graph's
                           name and source file, and the resumes ({"from_epoch", "at"}) of a resumed run
      graph.llgraph.json   the graph exactly as it was trained
      metrics.csv          one row per epoch (epoch, step, time_s, train_s, lr, train and validation metrics)
      steps.csv            one row per optimizer step (step, epoch, loss, lr)
      summary.json         the run's outcome so far (rewritten atomically at the start, at most once a
                           second at epoch ends, and at the end, that last time flushed to disk)
      evaluation.json      the last validated epoch's details (classification): see below
      checkpoints/last.pt  weights, optimizer and schedule state, RNG state, epoch, graph (``runs.py``)
      checkpoints/best.pt  the same at the best epoch of the monitored metric

summary.json, at every write::

    status       running, finished, stopped, diverged or failed
    reason       null while running; then completed, early_stopped, stopped, diverged, failed,
                 out_of_memory or disk_full
    message      one sentence for a person ("Stopped at epoch 3, step 84; the last good checkpoint ...")
    graph        the graph's name;  source: the graph file trained (absolute path; null: unsaved graph)
    started_at   when the run began (ISO 8601 local time with UTC offset; a resumed run keeps its first)
    ended_at     when it ended (same format), null while running
    duration_s   training time, pauses excluded, earlier sessions of a resumed run included; at the end
                 exactly the terminal event's duration_s
    epoch, epochs, step, best {metric, value, epoch}, last (metrics of the last epoch), test, updated

evaluation.json, the latest validated epoch of a run whose metrics have details (classification),
written atomically with the first one, then with summary.json (at most once a second) and at the end::

    epoch, task, metrics (the epoch's metrics), classes (class names or null),
    per_class {precision, recall, f1: one value per class},
    confusion (rows: true class, columns: predicted; left out above 200 classes to bound the file)

Where each part lives (import them all from here):

- ``run_format``: the file names, the statuses a run reads as, times, ``read_json``;
- ``run_writer``: ``new_run_dir``, ``RunFolder`` (atomic or rolled-back writes; ``DiskFullError``);
- ``run_reader``: ``read_run`` -> ``RunInfo`` (never raises: a killed run reads as "incomplete"),
  ``scan_runs``, ``runs_of``, ``latest_run``, ``read_evaluation``, ``read_started``;
- ``run_curves``: ``RunCurves``, the per-step and per-epoch curves.

    folder = RunFolder(new_run_dir("runs", "digits-mlp"))                 # the trainer writes
    info = read_run("runs/digits-mlp-20261121-093000")      # RunInfo: status, best, times, graph, source
    latest = latest_run("runs", source="digits.llgraph.json", graph_name="digits-mlp")
    curves = RunCurves.from_run_dir(info.path)               # per-step losses, per-epoch metrics
    details = read_evaluation(info.path)                     # the last validated epoch's confusion matrix
"""

from __future__ import annotations

from layerloom.training.run_curves import RunCurves, curves_stamp
from layerloom.training.run_format import (CHECKPOINTS_DIR, COMPLETED, CONFIG_FILE, DIVERGED, EARLY,
                                           EVALUATION_FILE, FAILED, GRAPH_FILE, INCOMPLETE, MAX_JSON_BYTES,
                                           METRICS_FILE, NOT_LEARNED, RUN_COLUMNS, RUN_FILES, RUNNING, STALE_S,
                                           STAMP, STATUS_ORDER, STATUS_WORDS, STEPS_FILE, STEPS_HEADER, STOPPED,
                                           SUMMARY_FILE, finite_number, iso_time, parse_time, read_json,
                                           whole_number)
from layerloom.training.run_reader import (RunInfo, belongs, best_checkpoint, evaluation_details, format_duration,
                                           latest_run, looks_like_run, read_evaluation, read_run, read_started,
                                           runs_of, scan_runs, started_key)
from layerloom.training.run_writer import (CONFUSION_MAX_CLASSES, CheckpointError, DiskFullError, RunFolder,
                                           new_run_dir, slug, write_error)

__all__ = [
    # the folder's files and the statuses a run reads as
    "GRAPH_FILE", "SUMMARY_FILE", "CONFIG_FILE", "METRICS_FILE", "STEPS_FILE", "EVALUATION_FILE", "CHECKPOINTS_DIR",
    "RUN_FILES", "STEPS_HEADER", "RUN_COLUMNS", "STAMP", "STALE_S", "MAX_JSON_BYTES",
    "RUNNING", "COMPLETED", "EARLY", "NOT_LEARNED", "STOPPED", "DIVERGED", "FAILED", "INCOMPLETE",
    "STATUS_ORDER", "STATUS_WORDS", "iso_time", "parse_time", "read_json", "finite_number", "whole_number",
    # writing
    "new_run_dir", "slug", "RunFolder", "CheckpointError", "DiskFullError", "write_error", "CONFUSION_MAX_CLASSES",
    # reading
    "RunInfo", "read_run", "scan_runs", "runs_of", "latest_run", "belongs", "looks_like_run", "started_key",
    "read_evaluation", "evaluation_details", "best_checkpoint", "read_started", "format_duration",
    "RunCurves", "curves_stamp",
]
