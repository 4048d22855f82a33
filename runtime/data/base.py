"""The dataset record every loader returns, its error type, and the seeded train/val/test split."""

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
        """One line: name, task, shapes, classes and split sizes."""
        shape = "[" + ", ".join(str(s) for s in self.feature_shape) + "]"
        target = f"{self.num_classes} classes" if self.classes is not None else \
            "target [" + ", ".join(str(s) for s in self.y_train.shape[1:]) + "]"
        return (f"{self.name}: {self.task}, features {shape}, {target}; "
                f"{self.num_train:,} train / {self.num_val:,} val / {self.num_test:,} test")

    def reshaped(self, shape: tuple[int, ...]) -> Dataset:
        """The same data with each sample's features reshaped (C order) to ``shape``."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(self.feature_shape) or any(s < 1 for s in shape):
            raise DatasetError(f"cannot reshape features {list(self.feature_shape)} "
                               f"({math.prod(self.feature_shape)} values) to {list(shape)}")
        return dataclasses.replace(
            self, x_train=_reshape(self.x_train, shape), x_val=_reshape(self.x_val, shape),
            x_test=_reshape(self.x_test, shape), feature_shape=shape, image=self.image and len(shape) == 3)


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
