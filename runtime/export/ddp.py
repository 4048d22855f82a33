"""A folder that trains the graph on several GPUs or machines with ``torchrun``, without LayerLoom:

    out/
      train_ddp.py   DistributedDataParallel + DistributedSampler, the graph's optimizer/schedule/loss
      model.py       the model and its training form (layers + losses), readable PyTorch
      initial.pt     the starting weights (the checkpoint's, or the graph's seeded initialisation)
      data.npz       the dataset, split and preprocessed exactly as LayerLoom trains on it
      recipe.json    the settings, the graph and the dataset facts the checkpoints carry

Checkpoints it writes are LayerLoom checkpoints: ``layerloom-cli export`` and ``--resume`` read them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from string import Template

import numpy as np
import torch

from layerloom import __version__
from layerloom.core.atomic import atomic_write
from layerloom.core.errors import LayerLoomError
from layerloom.files.graphfile import graph_to_dict
from layerloom.export.ddp_template import SCRIPT
from layerloom.export.pysource import class_name, python_source
from layerloom.export.source import Exportable, ExportError


def export_ddp(exportable: Exportable, folder: str | os.PathLike, base_dir=None) -> Path:
    """Write the torchrun folder; returns the script's path."""
    from layerloom.training import SetupError, TrainingConfig, plan_training
    from layerloom.training.metrics import CLASSIFICATION

    compiled = exportable.compiled
    if compiled.criterion is None:
        raise ExportError("the graph has no loss: a training script needs one")
    config = TrainingConfig.from_graph(exportable.graph)
    plan, first_error = None, None
    for section, data_dir in exportable.dataset_settings(base_dir):   # the run's own data first
        dataset = section.get("dataset") if isinstance(section.get("dataset"), dict) else {}
        try:
            plan = plan_training(exportable.graph, config.replace(dataset=dataset), base_dir=data_dir)
            break
        except SetupError as exc:
            first_error = first_error or exc
    if plan is None:
        raise ExportError(str(first_error)) from first_error
    data = plan.dataset
    arrays = {}
    for split in ("train", "val"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x is None or not len(x):
            raise ExportError(f"the dataset has no {split} split; set training.dataset.val_split above 0")
        if not isinstance(x, np.ndarray):
            raise ExportError(f"dataset '{data.name}' is decoded lazily (too big for memory); the torchrun "
                              "export writes the data to one NPZ file and needs it in memory")
        arrays[f"x_{split}"] = np.ascontiguousarray(x, dtype=np.float32)
        arrays[f"y_{split}"] = np.ascontiguousarray(y)
    folder = Path(folder)
    cls = class_name(exportable.name)
    primary = plan.heads[0] if plan.heads else None
    script = Template(SCRIPT).substitute(
        title=exportable.name, version=__version__, training_class=cls + "Training",
        primary_loss=primary.loss_name if primary else compiled.losses[0].name,
        classification=bool(primary and primary.task == CLASSIFICATION),
        find_unused=_has_unused_parameters(compiled))
    recipe = {
        "training": config.to_dict(), "graph": graph_to_dict(exportable.graph), "layerloom": __version__,
        "dataset": {"name": data.name, "task": data.task, "feature_shape": list(data.feature_shape),
                    "classes": list(data.classes or []), "scaling": data.scaling},
    }
    # the training form's state dict: LayerLoom's criterion keys, so checkpoints load back as they are
    initial = {k: v.detach().cpu().clone() for k, v in compiled.criterion.state_dict().items()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "model.py", python_source(exportable, "model.pt", training=True).encode("utf-8"))
        atomic_write(folder / "initial.pt", lambda handle: torch.save(initial, handle))
        atomic_write(folder / "data.npz", lambda handle: np.savez(handle, **arrays))
        atomic_write(folder / "recipe.json", (json.dumps(recipe, indent=2) + "\n").encode("utf-8"))
        path = atomic_write(folder / "train_ddp.py", script.encode("utf-8"))
    except OSError as exc:
        raise ExportError(f"{folder}: cannot write: {exc.strerror or exc}") from None
    except LayerLoomError:
        raise
    return path


def _has_unused_parameters(compiled) -> bool:
    """True when some trained layer feeds only an Output, not a loss: DDP must then be told."""
    graph = compiled.analysis.graph if compiled.analysis else None
    if graph is None:
        return True
    feeding_losses = graph.ancestors([term.node_id for term in compiled.losses])
    for node_id, name in compiled.module_names.items():
        module = getattr(compiled.criterion, name, None)
        if module is not None and any(True for _ in module.parameters()) and node_id not in feeding_losses:
            return True
    return False
