"""The graph file's ``training.dataset`` settings, and ``load_dataset``, which picks the loader."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from typing import Any

from layerloom.core.errors import ParamError
from layerloom.core.params import BoolParam, ChoiceParam, FloatParam, IntParam, Param, ShapeParam, StrParam, check_params
from layerloom.data.assemble import RawData, assemble
from layerloom.data.base import CLASSIFICATION, REGRESSION, DataLayout, Dataset, DatasetError
from layerloom.data.columns import ColumnGroupsParam
from layerloom.data.builtins import BUILTINS, load_builtin
from layerloom.data.csvfile import load_csv
from layerloom.data.guard import not_regular
from layerloom.data.idx import folder_has_idx, is_idx_name, load_idx
from layerloom.data.images import load_image_folder, looks_like_image_folder
from layerloom.data.npzfile import load_npz
from layerloom.data.side_table import attach_side_table
from layerloom.data.transforms import SCALING_MODES

DATASET_PARAMS: tuple[Param, ...] = (
    StrParam("name", "digits", f"Built-in dataset: {', '.join(BUILTINS)} (ignored when a path is set)."),
    StrParam("path", None, "A CSV, NPZ or IDX file, an IDX folder or a folder of class folders of images; "
             "relative to the graph file.", optional=True, max_length=4096, example="data/train.csv"),
    ChoiceParam("format", "auto", "How to read the path; auto decides by the file suffix or folder contents.",
                choices=("auto", "csv", "npz", "idx", "folder")),
    StrParam("target_column", None, "CSV: the target column's name, or its 0-based index (\"-1\" is the last); "
             "default: the last column.", optional=True, example="label"),
    StrParam("side_table", None, "Image folder: a CSV with a row per image (its file name, then values) whose "
             "columns feed further Inputs (see inputs) and Targets named like a column; relative to the graph file.",
             optional=True, max_length=4096, example="data/patients.csv"),
    ColumnGroupsParam("inputs", None, "CSV (or an image folder's side table) with several Inputs: each Input's "
                      "columns, as a range of 0-based indices (\"0:784\") or a list of names or indices; empty: every "
                      "column but the target feeds the one Input.", optional=True, example="image = 0:784; meta = age, height"),
    ChoiceParam("header", "auto", "CSV: whether the first row holds column names; auto guesses from its cells.",
                choices=("auto", "yes", "no")),
    ChoiceParam("task", "auto", "Classification or regression; auto: text or few whole-number labels are classes.",
                choices=("auto", CLASSIFICATION, REGRESSION)),
    FloatParam("val_split", 0.2, "Fraction of the samples held out for validation when the data has no "
               "validation split.", minimum=0.0, maximum=0.9),
    FloatParam("test_split", 0.0, "Fraction of the samples held out for the final test when the data has no "
               "test split.", minimum=0.0, maximum=0.9),
    IntParam("split_seed", 0, "Seed of the random validation/test split; the same seed gives the same split.",
             minimum=0),
    ChoiceParam("scaling", "auto", "Feature scaling fitted on the training split, each Input on its own: auto "
                "divides values of a known range (8-bit pixels) by it, standardizes images per channel and "
                "tables and 1-D signals per feature.", choices=SCALING_MODES),
    IntParam("samples", 1000, "Number of samples of the generated sets (moons, circles, spirals, regression).",
             minimum=10, maximum=1_000_000),
    FloatParam("noise", None, "Noise of the generated sets; empty: each set's own default.", optional=True, example=0.1,
               minimum=0.0),
    ShapeParam("image_size", None, "Resize folder images to [height, width]; empty: all images must have the "
               "first image's size.", optional=True, min_rank=2, max_rank=2, example=[28, 28]),
    ChoiceParam("color", "auto", "Folder images as grayscale (1 channel) or RGB (3); auto: grayscale when the "
                "images are.", choices=("auto", "grayscale", "rgb")),
    IntParam("augment_shift", 0, "Training images: shift each by a random offset of up to this many pixels.",
             minimum=0, maximum=8),
    BoolParam("augment_flip", False, "Training images: flip half of them horizontally at random."),
    FloatParam("augment_noise", 0.0, "Training images: standard deviation of Gaussian noise added after scaling.",
               minimum=0.0, maximum=1.0),
)
_PARAMS = {param.name: param for param in DATASET_PARAMS}
FORMAT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".npz": "npz"}


def dataset_settings(raw: dict | None) -> tuple[dict, list[ParamError]]:
    """``raw`` (a graph file's ``training.dataset``) checked: values with defaults filled, and the errors.

    A bad value takes its default in the values. Unknown keys are ignored here.
    """
    check = check_params(DATASET_PARAMS, raw or {})
    return check.values, list(check.errors.values())


def resolve_settings(settings: dict | None) -> dict[str, Any]:
    """``settings`` with defaults for missing keys; a bad value raises ``DatasetError``."""
    settings = settings or {}
    values = {}
    for name, param in _PARAMS.items():
        if name not in settings:
            values[name] = param.default
            continue
        try:
            values[name] = param.coerce(settings[name])
        except ParamError as exc:
            raise DatasetError(exc.detail, location=f"training.dataset.{name}") from None
    return values


def load_dataset(settings: dict | None, *, base_dir: str | Path | None = None,
                 layout: DataLayout | None = None) -> Dataset:
    """Load, encode and split the dataset ``settings`` describe; raw values (``scale`` comes after).

    ``layout`` names the graph's Inputs and Targets, for files that give each its own arrays (NPZ)
    or columns (CSV, with the ``inputs`` setting)."""
    values = resolve_settings(settings)
    if values["path"]:
        try:
            raw = _load_path(values, base_dir, layout)
        except OSError as exc:
            raise DatasetError(f"cannot read: {exc.strerror or exc}", exc.filename or values["path"]) from None
        except MemoryError:
            raise DatasetError("not enough memory to load it; close other programs or use a smaller dataset",
                               values["path"]) from None
    else:
        raw = load_builtin(values["name"], values["samples"], values["noise"])
    dataset = assemble(raw, values["task"], values["val_split"], values["test_split"], values["split_seed"])
    return dataclasses.replace(dataset, scaling_mode=values["scaling"])


def _resolve_path(text: str, base_dir: str | Path | None, key: str = "training.dataset.path") -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.exists():
        raise DatasetError("no such file or folder", str(path), key)
    return path


def _load_path(values: dict, base_dir: str | Path | None, layout: DataLayout | None) -> RawData:
    path = _resolve_path(values["path"], base_dir)
    if not path.is_dir():
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(path, mode)
    fmt = values["format"] if values["format"] != "auto" else _detect_format(path)
    if fmt in ("csv", "npz") and path.is_dir():
        raise DatasetError(f"is a folder, but format {fmt} reads a file", str(path), "training.dataset.path")
    if fmt == "folder" and not path.is_dir():
        raise DatasetError("format folder needs a folder of class folders, not a file", str(path),
                           "training.dataset.path")
    if values["side_table"] and fmt != "folder":
        raise DatasetError(f"side_table is for image folders; this is read as {fmt}", str(path),
                           "training.dataset.side_table")
    if values["inputs"] and fmt == "folder" and not values["side_table"]:
        raise DatasetError("inputs (column groups) for an image folder take their columns from a side table; "
                           "set side_table", str(path), "training.dataset.inputs")
    if values["inputs"] and fmt not in ("csv", "folder"):
        raise DatasetError(f"inputs (column groups) is for CSV files and side tables; this is read as {fmt}",
                           str(path), "training.dataset.inputs")
    if fmt == "folder" and values["side_table"]:
        raw = load_image_folder(path, values["image_size"], values["color"])
        table = _resolve_path(values["side_table"], base_dir, "training.dataset.side_table")
        return attach_side_table(raw, path, table, values["inputs"], layout)
    if fmt == "csv":
        return load_csv(path, values["target_column"], values["header"], values["inputs"], layout)
    if fmt == "npz":
        return load_npz(path, layout)
    if fmt == "idx":
        return load_idx(path)
    return load_image_folder(path, values["image_size"], values["color"])


def _detect_format(path: Path) -> str:
    if path.is_dir():
        try:
            if folder_has_idx(path):
                return "idx"
            if looks_like_image_folder(path):
                return "folder"
        except OSError as exc:
            raise DatasetError(f"cannot read the folder: {exc.strerror or exc}", str(path)) from None
        raise DatasetError("expected IDX files (train-images-idx3-ubyte...) or one subfolder of images per "
                           "class (optionally inside train/, val/ and test/ folders)", str(path))
    suffix = path.suffix.lower()
    if suffix in FORMAT_SUFFIXES:
        return FORMAT_SUFFIXES[suffix]
    if is_idx_name(path):
        return "idx"
    raise DatasetError("cannot tell the format from the name; supported: CSV (.csv, .tsv), NPZ (.npz), "
                       "IDX (MNIST files such as train-images-idx3-ubyte[.gz]) and image folders; "
                       "or set format", str(path), "training.dataset.format")
