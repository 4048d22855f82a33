"""What an import did, per source operator type: how many, what each became, what was approximated, and
what could not be mapped. The CLI prints ``lines()``, the editor shows them in a dialog, and the weights
file keeps ``to_json()`` beside the tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerloom.core.errors import LayerLoomError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import torch

    from layerloom.model.graph import Graph


class ModelImportError(LayerLoomError):
    """A model that cannot be opened as a graph: a damaged file, or operators with no mapping (named in the
    message). ``report`` holds what was learned before giving up (None when the file could not be read)."""

    def __init__(self, message: str, report: "ImportReport | None" = None):
        super().__init__(message)
        self.report = report


class ModelFileError(ModelImportError):
    """The model file itself cannot be read: missing, damaged, refused by its format's checker."""


@dataclass
class _OpRecord:
    count: int = 0
    mapped_to: dict[str, int] = field(default_factory=dict)   # target -> how many
    notes: dict[str, int] = field(default_factory=dict)       # note -> how many


class ImportReport:
    """One record per source operator (ONNX node) or module; ``unsupported`` lists what has no mapping."""

    def __init__(self, source: str = ""):
        self.source = source
        self._ops: dict[str, _OpRecord] = {}
        self._unsupported: dict[str, list[str]] = {}   # op type -> reasons (one per occurrence)
        self.notes: list[str] = []                     # whole-model remarks (inputs fixed, outputs dropped)

    # ------------------------------------------------------------------ recording
    def record(self, source_op: str, mapped_to: str, note: str = "") -> None:
        op = self._ops.setdefault(source_op, _OpRecord())
        op.count += 1
        op.mapped_to[mapped_to] = op.mapped_to.get(mapped_to, 0) + 1
        if note:
            op.notes[note] = op.notes.get(note, 0) + 1

    def unsupported(self, source_op: str, reason: str) -> None:
        self._unsupported.setdefault(source_op, []).append(reason)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # ------------------------------------------------------------------ reading
    @property
    def ok(self) -> bool:
        """True when every operator was mapped."""
        return not self._unsupported

    @property
    def op_types(self) -> list[str]:
        return sorted(self._ops)

    @property
    def unsupported_ops(self) -> list[str]:
        return sorted(self._unsupported)

    def count(self, source_op: str) -> int:
        record = self._ops.get(source_op)
        return record.count if record else 0

    def mapped_to(self, source_op: str) -> dict[str, int]:
        record = self._ops.get(source_op)
        return dict(record.mapped_to) if record else {}

    def lines(self) -> list[str]:
        """One line per source operator type (count, what it became, notes), then the unmapped ones."""
        total = sum(op.count for op in self._ops.values())
        lines = [f"{self.source}: {total:,} operators of {len(self._ops)} types mapped"
                 + (f", {sum(map(len, self._unsupported.values())):,} not mapped" if self._unsupported else "")]
        width = max((len(name) for name in self._ops), default=0)
        for name in sorted(self._ops):
            op = self._ops[name]
            targets = ", ".join(target if n == op.count else f"{target} ({n})"
                                for target, n in sorted(op.mapped_to.items(), key=lambda item: -item[1]))
            line = f"  {name:<{width}} x{op.count:<4} -> {targets}"
            if op.notes:
                line += "; " + "; ".join(note if n == op.count else f"{note} ({n})" for note, n in op.notes.items())
            lines.append(line)
        for name in sorted(self._unsupported):
            reasons = list(dict.fromkeys(self._unsupported[name]))
            lines.append(f"  not mapped: {name} x{len(self._unsupported[name])}: {'; '.join(reasons)}")
        lines.extend(f"  note: {text}" for text in self.notes)
        return lines

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "ops": {name: {"count": op.count, "mapped_to": dict(op.mapped_to), "notes": dict(op.notes)}
                    for name, op in sorted(self._ops.items())},
            "unsupported": {name: list(reasons) for name, reasons in sorted(self._unsupported.items())},
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict) -> "ImportReport":
        report = cls(str(data.get("source", "")))
        for name, op in dict(data.get("ops", {})).items():
            report._ops[name] = _OpRecord(int(op.get("count", 0)), dict(op.get("mapped_to", {})),
                                          dict(op.get("notes", {})))
        for name, reasons in dict(data.get("unsupported", {})).items():
            report._unsupported[name] = list(reasons)
        report.notes = list(data.get("notes", []))
        return report


@dataclass
class ImportResult:
    """An imported model: the graph, its weights keyed ``<node id>.<tensor>`` and the report."""

    graph: "Graph"
    weights: dict[str, "torch.Tensor"]
    report: ImportReport

    def save(self, graph_path) -> tuple["Path", "Path"]:
        """Write ``GRAPH.llgraph.json`` with ``training.weights`` = ``GRAPH.weights.pt`` and the weights file
        beside it (the report kept in it). Returns both paths."""
        from pathlib import Path

        from layerloom.files.graphfile import SUFFIX, save_graph
        from layerloom.training.start_weights import WEIGHTS_SUFFIX, save_weights_file

        graph_path = Path(graph_path)
        name = graph_path.name
        stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else graph_path.stem
        weights_path = graph_path.with_name(stem + WEIGHTS_SUFFIX)
        if self.weights:
            save_weights_file(weights_path, self.weights, source=f"imported from {self.report.source}",
                              extra={"import_report": self.report.to_json()})
            self.graph.set_meta("training", {**self.graph.training, "weights": weights_path.name})
        elif "weights" in self.graph.training:
            self.graph.set_meta("training", {k: v for k, v in self.graph.training.items() if k != "weights"})
        save_graph(self.graph, graph_path)
        return graph_path, weights_path
