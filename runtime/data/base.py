"""The dataset record every loader returns, its error type, and the seeded train/val/test split.

A dataset feeds one Input and one Target (``x_*`` / ``y_*``), or, for a graph with several, more named
arrays beside them (``extra_inputs`` / ``extra_targets``, one ``NamedArrays`` per node); ``DataLayout``
tells a loader the names of the graph's Input and Target nodes, so it can find arrays named after them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from layerloom.core.errors import LocatedError

if TYPE_CHECKING:
    from layerloom.data.lazy import LazyImages

CLASSIFICATION = "classification"
REGRESSION = "regression"

ArrayLike = Union[np.ndarray, "LazyImages"]


class DatasetError(LocatedError):
    """Data that cannot be loaded. ``path`` names the file, ``location`` the place in it
    (``line 5, column 'age'``, an array name, or a settings key such as ``training.dataset.path``)."""


@dataclass(frozen=True)
class DataLayout:
    """The graph's Input and Target nodes as ``(node id, node name)`` pairs, in the graph's order: what
    a loader looks for when a file names its arrays (NPZ) or column groups (CSV) after the nodes."""

    inputs: tuple[tuple[str, str], ...] = ()
    targets: tuple[tuple[str, str], ...] = ()

    @property
    def several(self) -> bool:
        return len(self.inputs) > 1 or len(self.targets) > 1


def node_matches(key: str | None, node: tuple[str, str]) -> bool:
    """Whether an array or group called ``key`` belongs to ``node`` (its id or its name)."""
    return key is not None and key in node


@dataclass
class NamedArrays:
    """The arrays of one more Input (features) or Target (labels) node, per split.

    ``parts`` maps ``"train"`` (and ``"val"`` / ``"test"``) to ``(n, *feature_shape)`` arrays aligned
    sample by sample with the dataset's own ``x_*``; features are float32, labels numbers as read.
    """

    name: str
    parts: dict[str, ArrayLike]
    feature_shape: tuple[int, ...] = ()
    image: bool = False
    value_range: tuple[float, float] | None = None
    scaling: dict | None = None

    def part(self, split: str) -> ArrayLike | None:
        return self.parts.get(split)

    def shape_text(self) -> str:
        return "[" + ", ".join(str(s) for s in self.feature_shape) + "]"

    def reshaped(self, shape: tuple[int, ...]) -> NamedArrays:
        """The same arrays with each sample reshaped (C order) to ``shape``."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(self.feature_shape) or any(s < 1 for s in shape):
            raise DatasetError(f"cannot reshape {self.name!r} samples {list(self.feature_shape)} "
                               f"({math.prod(self.feature_shape)} values) to {list(shape)}")
        return dataclasses.replace(self, parts={k: _reshape(v, shape) for k, v in self.parts.items()},
                                   feature_shape=shape, image=self.image and len(shape) == 3)


@dataclass
class Dataset:
    """Features and labels split into train / val / test, with what is known about them.

    ``x_*`` have shape ``(n, *feature_shape)`` and dtype float32 (a numpy array, or a
    ``LazyImages`` that decodes on indexing). Classification labels are int64 in ``0..K-1``;
    regression targets are float32 ``(n,)`` or ``(n, k)``.
    """

    name: str
    source: str
    task: str
    x_train: ArrayLike
    y_train: np.ndarray
    x_val: ArrayLike | None
    y_val: np.ndarray | None
    x_test: ArrayLike | None = None
    y_test: np.ndarray | None = None
    feature_shape: tuple[int, ...] = ()
    classes: tuple[str, ...] | None = None
    class_values: np.ndarray | None = None
    image: bool = False
    value_range: tuple[float, float] | None = None
    scaling: dict | None = None
    input_name: str | None = None    # the Input node ``x_*`` feeds by name (None: the graph's one Input)
    target_name: str | None = None   # the Target node ``y_*`` feeds by name (None: the graph's one Target)
    extra_inputs: tuple[NamedArrays, ...] = ()
    extra_targets: tuple[NamedArrays, ...] = ()
    scaling_mode: str = "auto"       # the scaling setting, for the summary before ``scale`` applies it

    @property
    def num_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def num_train(self) -> int:
        return len(self.y_train)

    @property
    def num_val(self) -> int:
        return 0 if self.y_val is None else len(self.y_val)

    @property
    def num_test(self) -> int:
        return 0 if self.y_test is None else len(self.y_test)

    def summary(self) -> str:
        """Two lines: name, task, shapes (per Input when there are several), classes and split sizes;
        then the scaling chosen for the features and why."""
        from layerloom.data.transforms import scaling_summary

        shape = "[" + ", ".join(str(s) for s in self.feature_shape) + "]"
        if self.extra_inputs or self.input_name is not None:
            shape = ", ".join([f"{self.input_name or 'x'} {shape}"] + [f"{e.name} {e.shape_text()}"
                                                                     for e in self.extra_inputs])
        target = f"{self.num_classes} classes" if self.classes is not None else \
            "target [" + ", ".join(str(s) for s in self.y_train.shape[1:]) + "]"
        if self.extra_targets:
            target += "".join(f", {e.name} {e.shape_text()}" for e in self.extra_targets)
        return (f"{self.name}: {self.task}, features {shape}, {target}; "
                f"{self.num_train:,} train / {self.num_val:,} val / {self.num_test:,} test\n"
                f"{scaling_summary(self)}")

    def reshaped(self, shape: tuple[int, ...]) -> Dataset:
        """The same data with each sample's features reshaped (C order) to ``shape``."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(self.feature_shape) or any(s < 1 for s in shape):
            raise DatasetError(f"cannot reshape features {list(self.feature_shape)} "
                               f"({math.prod(self.feature_shape)} values) to {list(shape)}")
        return dataclasses.replace(
            self, x_train=_reshape(self.x_train, shape), x_val=_reshape(self.x_val, shape),
            x_test=_reshape(self.x_test, shape), feature_shape=shape, image=self.image and len(shape) == 3)

    def x_part(self, split: str) -> ArrayLike | None:
        return getattr(self, f"x_{split}")

    def y_part(self, split: str) -> np.ndarray | None:
        return getattr(self, f"y_{split}")

    def input_arrays(self) -> list[NamedArrays]:
        """Every Input's features as ``NamedArrays``: ``x_*`` first (named ``input_name``), then the rest."""
        parts = {split: self.x_part(split) for split in SPLITS if self.x_part(split) is not None}
        first = NamedArrays(self.input_name or "", parts, tuple(self.feature_shape), self.image, self.value_range,
                            self.scaling)
        return [first, *self.extra_inputs]

    def with_inputs(self, arrays: list[NamedArrays]) -> Dataset:
        """The dataset fed by ``arrays`` in this order (``x_*`` from the first)."""
        first = arrays[0]
        return dataclasses.replace(
            self, x_train=first.parts["train"], x_val=first.parts.get("val"), x_test=first.parts.get("test"),
            feature_shape=tuple(first.feature_shape), image=first.image, value_range=first.value_range,
            scaling=first.scaling, input_name=first.name or None, extra_inputs=tuple(arrays[1:]))


SPLITS = ("train", "val", "test")


def _reshape(x: ArrayLike | None, shape: tuple[int, ...]) -> ArrayLike | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return x.reshape((len(x),) + shape)
    return x.reshaped(shape)


def take(x: ArrayLike, indices: np.ndarray) -> ArrayLike:
    """The samples at ``indices``: a numpy array, or a lazy subset of a ``LazyImages``."""
    if isinstance(x, np.ndarray):
        return x[indices]
    return x.subset(indices)


def split_counts(n: int, val_split: float, test_split: float) -> tuple[int, int]:
    """``(n_val, n_test)``: ``ceil`` of each fraction of ``n`` (0 when the fraction is 0)."""
    n_val = math.ceil(n * val_split) if val_split > 0 else 0
    n_test = math.ceil(n * test_split) if test_split > 0 else 0
    return n_val, n_test


def split_indices(n: int, val_split: float, test_split: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded ``(train, val, test)`` index arrays: test is the end of a random permutation,
    val the part before it, train the rest, each in permutation order."""
    n_val, n_test = split_counts(n, val_split, test_split)
    if n - n_val - n_test < 1:
        raise DatasetError(f"splitting {n:,} samples into {n_val:,} validation and {n_test:,} test "
                           f"samples leaves none for training; lower val_split or test_split",
                           location="training.dataset.val_split")
    import torch  # here, not at the top: checking a graph's dataset settings needs no PyTorch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_train = n - n_val - n_test
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
