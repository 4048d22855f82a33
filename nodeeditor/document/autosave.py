"""Autosave and crash recovery.

While a document has unsaved changes, its graph is written every 30 seconds to a recovery file
(atomic, like any save) beside a small record of where it belongs. A clean exit, a save or a
discard removes it; a recovery file found at start-up means LayerLoom did not close cleanly, and the
editor offers to restore it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from layerloom import LayerLoomError, load_graph, save_graph
from layerloom.core.atomic import atomic_write
from layerloom.core.fileio import open_regular

INTERVAL_MS = 30_000
SUFFIX = ".recovery.llgraph.json"


@dataclass
class Recovered:
    graph_path: Path           # the recovery copy
    original: Path | None      # the file it belongs to (None: never saved)
    saved_at: str


class Autosaver:
    """Writes and finds recovery files in ``folder`` (one per open document)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.token = uuid.uuid4().hex[:12]

    @property
    def path(self) -> Path:
        return self.folder / f"{self.token}{SUFFIX}"

    def save(self, graph, original: Path | None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_graph(graph, self.path)
        record = {"original": str(original) if original else None, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        atomic_write(self.path.with_suffix(".meta"), json.dumps(record).encode("utf-8"))
        return self.path

    def discard(self) -> None:
        for path in (self.path, self.path.with_suffix(".meta")):
            path.unlink(missing_ok=True)

    def found(self) -> list[Recovered]:
        """Recovery files left by a session that did not end cleanly (not this one's)."""
        out = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []:
            if path == self.path:
                continue
            try:
                with open_regular(path.with_suffix(".meta"), "r", encoding="utf-8") as handle:   # never a pipe
                    record = json.loads(handle.read(1 << 16))
            except (OSError, ValueError):
                record = {}
            if not isinstance(record, dict):   # a damaged or foreign .meta: the copy is still offered
                record = {}
            original = record.get("original")
            original = Path(original) if isinstance(original, str) and original else None
            out.append(Recovered(path, original, str(record.get("saved_at", "?"))))
        return out

    @staticmethod
    def remove(recovered: Recovered) -> None:
        for path in (recovered.graph_path, recovered.graph_path.with_suffix(".meta")):
            path.unlink(missing_ok=True)

    @staticmethod
    def load(recovered: Recovered):
        try:
            return load_graph(recovered.graph_path)
        except LayerLoomError:
            return None
