"""Training settings: the graph file's ``training`` section, checked against typed params.

The section is plain JSON so a graph file is a complete experiment::

    "training": {
      "dataset": {"name": "digits"},
      "epochs": 20, "steps": 0, "batch_size": 64, "seed": 0, "device": "auto", "precision": "fp32",
      "optimizer": {"name": "adam", "lr": 0.001},
      "schedule": {"name": "cosine"},
      "early_stopping": {"enabled": true, "patience": 5},
      "monitor": "val_loss"
    }

Every setting is a ``layerloom.core.params`` spec (default, range, doc line), so the editor's training form is
generated from the same table that validates files and the CLI's overrides. Missing settings take
their defaults; a bad value is an error naming its key (``training.optimizer.lr: must be greater than
0``); an unknown key is a warning that suggests the setting it probably meant.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field, fields
from typing import Any

from layerloom.data import DATASET_PARAMS
from layerloom.core.errors import LayerLoomError
from layerloom.core.params import BoolParam, ChoiceParam, FloatParam, IntParam, Param, StrParam, check_params

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_CHOICES = ("off", "on", "auto")  # the compile setting (layerloom.training.compiling)
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")  # layerloom.training.memory_format
MONITORS = ("val_loss", "val_accuracy", "val_f1", "val_precision", "val_recall", "val_mae", "val_rmse", "val_r2",
            "train_loss", "train_accuracy")

TOP_PARAMS: tuple[Param, ...] = (
    IntParam("epochs", 20, "Passes over the training data", minimum=1, maximum=100_000),
    IntParam("steps", 0, "Stop after this many optimizer steps, the last epoch cut short where they end "
             "(0: train for epochs)", minimum=0, maximum=1_000_000_000, example=500),
    IntParam("batch_size", 64, "Samples per optimizer step", minimum=1, maximum=1_000_000),
    IntParam("seed", 0, "Seed for weights, shuffling, dropout and augmentation: same seed, same run on CPU",
             minimum=0),
    ChoiceParam("device", "auto", "Where to train: auto picks CUDA, then Apple MPS, then the CPU", choices=DEVICES),
    ChoiceParam("precision", "fp32", "Mixed precision on CUDA: bf16 or fp16 (with loss scaling); fp32 elsewhere",
                choices=PRECISIONS),
    FloatParam("l1", 0.0, "L1 penalty on the weights (not biases), added to the loss", minimum=0.0, maximum=10.0),
    FloatParam("grad_clip", 0.0, "Clip the gradient norm to this value (0: no clipping)", minimum=0.0, maximum=1e6),
    ChoiceParam("compile", "off", "Run the network through torch.compile: on, off, or auto (on with CUDA); "
                "where it cannot compile, the run trains uncompiled and says why", choices=COMPILE_CHOICES),
    ChoiceParam("memory_format", "auto", "Tensor layout for 2-D convolutions: channels_last (NHWC, often faster on the "
                "CPU and with CUDA bf16/fp16), contiguous (PyTorch's NCHW), or auto (measured on the CPU: "
                "channels_last where it is clearly faster)", choices=MEMORY_FORMATS),
    ChoiceParam("monitor", "val_loss", "Metric that picks the best checkpoint, early stopping and reduce-on-plateau",
                choices=MONITORS),
    StrParam("weights", None, "Start from these weights (a weights file or a run's checkpoint), matched by node "
             "name: layers whose name and shape fit are loaded, the rest start fresh; relative to the graph file",
             optional=True, max_length=4096, example="model.weights.pt"),
)

OPTIMIZER_PARAMS: tuple[Param, ...] = (
    ChoiceParam("name", "adam", "Optimizer", choices=OPTIMIZERS),
    FloatParam("lr", 1e-3, "Learning rate", minimum=0.0, maximum=100.0, exclusive_minimum=True),
    FloatParam("weight_decay", 0.0, "L2 penalty (decoupled for AdamW)", minimum=0.0, maximum=10.0),
    FloatParam("momentum", 0.9, "SGD / RMSprop momentum", minimum=0.0, maximum=0.999),
    BoolParam("nesterov", False, "Nesterov momentum (SGD)"),
    FloatParam("beta1", 0.9, "Adam's first-moment decay", minimum=0.0, maximum=0.9999),
    FloatParam("beta2", 0.999, "Adam's second-moment decay", minimum=0.0, maximum=0.99999),
    FloatParam("eps", 1e-8, "Added to the denominator for stability (Adam, RMSprop)", minimum=0.0, maximum=1.0,
               exclusive_minimum=True),
)

SCHEDULE_PARAMS: tuple[Param, ...] = (
    ChoiceParam("name", "none", "Learning-rate schedule", choices=SCHEDULES),
    IntParam("step_size", 10, "step: multiply the rate by gamma every this many epochs", minimum=1),
    FloatParam("gamma", 0.1, "step: the factor applied every step_size epochs", minimum=0.0, maximum=1.0,
               exclusive_minimum=True),
    FloatParam("min_lr", 0.0, "cosine and plateau: the rate never goes below this", minimum=0.0, maximum=100.0),
    FloatParam("max_lr", None, "onecycle: the peak rate (default: 10x the optimizer's rate)", optional=True,
               minimum=0.0, maximum=100.0, exclusive_minimum=True, example=0.01),
    FloatParam("pct_start", 0.3, "onecycle: fraction of the run spent warming up", minimum=0.01, maximum=0.99),
    FloatParam("factor", 0.1, "plateau: multiply the rate by this when the monitored metric stalls",
               minimum=0.0, maximum=1.0, exclusive_minimum=True),
    IntParam("patience", 5, "plateau: epochs without improvement before lowering the rate", minimum=0),
)

EARLY_STOPPING_PARAMS: tuple[Param, ...] = (
    BoolParam("enabled", False, "Stop when the monitored metric stops improving"),
    IntParam("patience", 10, "Epochs without improvement before stopping", minimum=1),
    FloatParam("min_delta", 0.0, "The smallest change that counts as an improvement", minimum=0.0),
)

SECTIONS: dict[str, tuple[Param, ...]] = {
    "optimizer": OPTIMIZER_PARAMS,
    "schedule": SCHEDULE_PARAMS,
    "early_stopping": EARLY_STOPPING_PARAMS,
    "dataset": DATASET_PARAMS,
}


class TrainingSettingsError(LayerLoomError):
    """The ``training`` section has bad values; ``errors`` lists each as ``training.<key>: <reason>``."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("bad training settings:\n  " + "\n  ".join(self.errors))


def _defaults(specs) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs}


@dataclass
class TrainingConfig:
    """Checked training settings with every default filled in."""

    epochs: int = 20
    steps: int = 0
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    l1: float = 0.0
    grad_clip: float = 0.0
    compile: str = "off"
    memory_format: str = "auto"
    monitor: str = "val_loss"
    weights: str | None = None
    optimizer: dict = field(default_factory=lambda: _defaults(OPTIMIZER_PARAMS))
    schedule: dict = field(default_factory=lambda: _defaults(SCHEDULE_PARAMS))
    early_stopping: dict = field(default_factory=lambda: _defaults(EARLY_STOPPING_PARAMS))
    dataset: dict = field(default_factory=lambda: _defaults(DATASET_PARAMS))
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self):
        # A section given in part (TrainingConfig(dataset={"name": "iris"})) gets the other defaults.
        for section, specs in SECTIONS.items():
            setattr(self, section, {**_defaults(specs), **(getattr(self, section) or {})})

    @classmethod
    def from_dict(cls, raw: Any) -> "TrainingConfig":
        """Check a raw ``training`` section; raises ``TrainingSettingsError`` listing every bad value."""
        config, errors = check_training(raw)
        if errors:
            raise TrainingSettingsError(errors)
        return config

    @classmethod
    def from_graph(cls, graph) -> "TrainingConfig":
        return cls.from_dict(graph.training)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON values (what ``config.json`` records)."""
        out: dict[str, Any] = {}
        for spec in TOP_PARAMS:
            out[spec.name] = spec.to_json(getattr(self, spec.name))
        for section, specs in SECTIONS.items():
            values = getattr(self, section)
            out[section] = {spec.name: spec.to_json(values[spec.name]) for spec in specs}
        return out

    def replace(self, **changes: Any) -> "TrainingConfig":
        """A copy with some settings changed; nested sections are given as ``optimizer={"lr": 0.1}``
        (merged into the section). Values are checked like the file's."""
        raw = self.to_dict()
        for key, value in changes.items():
            if key in SECTIONS and isinstance(value, dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        config = TrainingConfig.from_dict(raw)
        config.warnings = list(self.warnings) + config.warnings  # keep the file's own warnings
        return config


_CONFIG_FIELDS = {f.name for f in fields(TrainingConfig)} - {"warnings"}


def check_training(raw: Any) -> tuple[TrainingConfig, list[str]]:
    """Resolve a raw ``training`` section: ``(config, errors)``. Bad values take their defaults in
    ``config`` (so an editor can still show a form) and are listed in ``errors``; unknown keys land in
    ``config.warnings``."""
    errors: list[str] = []
    warnings: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return TrainingConfig(), [f"training: must be an object, got {type(raw).__name__}"]
    top = check_params(TOP_PARAMS, raw)
    errors += [f"training.{name}: {exc.detail}" for name, exc in top.errors.items()]
    values: dict[str, Any] = dict(top.values)
    for section, specs in SECTIONS.items():
        section_raw = raw.get(section, {})
        if section_raw is None:
            section_raw = {}
        if not isinstance(section_raw, dict):
            errors.append(f"training.{section}: must be an object, got {type(section_raw).__name__}")
            section_raw = {}
        checked = check_params(specs, section_raw)
        errors += [f"training.{section}.{name}: {exc.detail}" for name, exc in checked.errors.items()]
        warnings += [_unknown(f"training.{section}", name, [s.name for s in specs]) for name in checked.unknown]
        values[section] = checked.values
    known = {spec.name for spec in TOP_PARAMS} | set(SECTIONS)
    warnings += [_unknown("training", name, sorted(known)) for name in raw if name not in known]
    config = TrainingConfig(**{k: copy.deepcopy(v) for k, v in values.items() if k in _CONFIG_FIELDS})
    config.warnings = warnings
    return config, errors


def _unknown(where: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}.{name}: unknown setting, ignored{hint}"
