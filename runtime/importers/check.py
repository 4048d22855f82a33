"""Prove an import: the imported graph, compiled with its imported weights, against onnxruntime running the
original file on the same random inputs (the session the exporter's verification uses)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from layerloom.compiler import compile_graph
from layerloom.export.verify import session_for
from layerloom.importers.report import ImportResult
from layerloom.training.start_weights import fit_weights

TOLERANCE = 1e-4


@dataclass
class ImportCheck:
    """The largest difference per batch size, and whether every one is within ``tolerance``."""

    max_abs_diff: float
    tolerance: float
    batches: dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def describe(self) -> str:
        verdict = "matches" if self.ok else "DIFFERS FROM"
        per = ", ".join(f"batch {b}: {d:.1e}" for b, d in sorted(self.batches.items()))
        return f"{verdict} onnxruntime on the original file: max |difference| {self.max_abs_diff:.2e} ({per})"


def compare_with_onnxruntime(result: ImportResult, path: str | os.PathLike, batches=(1, 3), seed: int = 0,
                             tolerance: float = TOLERANCE) -> ImportCheck:
    """Run the imported graph and the file on the same random inputs (batch sizes the file allows among
    ``batches``); relative to the outputs' scale when they are large."""
    compiled = compile_graph(result.graph, seed=seed)
    fit_weights(compiled.model, result.weights, "import")
    model = compiled.model.eval()
    session = session_for(path)
    names = [i.name for i in session.get_inputs()]
    fixed = {i.shape[0] for i in session.get_inputs() if i.shape and isinstance(i.shape[0], int)}
    sizes = sorted(fixed) if fixed else list(batches)
    generator = torch.Generator().manual_seed(seed)
    check = ImportCheck(0.0, tolerance)
    order = _file_order(names, [e.name for e in compiled.inputs])
    for batch in sizes:
        inputs = compiled.example_inputs(batch, generator)
        feed = {name: inputs[k].numpy() for name, k in zip(names, order)}
        expected = session.run(None, feed)
        with torch.no_grad():
            got = model(*inputs)
        got = got if isinstance(got, (tuple, list)) else (got,)
        diff = 0.0
        for ours, theirs in zip(got, expected):
            theirs = np.asarray(theirs, dtype=np.float64)
            scale = max(1.0, float(np.abs(theirs).max()) if theirs.size else 1.0)
            diff = max(diff, float(np.abs(ours.double().numpy() - theirs).max()) / scale if theirs.size else 0.0)
        check.batches[batch] = diff
        check.max_abs_diff = max(check.max_abs_diff, diff)
    return check


def _file_order(file_names: list[str], graph_names: list[str]) -> list[int]:
    """For each input of the file, the index of the graph's Input made from it (same Python name), else the
    same position."""
    from layerloom.compiler import python_name

    index = {name: k for k, name in enumerate(graph_names)}
    return [index.get(python_name(name), k) for k, name in enumerate(file_names)]
