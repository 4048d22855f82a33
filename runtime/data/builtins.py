"""Built-in datasets: the sets that ship with scikit-learn, generated ones, and the well-known image
sets (MNIST, Fashion-MNIST, KMNIST, CIFAR-10) whose files are downloaded when the user asks for them.

A downloadable set lists its files (``BuiltinInfo.files``: URL, size, SHA-256 and the authors' MD5);
``load_builtin`` reads it from the cache folder and raises ``DownloadNeeded`` when a file is missing,
so nothing downloads without the user's consent (``layerloom.data.downloads``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from layerloom.data.assemble import RawData
from layerloom.data.base import CLASSIFICATION, REGRESSION, DatasetError
from layerloom.data.cifar import CLASSES as CIFAR10_CLASSES
from layerloom.data.downloads import RemoteFile, require

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
    files: tuple[RemoteFile, ...] = ()   # downloaded on request; empty for the sets that ship
    classes: tuple[str, ...] | None = None   # class names, where they are not the digits 0..K-1

    @property
    def short_title(self) -> str:
        """The title without its size note: ``"MNIST handwritten digits"``."""
        return self.title.split(" (")[0]

    @property
    def download_size(self) -> int:
        """Bytes of all its files (0 for the sets that ship)."""
        return sum(f.size for f in self.files)


# The files and checksums: sizes and SHA-256 as TensorFlow Datasets publishes them
# (tensorflow_datasets/url_checksums/{mnist,fashion_mnist,kmnist,cifar10}.txt), MD5 as torchvision's
# MNIST, FashionMNIST and KMNIST classes and the CIFAR-10 page list them. MNIST comes from the mirror
# torchvision uses (TFDS's SHA-256 are of the same files on another mirror: same sizes, same MD5).
def _idx_files(base: str, sizes_sha256_md5: dict[str, tuple[int, str, str]]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, base + name, size, sha, md5) for name, (size, sha, md5) in sizes_sha256_md5.items())


MNIST_FILES = _idx_files("https://ossci-datasets.s3.amazonaws.com/mnist/", {
    "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  "ec29112dd5afa0611ce80d1b7f02629c"),
})
FASHION_MNIST_FILES = _idx_files("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
    "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                   "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                   "25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                  "bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                  "bb300cfdad3c16e7a12a480ee83cd310"),
})
KMNIST_FILES = _idx_files("http://codh.rois.ac.jp/kmnist/dataset/kmnist/", {
    "train-images-idx3-ubyte.gz": (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                                   "bdb82020997e1d708af4cf47b453dcf7"),
    "train-labels-idx1-ubyte.gz": (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                                   "e144d726b3acfaa3e44228e80efcd344"),
    "t10k-images-idx3-ubyte.gz": (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                                  "5c965bf0a639b31b8f53240b1b52f4d7"),
    "t10k-labels-idx1-ubyte.gz": (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
                                  "7320c461ea6c1c855c0b718fb2a4b134"),
})
CIFAR10_FILES = (RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                            170052171, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                            "c32a1d4ab5d03f1284b67883e8d87530"),)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


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
    BuiltinInfo("mnist", "MNIST handwritten digits (28x28)",
                "70,000 grayscale 28x28 images of the digits 0-9, pixel values 0-255: 60,000 to train, 10,000 "
                "to test (LeCun, Cortes and Burges). Downloaded on request (11 MB).",
                CLASSIFICATION, (1, 28, 28), 10, MNIST_FILES),
    BuiltinInfo("fashion_mnist", "Fashion-MNIST clothing (28x28)",
                "70,000 grayscale 28x28 images of 10 kinds of clothing (Zalando Research): 60,000 to train, "
                "10,000 to test. Downloaded on request (29 MB).",
                CLASSIFICATION, (1, 28, 28), 10, FASHION_MNIST_FILES, FASHION_CLASSES),
    BuiltinInfo("kmnist", "Kuzushiji-MNIST (28x28)",
                "70,000 grayscale 28x28 images of 10 cursive Japanese characters (ROIS-DS CODH): 60,000 to "
                "train, 10,000 to test. Downloaded on request (20 MB).",
                CLASSIFICATION, (1, 28, 28), 10, KMNIST_FILES, KMNIST_CLASSES),
    BuiltinInfo("cifar10", "CIFAR-10 colour images (32x32)",
                "60,000 colour 32x32 images of 10 classes (Krizhevsky): 50,000 to train, 10,000 to test. "
                "Downloaded on request (162 MB).",
                CLASSIFICATION, (3, 32, 32), 10, CIFAR10_FILES, CIFAR10_CLASSES),
)}


def load_builtin(name: str, samples: int = 1000, noise: float | None = None) -> RawData:
    """The built-in set ``name``, unsplit. ``samples`` and ``noise`` apply to generated sets."""
    if name not in BUILTINS:
        raise unknown_builtin(name)
    info = BUILTINS[name]
    loader = _LOADERS[name]
    if info.files:
        raw = loader(require(info))   # DownloadNeeded when files are missing: nothing downloads here
        raw.name = name
        raw.source = f"{info.short_title} ({len(raw.y['train']):,} train, {len(raw.y['test']):,} test)"
    elif name in DEFAULT_NOISE:
        noise = DEFAULT_NOISE[name] if noise is None else noise
        raw = loader(samples, noise)
        raw.source = f"generated {name} ({samples:,} samples, noise {noise:g})"
    else:
        raw = loader()
        raw.source = f"scikit-learn {name} ({len(raw.y['train']):,} samples)"
    raw.task_hint, raw.task_fixed = info.task, True
    return raw


def unknown_builtin(name: str) -> DatasetError:
    names = list(BUILTINS)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return DatasetError(f"no built-in dataset {name!r} (available: {', '.join(names)}){hint}",
                        location="training.dataset.name")


def _raw(name: str, x: np.ndarray, y: np.ndarray, classes=None, **extra) -> RawData:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return RawData(name=name, source="", path=None, x={"train": x}, y={"train": y},
                   feature_shape=tuple(x.shape[1:]), classes=classes, **extra)


def _numbered(count: int) -> dict:
    return {"classes": tuple(str(i) for i in range(count)), "class_values": np.arange(count, dtype=np.float64)}


def table(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A small built-in table as scikit-learn ships it, read from ``resources/datasets/tables.npz``
    (written by ``tools/make_builtin_tables.py``; numpy reads it in milliseconds, where importing
    scikit-learn took about 1.2 s of every fresh training process): ``(x, y, class names)``."""
    from layerloom.files.resources import resource_root

    with np.load(resource_root() / "datasets" / "tables.npz", allow_pickle=False) as tables:
        return (tables[f"{name}.x"], tables[f"{name}.y"].astype(np.int64),
                tuple(str(c) for c in tables[f"{name}.classes"]))


def _digits() -> RawData:
    x, y, _ = table("digits")
    return _raw("digits", x.reshape(-1, 1, 8, 8), y, image=True, value_range=(0.0, 16.0), **_numbered(10))


def _table(name: str) -> Callable[[], RawData]:
    def load() -> RawData:
        x, y, classes = table(name)
        return _raw(name, x, y, classes=classes)
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


def _idx_set(classes: tuple[str, ...] | None = None) -> Callable[[Path], RawData]:
    def load(folder: Path) -> RawData:
        from layerloom.data.idx import load_idx

        raw = load_idx(folder)
        names = classes or tuple(str(i) for i in range(10))
        for part, y in raw.y.items():
            if len(y) and y.max() >= len(names):
                raise DatasetError(f"label {int(y.max())} in {raw.label_names[part]}; this set's labels are 0 to "
                                   f"{len(names) - 1}", str(folder))
        raw.classes, raw.class_values = names, np.arange(len(names), dtype=np.float64)
        return raw
    return load


def _cifar10(folder: Path) -> RawData:
    from layerloom.data.cifar import load_cifar10

    return load_cifar10(folder / CIFAR10_FILES[0].name)


_LOADERS: dict[str, Callable] = {
    "digits": _digits, "iris": _table("iris"), "wine": _table("wine"),
    "breast_cancer": _table("breast_cancer"), "moons": _moons, "circles": _circles,
    "spirals": _spirals, "regression": _regression, "mnist": _idx_set(), "fashion_mnist": _idx_set(FASHION_CLASSES),
    "kmnist": _idx_set(KMNIST_CLASSES), "cifar10": _cifar10,
}
