"""The run folder's vocabulary: its file names, the statuses a run reads as, its times and how its
JSON documents and figures are read. The layout itself is described in ``records.py``, the one import
for everything that reads or writes a run folder; the reader, the curves and the writer build on this.

Imports neither torch nor Qt.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from layerloom.core.fileio import open_regular
from layerloom.files.graphfile import SUFFIX

# ------------------------------------------------------------------ the folder's files
GRAPH_FILE = "graph" + SUFFIX
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
STEPS_FILE = "steps.csv"
EVALUATION_FILE = "evaluation.json"
CHECKPOINTS_DIR = "checkpoints"
RUN_FILES = (SUMMARY_FILE, CONFIG_FILE, METRICS_FILE, STEPS_FILE, GRAPH_FILE, CHECKPOINTS_DIR)
STEPS_HEADER = ("step", "epoch", "loss", "lr")            # steps.csv's columns
RUN_COLUMNS = ("epoch", "step", "time_s", "train_s")     # metrics.csv's columns that are not metrics
STAMP = re.compile(r"-(\d{8}-\d{6})(?:-(\d+))?$")   # new_run_dir: <slug>-<YYYYmmdd>-<HHMMSS>[-N]
STALE_S = 600.0          # a "running" summary this much older than an epoch takes is a killed run

# The statuses a run reads as (summary.json's "status" and "reason" mapped to words a list shows).
RUNNING, COMPLETED, EARLY, NOT_LEARNED, STOPPED, DIVERGED, FAILED, INCOMPLETE = (
    "running", "completed", "early stopped", "did not learn", "stopped", "diverged", "failed", "incomplete")
STATUS_ORDER = (RUNNING, COMPLETED, EARLY, NOT_LEARNED, STOPPED, DIVERGED, FAILED, INCOMPLETE)
STATUS_WORDS = {"running": RUNNING, "completed": COMPLETED, "early_stopped": EARLY, "early stopped": EARLY,
                "stopped": STOPPED, "diverged": DIVERGED, "failed": FAILED, "out_of_memory": FAILED,
                "disk_full": FAILED, "incomplete": INCOMPLETE, "did not learn": NOT_LEARNED}


# ------------------------------------------------------------------ times
def iso_time(seconds: float | None = None) -> str:
    """``seconds`` since the epoch (default: now) as ISO 8601 local time with its UTC offset,
    ``2026-11-21T09:30:00+01:00``: what summary.json and config.json record."""
    moment = datetime.now() if seconds is None else datetime.fromtimestamp(seconds)
    return moment.astimezone().isoformat(timespec="seconds")


def parse_time(text: Any) -> float | None:
    """An ISO 8601 time (with or without offset: without is local time) as seconds since the epoch;
    None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


# ------------------------------------------------------------------ documents and figures
MAX_JSON_BYTES = 64 * 1024 * 1024   # a run's JSON files are kilobytes; a larger one is not the run's


def read_json(path: Path) -> dict:
    """A run folder's JSON document, or {} when it is missing, unreadable, not a regular file (a named
    pipe would block every reader of the folder, the Runs list at the editor's start-up included),
    larger than ``MAX_JSON_BYTES`` or not an object."""
    try:
        with open_regular(path, "r", encoding="utf-8") as handle:
            text = handle.read(MAX_JSON_BYTES + 1)
        if len(text) > MAX_JSON_BYTES:
            return {}
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def finite_number(value: Any) -> float | None:
    """A finite number, or None (bools, text, NaN and infinities are not figures a list shows)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def whole_number(value: Any) -> int:
    """``finite_number`` as an int; 0 for anything that is not a finite number."""
    number = finite_number(value)
    return int(number) if number is not None else 0
