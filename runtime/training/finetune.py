"""Fine-tuning helpers the window and the CLI share: how a ``training.weights`` file fits a graph before
any run (a preview), and the setting that starts from a run's checkpoint.

The weights load by node name (``layerloom.training.start_weights``); frozen nodes (``"trainable": false``,
``layerloom.model.trainable``) keep them through the run. The preview builds the graph's modules on PyTorch's
``meta`` device, so it costs no memory for the weights and no time initialising them, whatever the model's size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from layerloom.model.graph import Graph

if TYPE_CHECKING:
    from layerloom.training.start_weights import FitReport


def preview_fit(graph: Graph, setting: str, base_dir: str | os.PathLike | None = None) -> FitReport:
    """How the weights file ``setting`` (relative to ``base_dir``, the graph file's folder) would fit
    ``graph``: which tensors load and which start fresh, exactly as a run would load them. Raises
    ``CheckpointError`` for a file that cannot be read and ``CompileError`` for a graph that does not
    compile. Imports torch (this module does not, so the editor imports it at start-up)."""
    import torch

    from layerloom.compiler import compile_graph
    from layerloom.core.errors import CompileError
    from layerloom.training.start_weights import fit_weights, read_weights_file, start_weights_path

    path = start_weights_path(setting, base_dir)
    weights = read_weights_file(path)
    try:
        with torch.device("meta"):
            model = compile_graph(graph).model
    except CompileError:   # a custom initialiser or plugin that needs real tensors: build it for real
        model = compile_graph(graph).model
    # only the names and shapes count: nothing is copied (warnings.catch_warnings, which silenced torch's
    # "copying into a meta parameter is a no-op", is not thread-safe, and this runs on a worker thread)
    return fit_weights(model, weights, path.name, copy=False)


def checkpoint_setting(checkpoint: str | os.PathLike, graph_path: str | os.PathLike | None) -> str:
    """The ``training.weights`` value that starts from ``checkpoint``: relative to the graph file's folder
    when the graph is saved (the pair moves together), else the absolute path."""
    checkpoint = Path(checkpoint).resolve()
    if graph_path is None:
        return str(checkpoint)
    try:
        return Path(os.path.relpath(checkpoint, Path(graph_path).resolve().parent)).as_posix()
    except ValueError:   # another drive (Windows): no relative path exists
        return str(checkpoint)


def frozen_notes(graph: Graph, report: FitReport | None) -> list[str]:
    """What a run will do with the frozen nodes, for a person: which keep the weights they load, and a
    warning for those that load nothing (no ``training.weights``, or their tensors did not fit): they stay
    at their random start for the whole run."""
    frozen = [node for node in graph if not node.trainable]
    if not frozen:
        return []
    if report is None:
        return ["frozen with no weights to start from, so they keep their random start: "
                + ", ".join(node.name for node in frozen)]
    fresh = set(report.nodes(report.missing + [m[0] for m in report.mismatched] + report.not_finite))
    kept = [node.name for node in frozen if node.id not in fresh]
    lost = [node.name for node in frozen if node.id in fresh]
    notes = [f"frozen, keep what they load: {', '.join(kept)}"] if kept else []
    if lost:
        notes.append(f"frozen but not loaded, so they keep their random start: {', '.join(lost)}")
    return notes
