"""What an export starts from: a graph, its compiled model in eval mode on the CPU, and (when it
comes from a training run) the trained weights, class names and input preprocessing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerloom.compiler import CompiledGraph, compile_graph
from layerloom.core.errors import CompileError, LayerLoomError
from layerloom.model.graph import Graph
from layerloom.files.graphfile import graph_to_dict, load_graph


class ExportError(LayerLoomError):
    """An export that cannot be made; the message names the node or file at fault."""


@dataclass
class Exportable:
    graph: Graph
    compiled: CompiledGraph
    trained: bool = False                   # weights come from a checkpoint (else: freshly initialised)
    classes: list[str] | None = None
    scaling: dict | None = None             # the preprocessing the model was trained with
    run: dict[str, Any] = field(default_factory=dict)  # checkpoint path, epoch, metrics
    # The training settings recorded with the weights (a checkpoint's "config"): their dataset path was
    # made absolute when the run started (and a `train --dataset` override is in them), so they find the
    # data the model was trained on from any folder.
    recorded_training: dict[str, Any] | None = None

    @property
    def model(self) -> torch.nn.Module:
        return self.compiled.model

    @property
    def name(self) -> str:
        return self.graph.name or "model"

    def metadata(self) -> dict[str, Any]:
        """Facts worth embedding in an exported file (JSON-able)."""
        inputs = [{"name": e.name, "shape": list(e.spec.shape), "dtype": e.spec.dtype} for e in self.compiled.inputs]
        outputs = [{"name": e.name, "shape": list(e.spec.shape) if e.spec else None} for e in self.compiled.outputs]
        return {"graph": graph_to_dict(self.graph), "classes": self.classes, "inputs": inputs, "outputs": outputs,
                "preprocessing": self.scaling, "run": self.run, "trained": self.trained}

    def example_inputs(self, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
        return self.compiled.example_inputs(batch, torch.Generator().manual_seed(seed))

    def dataset_settings(self, base_dir: str | os.PathLike | None = None) -> list[tuple[dict, Any]]:
        """Where this model's dataset is, best first: ``[(training section, base_dir), ...]``. The run's
        own record comes first (the data it was trained on); the graph's section, resolved against
        ``base_dir`` (the graph file's folder), follows when it names other data."""
        graph_section = self.graph.training if isinstance(self.graph.training, dict) else {}
        found: list[tuple[dict, Any]] = []
        if self.recorded_training:
            found.append((self.recorded_training, None))
        if not found or (graph_section.get("dataset") != self.recorded_training.get("dataset")
                         and base_dir is not None):
            found.append((graph_section, base_dir))
        return found

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Raw samples shaped like the Input, scaled as in training."""
        from layerloom.data import apply_scaling
        return apply_scaling(x, self.scaling) if self.scaling else np.asarray(x, dtype=np.float32)


def load_exportable(graph: Graph | str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> Exportable:
    """A graph (object or file) with, optionally, a checkpoint's weights. With a checkpoint and no
    graph file, give the checkpoint's path as ``graph``: its own graph is used."""
    from layerloom.training.runs import checkpoint_graph, load_checkpoint, load_weights

    state = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
    if isinstance(graph, (str, os.PathLike)):
        path = Path(graph)
        if path.suffix == ".pt" or path.is_dir():
            state = load_checkpoint(path)
            checkpoint = path
            graph = checkpoint_graph(state)
        else:
            graph = load_graph(path)
    try:
        compiled = compile_graph(graph, seed=0)
    except CompileError as exc:
        raise ExportError(str(exc)) from exc
    exportable = Exportable(graph, compiled)
    if state is not None:
        load_weights(compiled.criterion or compiled.model, state["weights"], source=str(checkpoint))
        data = state.get("dataset") or {}
        exportable.trained = True
        exportable.classes = list(data.get("classes") or []) or None
        exportable.scaling = data.get("scaling")
        exportable.run = {"checkpoint": str(checkpoint), "epoch": state.get("epoch"),
                          "metrics": state.get("metrics") or {}, "layerloom": state.get("layerloom")}
        recorded = state.get("config")
        exportable.recorded_training = recorded if isinstance(recorded, dict) else None
    compiled.model.eval()
    return exportable


def validation_samples(exportable: Exportable, limit: int, base_dir: str | os.PathLike | None = None):
    """``(x, y, task, note)``: up to ``limit`` raw validation samples of the graph's dataset (its
    training split when it has none) shaped like the Input, their labels and the dataset's task; or
    ``(None, None, None, why not)`` (no single float Input, the dataset does not load or fit)."""
    from layerloom.data import load_dataset
    from layerloom.training.config import check_training

    inputs = exportable.compiled.inputs
    if len(inputs) != 1 or not inputs[0].spec.is_float:
        return None, None, None, "the model does not take one float input"
    shape = tuple(inputs[0].spec.features)
    why = "no dataset"
    for section, folder in exportable.dataset_settings(base_dir):
        config, _ = check_training(section)
        try:
            data = load_dataset(config.dataset, base_dir=folder)
            x, y = (data.x_val, data.y_val) if data.num_val else (data.x_train, data.y_train)
            features = tuple(getattr(x, "shape", (0,) + shape)[1:])
            if int(np.prod(features)) != int(np.prod(shape)):
                raise ValueError(f"dataset '{data.name}' has samples of shape {list(features)}, "
                                 f"the model takes {list(shape)}")
            count = min(limit, len(x))
            samples = np.asarray(x[np.arange(count)], dtype=np.float32).reshape((count,) + shape)
        except (LayerLoomError, ValueError) as exc:
            why = str(exc) if why == "no dataset" else why   # the run's own record says most
            continue
        return samples, np.asarray(y[:count]), data.task, f"dataset '{data.name}'"
    return None, None, None, f"no dataset samples ({why})"


def dataset_samples(exportable: Exportable, count: int = 8, base_dir: str | os.PathLike | None = None):
    """``(samples, note)``: up to ``count`` raw samples for verifying an export (see ``validation_samples``)."""
    samples, _, _, note = validation_samples(exportable, count, base_dir)
    return samples, note


def app_predictor(exportable: Exportable, base_dir: str | os.PathLike | None = None):
    """``(predictor, note)``: the app's own ``Predictor`` (what Try it and the Evaluation use) for the
    exportable's graph and weights, or ``(None, why not)``. An untrained exportable learns from it the
    scaling a training run would fit (``exportable.scaling``), so its export takes raw samples too."""
    from layerloom.training.inference import Predictor

    weights = exportable.run.get("checkpoint") if exportable.trained else exportable.model
    try:
        predictor = Predictor(exportable.graph, weights, base_dir=base_dir)
    except LayerLoomError as exc:
        return None, f"no app predictor ({str(exc).splitlines()[0]})"
    if exportable.scaling is None and predictor.scaling:
        exportable.scaling = predictor.scaling
    return predictor, ""
