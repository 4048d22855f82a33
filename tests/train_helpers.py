"""Small builders shared by the training tests (tests/test_training*.py)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from helpers import add, chain

from layerloom import Graph, load_graph
from layerloom.data import CLASSIFICATION, Dataset
from layerloom.files.resources import example_path
from layerloom.training import TERMINAL, Preparing, TrainingConfig


def example(stem: str) -> Graph:
    """An example graph from resources/examples (``digits_mlp``, ``digits_cnn``...)."""
    return load_graph(example_path(stem))


def config_of(graph: Graph, **changes: Any) -> TrainingConfig:
    """The graph file's training section with ``changes`` applied (``optimizer={"lr": 0.1}`` merges)."""
    config = TrainingConfig.from_graph(graph)
    return config.replace(**changes) if changes else config


def of_type(events: list, kind) -> list:
    return [e for e in events if isinstance(e, kind)]


def after_setup(events: list) -> list:
    """``events`` without the ``Preparing`` events of the set-up stages (RunStarted first)."""
    return [e for e in events if not isinstance(e, Preparing)]


def _events(session, timeout: float, waiting_for: str):
    """Events of ``session`` as they come; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {waiting_for} within {timeout} s"
        event = session.events.get(timeout=left)
        if event is not None:
            yield event


def next_event(session, kind=object, timeout: float = 60.0):
    """The next event of type ``kind`` from ``session.events`` (events of other types are skipped,
    and returned as well): ``(event, skipped)``. Fails the test after ``timeout`` seconds."""
    skipped = []
    for event in _events(session, timeout, f"{kind.__name__} event"):
        if isinstance(event, kind):
            return event, skipped
        assert not isinstance(event, TERMINAL), f"the run ended before a {kind.__name__}: {event}"
        skipped.append(event)


def until_terminal(session, timeout: float = 60.0) -> list:
    """Every event up to and including the terminal one."""
    events = []
    for event in _events(session, timeout, "end of the run"):
        events.append(event)
        if isinstance(event, TERMINAL):
            return events


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sabotage(monkeypatch, at_step: int, action: Callable[[dict], dict]) -> list[int]:
    """Make the compiled criterion misbehave at global training step ``at_step`` (1-based, counting
    training-mode forwards only): ``action`` gets the criterion's output dict and returns a replacement
    (or raises). Patches ``plan_training`` as the session calls it. Returns the call counter."""
    import layerloom.training.session as session_module

    real = session_module.plan_training
    calls = [0]

    def planned(*args, **kwargs):
        plan = real(*args, **kwargs)
        criterion = plan.compiled.criterion
        forward = criterion.forward

        def sabotaged(*inputs):
            out = forward(*inputs)
            if criterion.training:
                calls[0] += 1
                if calls[0] == at_step:
                    out = action(out)
            return out

        criterion.forward = sabotaged
        return plan

    monkeypatch.setattr(session_module, "plan_training", planned)
    return calls


def nan_loss(out: dict) -> dict:
    return {**out, "loss": out["loss"] * float("nan")}


def table_dataset(x_train, y_train, x_val=None, y_val=None, classes=None, name="table") -> Dataset:
    """A classification ``Dataset`` from numpy arrays (features float32, labels int64)."""
    x_train = np.asarray(x_train, dtype=np.float32)
    n_classes = int(max(np.max(y_train), np.max(y_val) if y_val is not None else 0)) + 1
    return Dataset(
        name=name, source="test", task=CLASSIFICATION,
        x_train=x_train, y_train=np.asarray(y_train, dtype=np.int64),
        x_val=None if x_val is None else np.asarray(x_val, dtype=np.float32),
        y_val=None if y_val is None else np.asarray(y_val, dtype=np.int64),
        feature_shape=tuple(x_train.shape[1:]),
        classes=tuple(classes) if classes is not None else tuple(str(i) for i in range(n_classes)))


def tiny_image_graph(channels: int = 1, size: int = 8, classes: int = 2) -> Graph:
    """Input [C, H, W] -> Flatten -> Linear(classes), trained with CrossEntropyLoss."""
    g = Graph(name="tiny images")
    x = add(g, "Input", "image", shape=[channels, size, size])
    flat = add(g, "Flatten", "flat")
    fc = add(g, "Linear", "fc", out_features=classes)
    out = add(g, "Output", "logits")
    chain(g, x, flat, fc, out)
    add(g, "Target", "label")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    return g


def write_image_folder(root: Path, per_class: int = 20, size: int = 8, seed: int = 0) -> Path:
    """Two class folders of noisy grayscale PNGs: ``vertical`` (left half bright) and ``horizontal``
    (top half bright)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in ("horizontal", "vertical"):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            base = np.zeros((size, size))
            if name == "vertical":
                base[:, : size // 2] = 160
            else:
                base[: size // 2, :] = 160
            pixels = np.clip(base + rng.normal(0, 70, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(folder / f"{i:03d}.png")
    return root
