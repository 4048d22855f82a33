"""From what a loader read to a ``Dataset``: choose the task, encode the labels, split.

Loaders fill a ``RawData`` with raw labels (numbers or text) per part (``train`` and, when the
source has them, ``val`` / ``test``). ``assemble`` turns class labels into ``0..K-1`` using the
classes of the training part, and splits off the validation / test parts that are missing (the
arrays of further Inputs and Targets with the same samples).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from layerloom.data.base import (CLASSIFICATION, REGRESSION, ArrayLike, Dataset, DatasetError, NamedArrays,
                                 split_indices, take)
from layerloom.data.guard import first_nonfinite, nonfinite_text

MAX_CLASSES = 10_000  # more distinct labels than this is a regression target, not classes
PARTS = ("train", "val", "test")


@dataclass
class RawData:
    """A loader's result before labels are encoded and the data is split.

    ``y`` holds raw labels: numbers, text (a numpy ``str`` array), or indices into ``classes`` when
    the loader already knows the class names (folders, built-ins). ``task_hint`` is the loader's
    guess for ``task="auto"`` (None: integer labels are classes, others a regression target).
    ``label_names`` names each part's labels in messages (``y_val``, ``t10k-labels-idx1-ubyte``);
    ``row_location`` says where a sample is in the file (a CSV's line), when an index would not.
    """

    name: str
    source: str
    path: str | None
    x: dict[str, ArrayLike]
    y: dict[str, np.ndarray]
    feature_shape: tuple[int, ...]
    image: bool = False
    value_range: tuple[float, float] | None = None
    classes: tuple[str, ...] | None = None
    class_values: np.ndarray | None = None
    task_hint: str | None = None
    task_fixed: bool = False
    label_names: dict[str, str] = field(default_factory=dict)
    row_location: Callable[[str, int], str] | None = None  # (part, sample index) -> "line 17"
    input_name: str | None = None      # the Input node ``x`` is named after (None: the graph's one Input)
    target_name: str | None = None     # the Target node ``y`` is named after
    extra_inputs: tuple[NamedArrays, ...] = ()    # further Inputs' features, per part like ``x``
    extra_targets: tuple[NamedArrays, ...] = ()   # further Targets' labels (numbers, as read)
    sample_files: dict[str, list[str]] = field(default_factory=dict)  # an image folder's files, per part


def assemble(raw: RawData, task: str, val_split: float, test_split: float, seed: int) -> Dataset:
    """Encode the labels of ``raw`` for ``task`` ("auto" allowed) and split it into a ``Dataset``."""
    task = _choose_task(raw, task)
    if task == CLASSIFICATION:
        ys, classes, class_values = _encode_classes(raw)
    else:
        ys, classes, class_values = {part: _regression_target(raw, part, y) for part, y in raw.y.items()}, None, None
    xs = dict(raw.x)
    extras = [(e, dict(e.parts)) for e in raw.extra_inputs + raw.extra_targets]
    need_val = "val" not in xs and val_split > 0
    need_test = "test" not in xs and test_split > 0
    if need_val or need_test:
        n = len(ys["train"])
        train, val, test = split_indices(n, val_split if need_val else 0.0, test_split if need_test else 0.0, seed)
        for parts in [xs, ys] + [parts for _, parts in extras]:
            whole = parts["train"]
            parts["train"] = take(whole, train)
            if need_val:
                parts["val"] = take(whole, val)
            if need_test:
                parts["test"] = take(whole, test)
    if len(ys["train"]) == 0:
        raise DatasetError("no training samples", raw.path)
    extras = [dataclasses.replace(e, parts=parts) for e, parts in extras]
    n_inputs = len(raw.extra_inputs)
    return Dataset(
        name=raw.name, source=raw.source, task=task,
        x_train=xs["train"], y_train=ys["train"], x_val=xs.get("val"), y_val=ys.get("val"),
        x_test=xs.get("test"), y_test=ys.get("test"), feature_shape=tuple(raw.feature_shape),
        classes=classes, class_values=class_values, image=raw.image, value_range=raw.value_range,
        input_name=raw.input_name, target_name=raw.target_name, extra_inputs=tuple(extras[:n_inputs]),
        extra_targets=tuple(extras[n_inputs:]))


def _label_name(raw: RawData, part: str) -> str:
    return raw.label_names.get(part, {"train": "y", "val": "y_val", "test": "y_test"}[part])


def _is_text(y: np.ndarray) -> bool:
    return y.dtype.kind in "US"


def _choose_task(raw: RawData, task: str) -> str:
    if task == "auto":
        if raw.task_hint is not None:
            return raw.task_hint
        if raw.classes is not None or _is_text(raw.y["train"]):
            return CLASSIFICATION
        return CLASSIFICATION if raw.y["train"].dtype.kind in "iub" else REGRESSION
    if raw.task_fixed and task != raw.task_hint:
        raise DatasetError(f"'{raw.name}' is a {raw.task_hint} set; set task to auto or {raw.task_hint}",
                           location="training.dataset.task")
    if task == REGRESSION and (raw.classes is not None or _is_text(raw.y["train"])):
        example = raw.classes[0] if raw.classes else str(raw.y["train"][0])
        raise DatasetError(f"the labels are class names (such as {example!r}), not numbers, so they cannot "
                           "be a regression target; set task to classification or auto", raw.path)
    return task


def _regression_target(raw: RawData, part: str, y: np.ndarray) -> np.ndarray:
    if _is_text(y) or y.dtype.kind not in "iubf":
        raise DatasetError(f"{_label_name(raw, part)} must hold numbers for regression, not {y.dtype}", raw.path)
    _check_finite(raw, part, y)
    return y.astype(np.float32)


def _check_finite(raw: RawData, part: str, y: np.ndarray) -> None:
    """Refuse a label that is not a finite float32 number, naming where it is."""
    found = first_nonfinite(y)
    if found is None:
        return
    index, value = found
    if raw.row_location is not None:
        place = raw.row_location(part, index[0])
    else:
        place = "sample " + ", ".join(str(i) for i in index)
    raise DatasetError(f"{_label_name(raw, part)} {nonfinite_text(value)}", raw.path, place)


def _flat_labels(raw: RawData, part: str) -> np.ndarray:
    y = raw.y[part]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{_label_name(raw, part)} has shape {list(y.shape)}; class labels need one value "
                           "per sample", raw.path)
    if not _is_text(y) and y.dtype.kind not in "iubf":
        raise DatasetError(f"{_label_name(raw, part)} holds {y.dtype} values; labels must be numbers or text",
                           raw.path)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        index = int(np.argmax(~np.isfinite(y)))
        place = raw.row_location(part, index) if raw.row_location is not None else f"sample {index}"
        raise DatasetError(f"{_label_name(raw, part)} {nonfinite_text(float(y[index]))}", raw.path, place)
    return y


def _encode_classes(raw: RawData):
    """Labels as ``0..K-1`` for each part, by the classes seen in the training part."""
    labels = {part: _flat_labels(raw, part) for part in raw.y}
    if raw.classes is not None:
        return {p: y.astype(np.int64) for p, y in labels.items()}, tuple(raw.classes), raw.class_values
    known = np.unique(labels["train"])
    if len(known) > MAX_CLASSES:
        raise DatasetError(f"{_label_name(raw, 'train')} holds {len(known):,} distinct values: too many classes; "
                           "is it a regression target? (set task to regression)", raw.path)
    encoded = {}
    for part, y in labels.items():
        index = np.searchsorted(known, y)
        index = np.minimum(index, len(known) - 1)
        unseen = known[index] != y
        if unseen.any():
            bad = y[np.argmax(unseen)]
            raise DatasetError(f"label {_label_text(bad)!r} in {_label_name(raw, part)} does not occur in the "
                               f"training labels ({_label_name(raw, 'train')})", raw.path)
        encoded[part] = index.astype(np.int64)
    if _is_text(known):
        return encoded, tuple(str(v) for v in known), None
    values = known.astype(np.float64)
    return encoded, tuple(_label_text(v) for v in values), values


def _label_text(value) -> str:
    """A class name for a label: ``"3"`` for 3 or 3.0, ``"2.5"`` for 2.5, text as it is."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
