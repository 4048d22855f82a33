"""Everything checked before the first step: the graph compiles, the dataset loads and fits it.

``plan_training`` turns a graph and its settings into a ``Plan`` (compiled modules, the dataset shaped
and scaled for the graph, one metrics head per loss) or raises ``SetupError`` with ``Problem``
records that name the node to fix: the Input whose shape does not match the samples, the layer whose
class count does not match the labels, the loss that needs integer labels... Which arrays feed which
Input and Target (a graph may have several) is ``layerloom.training.feeds``'s part.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from layerloom.model.analysis import ERROR, WARNING, Problem, analyze
from layerloom.compiler import CompiledGraph, compile_graph
from layerloom.edits.loss import NO_LOSS
from layerloom.data import CLASSIFICATION as DATA_CLASSIFICATION
from layerloom.data import Dataset, DatasetError, load_dataset, make_augmenter, scale
from layerloom.core.errors import CompileError, LayerLoomError
from layerloom.model.graph import Graph
from layerloom.core.shapes import INT, format_shape
from layerloom.training.config import TrainingConfig
from layerloom.training.feeds import arrange_inputs, arrange_targets, data_layout
from layerloom.training.metrics import BINARY, CLASSIFICATION, LOSS_ONLY, REGRESSION, TASK_OF_LOSS, Head
from layerloom.training.run_writer import CheckpointError
from layerloom.training.start_weights import FitReport, fit_weights, read_weights_file, start_weights_path


class SetupError(LayerLoomError):
    """Training cannot start; ``problems`` says why, node by node."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("cannot train:\n  " + "\n  ".join(p.describe() for p in self.problems))


@dataclass
class Plan:
    graph: Graph
    config: TrainingConfig
    compiled: CompiledGraph
    dataset: Dataset            # reshaped to the Input, labels converted for the loss, scaled
    heads: list[Head]           # one per loss fed by the dataset's Target; heads[0] is the primary one
    augmenter: object | None = None
    warnings: list[Problem] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None  # augment batches in this shape when the Input flattens images
    start_weights: FitReport | None = None      # how ``training.weights`` fitted the compiled model
    label_index: int = 0    # which of the criterion's Targets the dataset's own labels (y_*) feed

    def features(self, split: str) -> list:
        """The split's feature arrays, one per criterion Input, in its argument order."""
        data = self.dataset
        return [data.x_part(split)] + [arrays.part(split) for arrays in data.extra_inputs]

    def labels(self, split: str) -> list:
        """The split's label arrays, one per criterion Target, in its order (none without Targets)."""
        if not self.has_target:
            return []
        data = self.dataset
        labels = [arrays.part(split) for arrays in data.extra_targets]
        labels.insert(self.label_index, data.y_part(split))
        return labels

    @property
    def task(self) -> str:
        return self.heads[0].task if self.heads else LOSS_ONLY

    @property
    def has_target(self) -> bool:
        return bool(self.compiled.targets)

    @property
    def loss_is_sum(self) -> bool:
        """Every loss sums over the batch (``reduction: sum``): its value is already a total."""
        infos = self.compiled.analysis.nodes
        terms = self.compiled.losses
        return bool(terms) and all(infos[t.node_id].params.get("reduction") == "sum" for t in terms)


def plan_training(graph: Graph, config: TrainingConfig | None = None, *, dataset: Dataset | None = None,
                  base_dir: str | Path | None = None) -> Plan:
    """Check and prepare a run. ``dataset`` skips loading (already loaded, raw); ``base_dir`` resolves
    a relative dataset path (the graph file's folder)."""
    config = config or TrainingConfig.from_graph(graph)
    analysis = analyze(graph)
    if analysis.errors:
        raise SetupError(analysis.errors)
    try:
        compiled = compile_graph(graph, seed=config.seed, analysis=analysis)
    except CompileError as exc:
        raise SetupError(exc.problems) from exc
    problems: list[Problem] = []
    start_weights = _load_start_weights(config, compiled, base_dir, problems)
    _check_frozen(graph, analysis, compiled, start_weights, problems)
    _check_structure(graph, compiled, problems)
    if _errors(problems):
        raise SetupError(problems)
    if dataset is None:
        try:
            dataset = load_dataset(config.dataset, base_dir=base_dir, layout=data_layout(graph, analysis))
        except DatasetError as exc:
            raise SetupError([Problem("dataset", str(exc), label="dataset")]) from exc
    # natural: the features before reshaping, as augmentation works on the images as they are
    dataset, natural = arrange_inputs(graph, compiled, dataset, problems)
    dataset, label_index = arrange_targets(graph, compiled, dataset, problems)
    heads, dataset = _fit_targets(graph, compiled, analysis, dataset, problems, label_index)
    if _errors(problems):
        raise SetupError(problems)
    try:
        dataset = scale(dataset, config.dataset["scaling"])
        augmenter = make_augmenter(config.dataset, natural)
    except DatasetError as exc:
        raise SetupError([Problem("dataset", str(exc), label="dataset")]) from exc
    _check_monitor(config, dataset, heads, problems)
    _check_batch_size(config, dataset, problems)
    image_shape = tuple(natural.feature_shape) if augmenter is not None else None
    if image_shape == tuple(dataset.feature_shape):
        image_shape = None
    return Plan(graph, config, compiled, dataset, heads, augmenter, [p for p in problems if p.severity == WARNING],
                image_shape, start_weights, label_index)


def _check_frozen(graph: Graph, analysis, compiled: CompiledGraph, start: FitReport | None,
                  problems: list[Problem]) -> None:
    """Frozen layers (fine-tuning): a run with every weight frozen has nothing to train (an error); a frozen
    layer that loads no weights keeps its random start for the whole run (a warning on that node)."""
    parameters = list(compiled.model.parameters())
    if parameters and not any(p.requires_grad for p in parameters):
        problems.append(Problem("frozen", "every layer is frozen: nothing to train; make at least one layer "
                                "trainable (the Trainable switch in the inspector)", label="training"))
        return
    fresh = set(start.nodes(start.missing + [m[0] for m in start.mismatched] + start.not_finite)) \
        if start is not None else None
    for node in graph:
        info = analysis.nodes.get(node.id)
        if node.trainable or info is None or not info.param_count:
            continue
        if fresh is None or node.id in fresh:
            problems.append(Problem("frozen", "frozen but it loads no weights (training.weights" +
                                    (" has none that fit it" if fresh is not None else " is not set") +
                                    "), so it keeps its random start for the whole run", node_id=node.id,
                                    severity=WARNING, label=node.label()))


def _load_start_weights(config: TrainingConfig, compiled: CompiledGraph, base_dir, problems: list[Problem]):
    """``training.weights`` loaded into the compiled model by node name; a file that cannot be read is an
    error, weights that fit only in part a warning naming what starts fresh."""
    if not config.weights:
        return None
    path = start_weights_path(config.weights, base_dir)
    try:
        report = fit_weights(compiled.model, read_weights_file(path), path.name)
    except CheckpointError as exc:
        problems.append(Problem("weights", str(exc), label="training.weights"))
        return None
    if not report.loaded:
        problems.append(Problem("weights", f"{path.name}: no tensor fits this graph (names are node ids such as "
                                "fc1.weight); " + "; ".join(report.lines()[1:]), label="training.weights"))
    elif not report.complete or report.unused:
        problems.append(Problem("weights", "; ".join(report.lines()), label="training.weights", severity=WARNING))
    return report


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == ERROR]


def _label(graph: Graph, node_id: str) -> str:
    return graph.node(node_id).label()


def _check_batch_size(config: TrainingConfig, dataset: Dataset, problems: list[Problem]) -> None:
    """A batch larger than the training split trains one step an epoch: said before the run, so a run
    that then learns little is not blamed on its learning rate alone."""
    size, samples = int(config.batch_size), int(dataset.num_train or 0)
    if samples and size > samples:
        problems.append(Problem(
            "batch_size", f"batch size {size:,} is more than the {samples:,} training samples: each epoch is one "
            f"step of {samples:,}, so {config.epochs:,} epochs train {config.epochs:,} steps; a batch of "
            f"{min(64, samples):,} takes {-(-samples // min(64, samples)):,} steps an epoch",
            label="training.batch_size", severity=WARNING))


def _check_structure(graph: Graph, compiled: CompiledGraph, problems: list[Problem]) -> None:
    if compiled.criterion is None:
        problems.append(Problem(NO_LOSS, "the graph has no loss to train: add a loss node (e.g. CrossEntropyLoss) "
                                "fed by the prediction and a Target"))


def _fit_targets(graph, compiled, analysis, dataset: Dataset, problems,
                 label_index: int = 0) -> tuple[list[Head], Dataset]:
    """One head per loss fed by the Target the dataset's own labels feed, and those labels converted
    for its losses."""
    if not compiled.targets:
        return [], dataset
    target = compiled.targets[label_index]
    target_label = _label(graph, target.node_id)
    heads: list[Head] = []
    y_kind = None  # how the labels must be given: "index" or "float"
    for term in compiled.losses:
        if term.target_node != target.node_id:
            continue
        loss_type = graph.node(term.node_id).type_id
        loss_label = _label(graph, term.node_id)
        task = TASK_OF_LOSS.get(analysis.nodes[term.node_id].spec.type_id, LOSS_ONLY)
        pred_spec = analysis.nodes[term.node_id].inputs.get("pred")
        if task == CLASSIFICATION and target.spec.dtype == INT:
            num = _check_classes(graph, term, pred_spec, dataset, problems)
            heads.append(Head(term.name, CLASSIFICATION, num))
            y_kind = "index"
        elif task == CLASSIFICATION:
            heads.append(Head(term.name, LOSS_ONLY))  # class probabilities as float targets
            y_kind = "float"
        else:
            if dataset.task == DATA_CLASSIFICATION and dataset.class_values is None and task != BINARY:
                problems.append(Problem(
                    "target_task", f"needs numbers to regress, but the labels of dataset '{dataset.name}' are "
                    f"class names ({_classes_text(dataset)}); use CrossEntropyLoss with an int64 Target",
                    term.node_id, label=loss_label))
                continue
            if task == BINARY and dataset.task == DATA_CLASSIFICATION and (dataset.num_classes or 0) > 2:
                problems.append(Problem(
                    "target_task", f"is a binary loss, but dataset '{dataset.name}' has {dataset.num_classes} "
                    "classes; use CrossEntropyLoss with an int64 Target", term.node_id, label=loss_label))
                continue
            heads.append(Head(term.name, task if task in (BINARY, REGRESSION) else LOSS_ONLY))
            y_kind = "float"
        if y_kind == "index" and dataset.task != DATA_CLASSIFICATION:
            problems.append(Problem(
                "target_task", f"({loss_type}) needs integer class labels, but dataset '{dataset.name}' has float "
                "targets (regression); use MSELoss with a float32 Target, or, if its labels are classes, set "
                "training.dataset.task to classification", term.node_id, label=loss_label))
    if _errors(problems) or y_kind is None:
        return heads, dataset
    return heads, _shape_labels(dataset, target, target_label, y_kind, problems)


def _classes_text(dataset: Dataset) -> str:
    classes = list(dataset.classes or ())
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    return shown


def _check_classes(graph, term, pred_spec, dataset: Dataset, problems) -> int | None:
    if dataset.task != DATA_CLASSIFICATION or pred_spec is None or pred_spec.rank < 2:
        return dataset.num_classes
    scores = pred_spec.shape[1]
    classes = dataset.num_classes or 0
    node = graph.node(term.pred_node)
    param = "out_features" if "out_features" in node.params or node.type_id == "Linear" else None
    if scores < classes:
        problems.append(Problem(
            "classes", f"gives {scores} class scores, but dataset '{dataset.name}' has {classes} classes "
            f"({_classes_text(dataset)}); make it {classes}", term.pred_node, param=param, label=node.label()))
    elif scores > classes:
        problems.append(Problem(
            "classes", f"gives {scores} class scores, but dataset '{dataset.name}' has only {classes} classes; "
            f"the extra {scores - classes} are never the answer", term.pred_node, param=param,
            severity=WARNING, label=node.label()))
    return max(scores, classes)


def _shape_labels(dataset: Dataset, target, target_label: str, y_kind: str, problems) -> Dataset:
    """Labels as the Target node declares them: int64 class indices, or float32 values shaped
    like the Target (``[]`` or ``[k]``)."""
    want = tuple(target.spec.features)
    if y_kind == "index":
        return dataset
    converted = {}
    for split in ("train", "val", "test"):
        y = getattr(dataset, f"y_{split}")
        if y is None:
            continue
        y = np.asarray(y)
        if dataset.task == DATA_CLASSIFICATION and dataset.class_values is not None:
            y = dataset.class_values[y]
        y = y.astype(np.float32)
        per_sample = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
        if per_sample != int(np.prod(want)):
            problems.append(Problem(
                "target_shape", f"declares labels of shape {format_shape(want)}, but dataset '{dataset.name}' has "
                f"{per_sample} value(s) per sample; set the shape to {format_shape(y.shape[1:]) if y.ndim > 1 else '[1]'}",
                target.node_id, param="shape", label=target_label))
            return dataset
        converted[f"y_{split}"] = y.reshape((len(y),) + want)
    return replace(dataset, **converted)


def _check_monitor(config: TrainingConfig, dataset: Dataset, heads: list[Head], problems: list[Problem]) -> None:
    monitor = config.monitor
    split, _, metric = monitor.partition("_")
    if split == "val" and dataset.num_val == 0:
        problems.append(Problem("monitor", f"monitor '{monitor}' needs a validation split, but the dataset has "
                                "none (set training.dataset.val_split); using train_loss", severity=WARNING,
                                label="training"))
        return
    names = ("loss",) + (heads[0].metric_names(split) if heads else ())
    if metric not in names:
        problems.append(Problem("monitor", f"monitor '{monitor}' is not measured for this graph (it has "
                                f"{', '.join(split + '_' + n for n in names)}); using {split}_loss",
                                severity=WARNING, label="training"))


def effective_monitor(plan: Plan) -> str:
    """The monitored metric after the fallbacks ``_check_monitor`` warned about."""
    monitor = plan.config.monitor
    split, _, metric = monitor.partition("_")
    if split == "val" and plan.dataset.num_val == 0:
        return "train_loss"
    names = ("loss",) + (plan.heads[0].metric_names(split) if plan.heads else ())
    return monitor if metric in names else f"{split}_loss"

