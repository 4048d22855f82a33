"""Datasets for training: built-in sets (scikit-learn, generated, and MNIST, Fashion-MNIST, KMNIST and
CIFAR-10, downloaded once when the user asks: ``downloads``), CSV, NPZ, IDX files and image folders.

``load_dataset(settings)`` reads the graph file's ``training.dataset`` settings (``DATASET_PARAMS``)
and returns a split, unscaled ``Dataset``; given a ``DataLayout`` (the graph's Input and Target names)
it also reads data for several Inputs and Targets (``NamedArrays``: NPZ arrays named after the nodes,
CSV column groups, an image folder's side table). ``scale`` fits scaling on its training split, each
Input on its own; ``make_augmenter`` builds the random image augmentation the settings ask for. Loading a
downloadable set that is not on disk raises ``DownloadNeeded`` (what to fetch, how big, where it goes);
nothing downloads unless ``downloads.download`` is called.

May import: ``layerloom.core``; independent of the graph, the catalog and the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerloom.core.lazy import lazy_exports
from layerloom.data.base import CLASSIFICATION, REGRESSION, ArrayLike, DataLayout, Dataset, DatasetError, NamedArrays
from layerloom.data.builtins import BUILTINS, BuiltinInfo
from layerloom.data.downloads import DownloadNeeded
from layerloom.data.lazy import LazyImages
from layerloom.data.settings import DATASET_PARAMS, dataset_settings, load_dataset
from layerloom.data.transforms import apply_scaling, scale

# Augmentation runs on PyTorch tensors: imported on first use, so DATASET_PARAMS (which checks a graph
# file's training section) stays light.
__getattr__, __dir__ = lazy_exports(__name__, {".augment": ("Augmenter", "make_augmenter")})
if TYPE_CHECKING:  # pragma: no cover
    from layerloom.data.augment import Augmenter, make_augmenter

__all__ = [
    "Augmenter", "make_augmenter", "CLASSIFICATION", "REGRESSION", "ArrayLike", "DataLayout", "Dataset",
    "DatasetError", "DownloadNeeded", "NamedArrays",
    "BUILTINS", "BuiltinInfo", "LazyImages", "DATASET_PARAMS", "dataset_settings", "load_dataset",
    "apply_scaling", "scale",
]
