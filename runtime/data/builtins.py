"""Built-in datasets: the sets that ship with scikit-learn, and generated ones. Nothing downloads."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import CLASSIFICATION, REGRESSION, DatasetError

GENERATOR_SEED = 0  # generated sets are drawn with a fixed seed: the same settings give the same data
DEFAULT_NOISE = {"moons": 0.2, "circles": 0.1, "spirals": 0.2, "regression": 0.1}


@dataclass(frozen=True)
class BuiltinInfo:
    """What the GUI shows about a built-in set before loading it."""

    name: str
    title: str
    doc: str
    task: str
    feature_shape: tuple[int, ...]
    num_classes: int | None


BUILTINS: dict[str, BuiltinInfo] = {info.name: info for info in (
    BuiltinInfo("digits", "Handwritten digits (8x8)",
                "1,797 grayscale 8x8 images of the digits 0-9, pixel values 0-16 (scikit-learn).",
                CLASSIFICATION, (1, 8, 8), 10),
    BuiltinInfo("iris", "Iris flowers", "150 flowers, 4 measurements, 3 species (scikit-learn).",
                CLASSIFICATION, (4,), 3),
    BuiltinInfo("wine", "Wine", "178 wines, 13 chemical measurements, 3 cultivars (scikit-learn).",
                CLASSIFICATION, (13,), 3),
    BuiltinInfo("breast_cancer", "Breast cancer", "569 tumours, 30 measurements, malignant or benign "
                "(scikit-learn).", CLASSIFICATION, (30,), 2),
    BuiltinInfo("moons", "Two moons", "Generated: two interleaving half circles in 2-D; `samples` points, "
                "`noise` default 0.2.", CLASSIFICATION, (2,), 2),
    BuiltinInfo("circles", "Circles", "Generated: a small circle inside a large one in 2-D; `samples` points, "
                "`noise` default 0.1.", CLASSIFICATION, (2,), 2),
    BuiltinInfo("spirals", "Three spirals", "Generated: three interleaved spiral arms in 2-D; `samples` points, "
                "`noise` default 0.2.", CLASSIFICATION, (2,), 3),
    BuiltinInfo("regression", "Nonlinear regression",
                "Generated: 8 features uniform in [0, 1]; the target is the Friedman #1 function plus a random "
                "linear term, with Gaussian noise of `noise` (default 0.1) times its spread, then centred and "
                "divided by its standard deviation. Shape [1] per sample.", REGRESSION, (8,), None),
)}


def load_builtin(name: str, samples: int = 1000, noise: float | None = None) -> RawData:
    """The built-in set ``name``, unsplit. ``samples`` and ``noise`` apply to generated sets."""
    if name not in BUILTINS:
        raise DatasetError(_unknown_message(name), location="training.dataset.name")
    info = BUILTINS[name]
    loader = _LOADERS[name]
    if name in DEFAULT_NOISE:
        noise = DEFAULT_NOISE[name] if noise is None else noise
        raw = loader(samples, noise)
        raw.source = f"generated {name} ({samples:,} samples, noise {noise:g})"
    else:
        raw = loader()
        raw.source = f"scikit-learn {name} ({len(raw.y['train']):,} samples)"
    raw.task_hint, raw.task_fixed = info.task, True
    return raw


def _unknown_message(name: str) -> str:
    names = list(BUILTINS)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no built-in dataset {name!r} (available: {', '.join(names)}){hint}"


def _raw(name: str, x: np.ndarray, y: np.ndarray, classes=None, **extra) -> RawData:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return RawData(name=name, source="", path=None, x={"train": x}, y={"train": y},
                   feature_shape=tuple(x.shape[1:]), classes=classes, **extra)


def _numbered(count: int) -> dict:
    return {"classes": tuple(str(i) for i in range(count)), "class_values": np.arange(count, dtype=np.float64)}


def _digits() -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.reshape(-1, 1, 8, 8)
    return _raw("digits", x, bunch.target.astype(np.int64), image=True, value_range=(0.0, 16.0), **_numbered(10))


def _sklearn_table(name: str) -> Callable[[], RawData]:
    def load() -> RawData:
        from sklearn import datasets

        read = getattr(datasets, f"load_{name}")
        bunch = read()
        classes = tuple(str(c) for c in bunch.target_names)
        return _raw(name, bunch.data, bunch.target.astype(np.int64), classes=classes)
    return load


def _moons(samples: int, noise: float) -> RawData:
    from sklearn.datasets import make_moons

    x, y = make_moons(samples, noise=noise, random_state=GENERATOR_SEED)
    return _raw("moons", x, y.astype(np.int64), **_numbered(2))


def _circles(samples: int, noise: float) -> RawData:
    from sklearn.datasets import make_circles

    x, y = make_circles(samples, noise=noise, factor=0.5, random_state=GENERATOR_SEED)
    return _raw("circles", x, y.astype(np.int64), **_numbered(2))


def make_spirals(samples: int, arms: int = 3, noise: float = 0.2, seed: int = GENERATOR_SEED):
    """``arms`` interleaved spiral arms: ``(x [samples, 2], y [samples])``, arm sizes differing by at most 1."""
    rng = np.random.default_rng(seed)
    sizes = [samples // arms + (k < samples % arms) for k in range(arms)]
    xs, ys = [], []
    for k, size in enumerate(sizes):
        radius = np.linspace(0.0, 1.0, size)
        angle = np.linspace(k * 4.0, (k + 1) * 4.0, size) + rng.standard_normal(size) * noise
        xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        ys.append(np.full(size, k, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _spirals(samples: int, noise: float) -> RawData:
    x, y = make_spirals(samples, 3, noise)
    return _raw("spirals", x, y, **_numbered(3))


def make_regression_set(samples: int, noise: float = 0.1, seed: int = GENERATOR_SEED):
    """``(x [samples, 8], y [samples, 1])``: Friedman #1 plus a random linear term, noisy, standardized."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (samples, 8))
    friedman = (10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2
                + 10 * x[:, 3] + 5 * x[:, 4])
    linear = (x - 0.5) @ rng.uniform(-1.0, 1.0, 8)
    y = friedman / friedman.std() + linear / linear.std()
    y = y + noise * y.std() * rng.standard_normal(samples)
    y = (y - y.mean()) / y.std()
    return x, y.astype(np.float32).reshape(-1, 1)


def _regression(samples: int, noise: float) -> RawData:
    x, y = make_regression_set(samples, noise)
    return _raw("regression", x, y)


_LOADERS: dict[str, Callable] = {
    "digits": _digits, "iris": _sklearn_table("iris"), "wine": _sklearn_table("wine"),
    "breast_cancer": _sklearn_table("breast_cancer"), "moons": _moons, "circles": _circles,
    "spirals": _spirals, "regression": _regression,
}
