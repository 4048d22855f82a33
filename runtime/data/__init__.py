"""Datasets for training: built-in sets (scikit-learn, generated), CSV, NPZ, IDX files and image folders.

``load_dataset(settings)`` reads the graph file's ``training.dataset`` settings (``DATASET_PARAMS``)
and returns a split, unscaled ``Dataset``; ``scale`` fits scaling on its training split;
``make_augmenter`` builds the random image augmentation the settings ask for. Nothing downloads.
"""

from __future__ import annotations

from .augment import Augmenter, make_augmenter
from .base import CLASSIFICATION, REGRESSION, ArrayLike, Dataset, DatasetError
from .builtins import BUILTINS, BuiltinInfo
from .lazy import LazyImages
from .settings import DATASET_PARAMS, dataset_settings, load_dataset
from .transforms import apply_scaling, scale

__all__ = [
    "Augmenter", "make_augmenter", "CLASSIFICATION", "REGRESSION", "ArrayLike", "Dataset", "DatasetError",
    "BUILTINS", "BuiltinInfo", "LazyImages", "DATASET_PARAMS", "dataset_settings", "load_dataset",
    "apply_scaling", "scale",
]
