"""Image folders: one subfolder per class, optionally inside ``train/``, ``val/`` and ``test/`` folders.

Images are read with Pillow. A set that fits in ``MEMORY_LIMIT`` bytes as float32 (and in the data
limit) is decoded at once; a bigger one becomes a ``LazyImages`` that decodes each batch when it is
read. Entries that are not regular files (pipes, devices, sockets) are skipped like other non-images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import DatasetError
from layerloom.data.guard import data_limit, is_regular
from layerloom.data.lazy import GRAY_MODES, LazyImages, decode_images, open_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}
MEMORY_LIMIT = 2 * 1024**3  # bytes of float32 pixels decoded up front; above it, images load lazily
COLOR_SAMPLE = 32  # images whose mode decides grayscale or RGB when color is "auto"


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and is_regular(p))


def looks_like_image_folder(folder: Path) -> bool:
    """True when ``folder`` has a subfolder (or ``train/`` subfolder) holding image files."""
    roots = _split_roots(folder)
    return any(_image_files(c) for c in _subfolders(roots["train"]))


def _split_roots(folder: Path) -> dict[str, Path]:
    """``{"train": folder}``, or the split folders when ``folder`` has a ``train/`` with class folders."""
    children = {p.name.lower(): p for p in _subfolders(folder)}
    train = children.get("train")
    if train is None or not _subfolders(train):
        return {"train": folder}
    roots = {"train": train}
    for part in ("val", "test"):
        for name in SPLIT_FOLDERS[part]:
            if name in children:
                roots[part] = children[name]
                break
    return roots


def _scan(roots: dict[str, Path]) -> tuple[tuple[str, ...], dict[str, list[str]], dict[str, np.ndarray]]:
    """Class names (the train class folders) and each part's files and labels."""
    class_dirs = _subfolders(roots["train"])
    if not class_dirs:
        raise DatasetError("expected one subfolder of images per class (or train/, val/, test/ folders "
                           "holding class subfolders), or IDX files", str(roots["train"]))
    classes = tuple(p.name for p in class_dirs)
    files, labels = {}, {}
    for part, root in roots.items():
        part_files, part_labels = [], []
        for folder in _subfolders(root):
            if folder.name not in classes:
                raise DatasetError(f"class folder {folder.name!r} has no counterpart in the training folder "
                                   f"(classes: {', '.join(classes)})", str(folder))
            images = _image_files(folder)
            if not images and part == "train":
                raise DatasetError("this class folder holds no images (png, jpg, bmp, gif, webp, tif); "
                                   "add images or remove the folder", str(folder))
            part_files += [str(p) for p in images]
            part_labels += [classes.index(folder.name)] * len(images)
        files[part], labels[part] = part_files, np.array(part_labels, dtype=np.int64)
    return classes, files, labels


def _channels(files: list[str], color: str) -> int:
    if color != "auto":
        return 1 if color == "grayscale" else 3
    for path in files[:COLOR_SAMPLE]:
        with open_image(path) as image:
            if image.mode not in GRAY_MODES:
                return 3
    return 1


def _first_size(path: str) -> tuple[int, int]:
    with open_image(path) as image:
        return image.size[1], image.size[0]


def load_image_folder(path: Path, image_size: tuple[int, int] | None = None, color: str = "auto") -> RawData:
    """Read a folder of class folders; images are resized to ``image_size`` (H, W) when it is given."""
    roots = _split_roots(path)
    classes, files, labels = _scan(roots)
    channels = _channels(files["train"], color)
    size = tuple(image_size) if image_size is not None else _first_size(files["train"][0])
    resize = image_size is not None
    total = sum(len(f) for f in files.values())
    lazy = total * channels * math.prod(size) * 4 > min(MEMORY_LIMIT, data_limit())
    xs = {}
    for part, part_files in files.items():
        if lazy:
            xs[part] = LazyImages(tuple(part_files), channels, size, resize)
        else:
            xs[part] = decode_images(part_files, channels, size, resize)
    return RawData(name=path.name, source=str(path), path=str(path), x=xs, y=labels,
                   feature_shape=(channels,) + size, image=True, value_range=(0.0, 255.0), classes=classes,
                   label_names={part: f"{root.name}/" for part, root in roots.items()}, sample_files=files)
