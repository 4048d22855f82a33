"""Predictions from a graph's model, on samples seen exactly as training saw them.

    predictor = Predictor.from_checkpoint("runs/digits-mlp-20261121-093000")   # its best.pt or last.pt
    prediction = predictor.predict(image)       # one raw sample, in the dataset's own units (0..16 for digits)
    prediction.top[0]                           # Ranked(index=3, name='3', probability=0.97)
    predictor.misclassified(16)                 # the most confident mistakes on the validation split

A ``Predictor`` plans the graph as training does (``plan_training``: the same dataset, the same seeded
split, the Input's shape, the scaling fitted on the training split), then keeps its own copy of the
weights, so a run still training on another thread never changes a prediction half-way. The prediction
is what the primary loss sees (``pred/<loss>``), the tensor the validation metrics are computed on:
softmax of it for multi-class heads, sigmoid for binary ones, the values themselves for regression.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from layerloom.compiler import CompiledGraph, compile_graph
from layerloom.data import Dataset, DatasetError, apply_scaling, load_dataset
from layerloom.core.errors import LayerLoomError
from layerloom.model.graph import Graph
from layerloom.core.shapes import INT
from layerloom.training.config import TrainingConfig
from layerloom.training.metrics import BINARY, CLASSIFICATION, LOSS_ONLY, TASK_OF_LOSS
from layerloom.training.plan import SetupError, plan_training
from layerloom.training.runs import CHECKPOINT_FORMAT, checkpoint_config, checkpoint_graph, load_checkpoint, load_weights

CHUNK = 1024  # samples per forward pass when predicting a whole split


class InferenceError(LayerLoomError):
    """A model that cannot predict this way (no single float Input, no dataset for samples...)."""


class Ranked(NamedTuple):
    index: int
    name: str
    probability: float


class Samples(NamedTuple):
    """Raw samples of a split: ``x`` in the dataset's own shape and units, ``y`` class indices or targets."""
    indices: np.ndarray
    x: np.ndarray
    y: np.ndarray


class Mistake(NamedTuple):
    index: int              # position in the split
    input: np.ndarray       # the raw sample, dataset shape and units
    true: int
    predicted: int
    confidence: float       # the predicted class's probability


@dataclass(frozen=True)
class Prediction:
    task: str
    outputs: np.ndarray                 # the model's scores for the sample, flat (logits, or the values)
    probabilities: np.ndarray | None    # one per class (classification, binary); None otherwise
    top: tuple[Ranked, ...]             # best first; empty for regression

    @property
    def values(self) -> np.ndarray | None:
        """Regression (or loss-only) outputs; None for classifiers."""
        return None if self.probabilities is not None else self.outputs

    @property
    def label(self) -> int | None:
        return self.top[0].index if self.top else None

    @property
    def confidence(self) -> float | None:
        return self.top[0].probability if self.top else None


class Predictor:
    """A graph's model ready to predict raw samples.

    ``weights``: None (freshly initialised), a checkpoint path or run folder, a loaded checkpoint dict,
    a state dict, or a trained ``nn.Module`` of the same graph (its weights are copied). ``dataset``:
    the raw (unscaled) dataset, to skip loading it; ``base_dir`` resolves a relative dataset path.
    When the dataset cannot be loaded, a checkpoint's own scaling and class names still allow
    ``predict``; ``has_samples`` is then False and ``note`` says why.
    """

    def __init__(self, graph: Graph, weights: Any = None, *, config: TrainingConfig | None = None,
                 dataset: Dataset | None = None, base_dir: str | os.PathLike | None = None):
        state = _checkpoint_of(weights)
        recorded = (state or {}).get("dataset") or {}
        if config is None:
            config = checkpoint_config(state) if state and state.get("config") else TrainingConfig.from_graph(graph)
        self.graph = graph
        self.note = ""
        self._raw: Dataset | None = None
        try:
            raw = dataset if dataset is not None else load_dataset(config.dataset, base_dir=base_dir)
            plan = plan_training(graph, config, dataset=raw, base_dir=base_dir)
        except (SetupError, DatasetError) as exc:
            if not recorded:
                raise InferenceError(str(exc)) from exc
            self.note = f"no dataset samples ({str(exc).splitlines()[0]})"
            self.compiled = compile_graph(graph, seed=config.seed)
            self.task, loss_name = _task_without_data(graph, self.compiled)
            self.scaling = recorded.get("scaling")
            self._classes = tuple(recorded.get("classes") or ()) or None
        else:
            self._raw = raw
            self.compiled = plan.compiled
            self.task = plan.task
            loss_name = plan.heads[0].loss_name if plan.heads else None
            self.scaling = recorded.get("scaling") or plan.dataset.scaling
            self._classes = tuple(recorded.get("classes") or ()) or raw.classes
        inputs = self.compiled.inputs
        if len(inputs) != 1 or not inputs[0].spec.is_float:
            raise InferenceError("the model does not take one float input")
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in inputs[0].spec.features)
        self._module, self._pick = _prediction_source(graph, self.compiled, loss_name)
        self.trained = False
        self.weights_epoch: int | None = None   # the epoch of the checkpoint the weights came from
        if weights is not None:
            self.set_weights(state if state is not None else weights,
                             str(weights) if isinstance(weights, (str, os.PathLike)) else None)
        self._module.eval()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, graph: Graph | None = None, **kwargs) -> "Predictor":
        """A checkpoint file, or a run folder (its ``best.pt``, else ``last.pt``); its own graph unless given."""
        path = Path(checkpoint)
        if path.is_dir() and (path / "checkpoints" / "best.pt").is_file():
            path = path / "checkpoints" / "best.pt"
        state = load_checkpoint(path)
        return cls(graph if graph is not None else checkpoint_graph(state), state, **kwargs)

    @classmethod
    def from_session(cls, session) -> "Predictor":
        """The current weights of a ``TrainingSession`` (running or finished), copied."""
        if session.plan is None or session.trainer is None:
            raise InferenceError("the session has not set up its model yet")
        return cls(session.plan.graph, session.trainer.criterion, config=session.config,
                   dataset=session.dataset, base_dir=session.base_dir)

    def set_weights(self, weights: Any, source: str | None = None) -> None:
        """Copy new weights in (a checkpoint path or dict, a state dict, or a module of the same graph):
        cheap, so a dashboard can refresh one predictor at every epoch instead of planning anew.
        ``source`` names them in the error raised when they do not fit."""
        state = _checkpoint_of(weights)
        own = state["weights"] if state is not None else \
            weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
        if source is None:
            source = str(weights) if isinstance(weights, (str, os.PathLike)) else getattr(state, "path", "weights")
        with torch.no_grad():
            load_weights(self._module, own, source=source)
        self.trained = True
        epoch = state.get("epoch") if state is not None else None
        self.weights_epoch = int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) else None

    # ------------------------------------------------------------------ facts
    @property
    def classes(self) -> tuple[str, ...] | None:
        return self._classes

    @property
    def output_index(self) -> int | None:
        """Which of the model's outputs (its Output nodes, in order) the predictions are; None when
        they come from a loss's input that no Output shows (predicted through the criterion)."""
        return None if isinstance(self._pick, str) else self._pick

    @property
    def is_classifier(self) -> bool:
        return self.task in (CLASSIFICATION, BINARY)

    @property
    def has_samples(self) -> bool:
        return self._raw is not None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one raw sample as the dataset gives it (``[1, 8, 8]`` digits for an Input ``[64]``)."""
        return tuple(self._raw.feature_shape) if self._raw is not None else self.input_shape

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` when samples are images (the dataset says so, or the Input is ``[C, H, W]``)."""
        if self._raw is not None and self._raw.image and len(self._raw.feature_shape) == 3:
            return tuple(self._raw.feature_shape)
        if len(self.input_shape) == 3 and self.input_shape[0] in (1, 3):
            return self.input_shape
        return None

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The raw values' known range (digits: 0..16), when the dataset or the scaling records one."""
        if self._raw is not None and self._raw.value_range is not None:
            return tuple(self._raw.value_range)
        scaling = self.scaling or {}
        if scaling.get("mode") == "minmax" and np.ndim(scaling.get("min")) == 0:
            return float(scaling["min"]), float(scaling["max"])
        return None

    @property
    def eval_split(self) -> str:
        """``"val"``, or ``"train"`` when the dataset has no validation split."""
        return "val" if self._raw is not None and self._raw.num_val else "train"

    def class_name(self, index: int) -> str:
        classes = self._classes or ()
        return classes[index] if 0 <= index < len(classes) else str(index)

    # ------------------------------------------------------------------ predicting
    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Raw samples (one, or a batch; any shape with the Input's number of values) as a float32
        batch shaped like the Input and scaled as in training."""
        x = np.asarray(x, dtype=np.float32)
        size = int(np.prod(self.input_shape))
        if x.size == size:
            batch = 1
        elif x.ndim > 1 and x.size == len(x) * size:
            batch = len(x)
        else:
            raise InferenceError(f"samples of shape {list(x.shape)} do not fit the Input "
                                 f"{list(self.input_shape)} ({size} values each)")
        x = x.reshape((batch,) + self.input_shape)
        return apply_scaling(x, self.scaling) if self.scaling else x

    def outputs(self, x: np.ndarray, preprocessed: bool = False) -> np.ndarray:
        """The model's scores ``(n, k)`` for raw samples (or already preprocessed ones)."""
        batch = np.asarray(x, dtype=np.float32) if preprocessed else self.preprocess(x)
        parts = [self._forward(batch[i:i + CHUNK]) for i in range(0, len(batch), CHUNK)]
        return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)

    def probabilities(self, x: np.ndarray, preprocessed: bool = False) -> np.ndarray:
        """Class probabilities ``(n, classes)`` of raw samples (a classifier's only)."""
        if not self.is_classifier:
            raise InferenceError(f"a {self.task} model gives values, not class probabilities")
        return _probabilities(self.task, self.outputs(x, preprocessed))

    def predict(self, x: np.ndarray, top_k: int = 5, preprocessed: bool = False) -> Prediction:
        """The prediction for one raw sample."""
        batch = self.outputs(x, preprocessed)
        if len(batch) != 1:
            raise InferenceError(f"predict takes one sample, not {len(batch)}; use predict_batch")
        return self._prediction(batch[0], top_k)

    def predict_batch(self, x: np.ndarray, top_k: int = 5, preprocessed: bool = False) -> list[Prediction]:
        return [self._prediction(row, top_k) for row in self.outputs(x, preprocessed)]

    def _prediction(self, outputs: np.ndarray, top_k: int) -> Prediction:
        if not self.is_classifier:
            return Prediction(self.task, outputs, None, ())
        probs = _probabilities(self.task, outputs[None])[0]
        order = np.argsort(-probs, kind="stable")[:max(0, top_k)]
        return Prediction(self.task, outputs, probs,
                          tuple(Ranked(int(i), self.class_name(int(i)), float(probs[i])) for i in order))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            device = next((p.device for p in self._module.parameters()), torch.device("cpu"))
            x = x.to(device)
            if isinstance(self._pick, str):  # through the criterion, with placeholder targets
                targets = [torch.zeros((len(x),) + tuple(e.spec.features),
                                       dtype=torch.int64 if e.spec.dtype == INT else torch.float32, device=device)
                           for e in self.compiled.targets]
                out = self._module(x, *targets)[self._pick]
            else:
                out = self._module(x)
                out = out[self._pick] if isinstance(out, (tuple, list)) else out
            return out.detach().float().cpu().reshape(len(x), -1).numpy()

    # ------------------------------------------------------------------ dataset samples
    def num_samples(self, split: str | None = None) -> int:
        if self._raw is None:
            return 0
        y = getattr(self._raw, f"y_{split or self.eval_split}")
        return 0 if y is None else len(y)

    def samples(self, split: str | None = None, indices=None) -> Samples:
        """Raw samples of ``split`` (default: the validation split, or train when there is none) at
        ``indices`` (default: all), with their labels."""
        if self._raw is None:
            raise InferenceError(self.note or "no dataset")
        split = split or self.eval_split
        x, y = getattr(self._raw, f"x_{split}"), getattr(self._raw, f"y_{split}")
        if y is None:
            raise InferenceError(f"the dataset has no {split} split")
        indices = np.arange(len(y)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        return Samples(indices, np.asarray(x[indices], dtype=np.float32), np.asarray(y[indices]))

    def validation_samples(self, limit: int | None = None) -> Samples:
        """The first ``limit`` (default: all) samples of the validation split."""
        count = self.num_samples()
        return self.samples(None, np.arange(count if limit is None else min(limit, count)))

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        """Labels as class indices (binary float targets thresholded at 0.5)."""
        y = np.asarray(y)
        if self.task == BINARY and y.dtype.kind == "f":
            return (y.reshape(len(y), -1)[:, 0] > 0.5).astype(np.int64)
        return y.reshape(len(y)).astype(np.int64)

    def misclassified(self, limit: int | None = None, split: str | None = None) -> list[Mistake]:
        """The samples of ``split`` the model gets wrong, most confident mistakes first (ties keep
        the split's order). Empty for models that are not single-label classifiers."""
        if not self.is_classifier or not self.has_samples:
            return []
        mistakes: list[Mistake] = []
        count = self.num_samples(split)
        for start in range(0, count, CHUNK):  # chunks: a big image folder is decoded a part at a time
            data = self.samples(split, np.arange(start, min(count, start + CHUNK)))
            scores = self.outputs(data.x)
            if self.task == BINARY and scores.shape[1] > 1:
                return []  # multi-label: no single predicted class
            probs = _probabilities(self.task, scores)
            predicted, confidence, truth = probs.argmax(1), probs.max(1), self.true_classes(data.y)
            mistakes += [Mistake(int(data.indices[i]), data.x[i].copy(), int(truth[i]), int(predicted[i]),
                                 float(confidence[i])) for i in np.flatnonzero(predicted != truth)]
        mistakes.sort(key=lambda m: -m.confidence)  # stable: ties keep the split's order
        return mistakes[:limit]


def _checkpoint_of(weights: Any) -> dict | None:
    if isinstance(weights, (str, os.PathLike)):
        return load_checkpoint(weights)
    if isinstance(weights, dict) and weights.get("format") == CHECKPOINT_FORMAT:
        return weights
    return None


def _task_without_data(graph: Graph, compiled: CompiledGraph) -> tuple[str, str | None]:
    """The primary loss's task and name, read from the graph alone (as ``plan_training`` decides it)."""
    if not compiled.losses:
        return LOSS_ONLY, None
    term = compiled.losses[0]
    task = TASK_OF_LOSS.get(graph.node(term.node_id).type_id, LOSS_ONLY)
    target = next((e for e in compiled.targets if e.node_id == term.target_node), None)
    if task == CLASSIFICATION and (target is None or target.spec.dtype != INT):
        task = LOSS_ONLY  # class probabilities as float targets
    return task, term.name


def _prediction_source(graph: Graph, compiled: CompiledGraph, loss_name: str | None):
    """``(module, pick)``: the model and the index of the Output fed by the loss's prediction; else the
    criterion and its ``pred/<loss>`` key; else (no loss) the model's first output."""
    term = next((t for t in compiled.losses if t.name == loss_name), None)
    if term is not None:
        pred = next(e for e in graph.incoming(term.node_id) if e.dst_port == graph.input_ports(term.node_id)[0].name)
        for i, endpoint in enumerate(compiled.outputs):
            edge = next(iter(graph.incoming(endpoint.node_id)), None)
            if edge is not None and (edge.src, edge.src_port) == (pred.src, pred.src_port):
                return compiled.model, i
        return compiled.criterion, f"pred/{term.name}"
    if not compiled.outputs:
        raise InferenceError("the graph has no Output node to predict with")
    return compiled.model, 0


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _probabilities(task: str, scores: np.ndarray) -> np.ndarray:
    if task == CLASSIFICATION:
        return _softmax(scores.astype(np.float64)).astype(np.float32)
    positive = 1.0 / (1.0 + np.exp(-scores.astype(np.float64)))
    if scores.shape[1] == 1:  # one logit: the probabilities of classes 0 and 1
        positive = np.concatenate([1.0 - positive, positive], axis=1)
    return positive.astype(np.float32)
