"""Checkpoints: saving and loading a run's weights and training state (PyTorch). The run folder
around them (its files, ``RunFolder``, ``new_run_dir``) is ``records.py``'s, which imports no torch;
the names the trainer and the session import from here are re-exported below.

A checkpoint (``checkpoints/last.pt``, ``checkpoints/best.pt``) holds the weights, optimizer and
schedule state, RNG state, epoch and graph, and only tensors and plain containers, so
``torch.load(weights_only=True)`` reads it: a checkpoint from elsewhere cannot run code.
``load_checkpoint`` checks what every reader uses (the format, the weights as named tensors, the graph,
the epoch, the small records) and ``load_weights`` that the weights fit the module and are finite; a
damaged file gives a ``CheckpointError`` naming it and what is wrong, never a traceback. A save is
atomic (a temp file renamed over the target); a full disk raises ``DiskFullError``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from layerloom.core.atomic import atomic_write
from layerloom.core.errors import LayerLoomError
from layerloom.core.fileio import NotRegularFile, open_regular
from layerloom.files.graphfile import graph_from_dict
from layerloom.model.graph import Graph
from layerloom.training.run_format import CHECKPOINTS_DIR
# the run folder's writer, imported from here by the trainer, the session and their tests
from layerloom.training.run_writer import CheckpointError, DiskFullError, RunFolder, new_run_dir  # noqa: F401
from layerloom.training.run_writer import write_error

CHECKPOINT_FORMAT = "layerloom-checkpoint"
CHECKPOINT_VERSION = 1


class Checkpoint(dict):
    """A loaded checkpoint: its payload, and ``path``, the file it was read from (named in errors)."""

    path: str = "checkpoint"


def save_checkpoint(payload: dict, path: str | os.PathLike, durable: bool = False) -> None:
    """Write atomically (temp file + rename). ``durable`` also fsyncs: done for the final checkpoint,
    skipped per epoch where the rename already protects against a crashed process."""
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    try:
        atomic_write(path, lambda handle: torch.save(data, handle), durable=durable)
    except (OSError, RuntimeError) as exc:  # torch's zip writer turns a failed write into RuntimeError
        raise write_error(exc, path, "save the checkpoint") from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True`` onto the CPU and check what every reader of it uses:
    its format and version, ``weights`` (names to tensors), ``graph``, ``epoch`` and the small records
    (``step``, ``config``, ``dataset``, ``metrics``). ``CheckpointError`` names the file and what is
    wrong; ``load_weights`` checks that the weights fit a module and are finite, ``Trainer`` checks the
    state a resume needs (optimizer, schedule, random streams) as it restores it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINTS_DIR / "last.pt" if (path / CHECKPOINTS_DIR).is_dir() else path / "last.pt"
    try:
        with warnings.catch_warnings(), open_regular(path) as handle:
            warnings.simplefilter("ignore")   # e.g. "Detected pickle protocol 4": the error below says what matters
            data = torch.load(handle, map_location="cpu", weights_only=True)
    except NotRegularFile as exc:
        raise CheckpointError(f"{path}: not a checkpoint file: {exc}") from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: a folder, not a checkpoint file") from None
    except (PermissionError, TimeoutError) as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        raise CheckpointError(f"{path}: {_unreadable(exc, path)}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a LayerLoom checkpoint")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: the checkpoint's version {version!r} is not a version number (damaged file)")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this LayerLoom reads "
                              f"({CHECKPOINT_VERSION}); update LayerLoom")
    for key in ("weights", "graph", "epoch"):
        if key not in data:
            raise CheckpointError(f"{path}: the checkpoint has no '{key}' (damaged, or not written by LayerLoom)")
    problem = _payload_problem(data)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {problem}")
    checkpoint = Checkpoint(data)
    checkpoint.path = str(path)
    return checkpoint


def _unreadable(exc: Exception, path: Path) -> str:
    """Why ``torch.load`` could not read a file, in words (never torch's advice to drop weights_only)."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if type(exc).__name__ == "UnpicklingError" and found:
        return (f"refused: the file asks to load Python code ({found.group(1)}), which could run anything; "
                "LayerLoom checkpoints hold only tensors and plain data")
    if type(exc).__name__ == "UnpicklingError":   # torch's text would suggest weights_only=False: never
        if _head(path, 1) == b"\x80":   # a bare pickle (a checkpoint is a zip archive)
            return ("refused: a bare Python pickle, not a LayerLoom checkpoint (such a file can run code when "
                    "loaded; LayerLoom checkpoints hold only tensors and plain data)")
        return "not a readable LayerLoom checkpoint (damaged, or not a checkpoint)"
    size = _size(path)
    if size == 0:
        return "the file is empty (a save that was interrupted?)"
    if isinstance(exc, (EOFError, OSError)) or "central directory" in text or "zip archive" in text \
            or "truncat" in text:
        return "the file is truncated or damaged (a save that was interrupted, or a partial copy)"
    first = text.splitlines()[0] if text else ""
    return f"not a readable LayerLoom checkpoint ({type(exc).__name__}: {first[:200]})"


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _payload_problem(data: dict) -> str:
    """What is wrong with the parts of a checkpoint every reader uses ("" when nothing is)."""
    weights = data["weights"]
    if not isinstance(weights, dict):
        return f"'weights' should map parameter names to tensors, not be a {type(weights).__name__}"
    for name, value in weights.items():
        if not isinstance(name, str):
            return f"'weights' has a key {name!r} that is not a parameter name"
        if not isinstance(value, torch.Tensor):
            return f"weights '{name}' is a {type(value).__name__}, not a tensor"
    if not isinstance(data["graph"], dict):
        return f"'graph' should be a graph (a JSON object), not a {type(data['graph']).__name__}"
    if not _is_int(data["epoch"]) or data["epoch"] < 0:
        return f"'epoch' should be a whole number of epochs, not {_show(data['epoch'])}"
    if data.get("step") is not None and (not _is_int(data["step"]) or data["step"] < 0):
        return f"'step' should be a whole number of steps, not {_show(data['step'])}"
    for key in ("config", "dataset", "metrics"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' should be a JSON object, not a {type(data[key]).__name__}"
    dataset = data.get("dataset") or {}
    classes = dataset.get("classes")
    if classes is not None and (not isinstance(classes, (list, tuple)) or
                                not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)):
        return "dataset 'classes' should be a list of class names"
    scaling = dataset.get("scaling")
    if scaling is not None and not isinstance(scaling, dict):
        return f"dataset 'scaling' should be a JSON object, not a {type(scaling).__name__}"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def checkpoint_graph(data: dict, path: str | None = None) -> Graph:
    """The graph a checkpoint was trained from; a damaged one raises ``CheckpointError`` naming the file."""
    from layerloom.core.errors import LocatedError

    path = path or getattr(data, "path", None)
    try:
        return graph_from_dict(data["graph"], path=path)
    except LocatedError as exc:
        where = f"{exc.location}: " if exc.location else ""
        raise CheckpointError(f"{path or 'checkpoint'}: the graph stored in the checkpoint cannot be read: "
                              f"{where}{exc.detail}") from None
    except LayerLoomError as exc:
        raise CheckpointError(f"{path or 'checkpoint'}: the graph stored in the checkpoint cannot be read: "
                              f"{exc}") from None


def checkpoint_config(data: dict, path: str | None = None):
    """The training settings a checkpoint recorded (``TrainingConfig``; the defaults when it has none);
    damaged ones raise ``CheckpointError`` naming the file."""
    from layerloom.training.config import TrainingConfig

    path = path or getattr(data, "path", None) or "checkpoint"
    raw = data.get("config") or {}
    try:
        return TrainingConfig.from_dict(raw)
    except LayerLoomError as exc:
        raise CheckpointError(f"{path}: the training settings stored in the checkpoint are damaged: "
                              f"{str(exc).removeprefix('bad training settings:').strip()}") from None


def load_weights(module: torch.nn.Module, weights: dict, source: str = "checkpoint") -> None:
    """Copy matching weights into ``module`` (the model or the criterion: they share layer names).
    Every parameter of ``module`` must be in ``weights``: a tensor of the same shape holding no NaN
    (nor, for a parameter, an infinity). ``source`` names the weights in the ``CheckpointError``."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{source}: the weights should map parameter names to tensors, "
                              f"not be a {type(weights).__name__}")
    own = module.state_dict()
    missing = [k for k in own if k not in weights]
    foreign = [f"{k} is a {type(weights[k]).__name__}" for k in own
               if k in weights and not isinstance(weights[k], torch.Tensor)]
    if foreign:
        raise CheckpointError(f"{source}: damaged weights, not tensors: {', '.join(foreign[:5])}")
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if missing or wrong:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if wrong:
            parts.append("different shapes: " + ", ".join(wrong[:5]))
        raise CheckpointError(f"{source}: the weights do not fit this graph ({'; '.join(parts)})")
    parameters = {name for name, _ in module.named_parameters()}
    bad = _not_finite({k: weights[k] for k in own}, parameters)
    if bad:
        raise CheckpointError(f"{source}: the weights hold {bad}: the run had diverged when they were saved, "
                              "or the file is damaged; use an earlier checkpoint")
    module.load_state_dict({k: weights[k] for k in own})


def _not_finite(weights: dict, parameters: set[str]) -> str:
    """Which tensor holds NaN (or, for a parameter, an infinity) and how many values; "" if none."""
    for name, tensor in weights.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
            continue
        nan = int(torch.isnan(tensor).sum())
        inf = int(torch.isinf(tensor).sum()) if name in parameters else 0
        if nan or inf:
            what = " and ".join(t for t in (f"{nan:,} NaN" if nan else "", f"{inf:,} infinite" if inf else "") if t)
            return f"{what} value{'s' if nan + inf > 1 else ''} in '{name}'"
    return ""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
