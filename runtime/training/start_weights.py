"""Start a run from weights: a weights file (an imported model's) or a checkpoint, matched by node name.

A compiled module names its tensors ``<node id>.<tensor>`` (``fc1.weight``), so weights saved from one graph
load into an edited copy of it: every tensor whose name and shape still match is copied, the rest keep their
fresh initialisation, and the ``FitReport`` says which. Replacing a classifier's head (a new ``fc2`` for 5
classes instead of 10) keeps every other layer's weights and lists ``fc2`` as not fitting.

The graph file's ``training.weights`` names the file (relative to the graph file); ``plan_training`` loads it
into the compiled model before the run starts, and a resumed run's checkpoint replaces it.

Files are read with ``torch.load(weights_only=True)``: tensors and plain containers, never code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from layerloom.core.atomic import atomic_write
from layerloom.training.run_writer import CheckpointError, write_error
from layerloom.training.runs import CHECKPOINT_FORMAT

WEIGHTS_FORMAT = "layerloom-weights"
WEIGHTS_VERSION = 1
WEIGHTS_SUFFIX = ".weights.pt"


@dataclass
class FitReport:
    """How a set of weights fitted a module: tensors copied, kept fresh, or left unused."""

    source: str
    loaded: list[str] = field(default_factory=list)              # copied
    missing: list[str] = field(default_factory=list)             # the module's, not in the file: fresh
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (name, file shape, module shape)
    not_finite: list[str] = field(default_factory=list)          # NaN or infinite in the file: fresh
    unused: list[str] = field(default_factory=list)              # the file's, not in the module

    @property
    def complete(self) -> bool:
        """Every tensor of the module came from the file."""
        return not (self.missing or self.mismatched or self.not_finite)

    def nodes(self, names: list[str]) -> list[str]:
        """The node ids of tensor names, in order, without repeats."""
        return list(dict.fromkeys(name.split(".", 1)[0] for name in names))

    def lines(self) -> list[str]:
        """What a user reads: one line per kind of outcome, naming nodes (and shapes where they differ)."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched) + len(self.not_finite)
        lines = [f"{self.source}: {len(self.loaded):,} of {total:,} tensors loaded"]
        if self.mismatched:
            lines.append("different shapes, freshly initialised: " + ", ".join(
                f"{name} {list(theirs)} in the file, {list(ours)} here" for name, theirs, ours in self.mismatched))
        if self.missing:
            lines.append("not in the file, freshly initialised: " + ", ".join(self.nodes(self.missing)))
        if self.not_finite:
            lines.append("NaN or infinite in the file, freshly initialised: " + ", ".join(self.not_finite))
        if self.unused:
            lines.append("in the file but not in this graph, unused: " + ", ".join(self.nodes(self.unused)))
        return lines


def save_weights_file(path: str | os.PathLike, weights: dict[str, torch.Tensor], *, source: str = "",
                      extra: dict[str, Any] | None = None) -> None:
    """Write ``weights`` (tensor names to tensors, as a compiled module names them) atomically.
    ``source`` says where they came from (``"imported from resnet.onnx"``); ``extra`` holds plain JSON-like
    records kept beside them (an import report)."""
    data = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "source": source,
            "weights": {name: tensor.detach().cpu().contiguous() for name, tensor in weights.items()},
            **(extra or {})}
    try:
        atomic_write(path, lambda handle: torch.save(data, handle), durable=True)
    except (OSError, RuntimeError) as exc:
        raise write_error(exc, path, "save the weights") from None


def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weights in a weights file or a LayerLoom checkpoint; ``CheckpointError`` names the file and says
    what is wrong (missing, damaged, not weights)."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a weights file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: torch raises many kinds
        raise CheckpointError(f"{path}: not a weights file torch can read safely ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not weights")
    if data.get("format") in (WEIGHTS_FORMAT, CHECKPOINT_FORMAT):
        weights = data.get("weights")
    else:  # a plain state dict saved with torch.save(model.state_dict(), path)
        weights = data
    if not isinstance(weights, dict) or not weights:
        raise CheckpointError(f"{path}: holds no weights")
    foreign = [str(k) for k, v in weights.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if foreign:
        raise CheckpointError(f"{path}: damaged weights, not named tensors: {', '.join(foreign[:5])}")
    return weights


def fit_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], source: str = "weights",
                copy: bool = True) -> FitReport:
    """Copy every tensor of ``weights`` whose name and shape match one of ``module``'s into it; the module's
    other tensors keep their values. Returns what happened to each tensor. ``copy`` False: only the report
    (a preview, whose module may live on the meta device)."""
    report = FitReport(source)
    own = module.state_dict()
    parameters = {name for name, _ in module.named_parameters()}
    chosen = {}
    for name, tensor in own.items():
        theirs = weights.get(name)
        if theirs is None:
            report.missing.append(name)
        elif tuple(theirs.shape) != tuple(tensor.shape):
            report.mismatched.append((name, tuple(theirs.shape), tuple(tensor.shape)))
        elif theirs.is_floating_point() and (torch.isnan(theirs).any() or
                                             (name in parameters and torch.isinf(theirs).any())):
            report.not_finite.append(name)
        else:
            chosen[name] = theirs
            report.loaded.append(name)
    report.unused = [name for name in weights if name not in own]
    if chosen and copy:
        module.load_state_dict(chosen, strict=False)
    return report


def start_weights_path(setting: str, base_dir: str | os.PathLike | None) -> Path:
    """The ``training.weights`` setting as a path: relative ones are relative to the graph file's folder."""
    path = Path(setting).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path
