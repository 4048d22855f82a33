"""1-D signals are not images: an NPZ of ``[N, 1, 40]`` samples keeps that shape, is standardized per
feature (each of the 40 positions on its own), and the dataset's summary says which scaling was chosen
and why; the ``scaling`` setting overrides it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import add, chain

from layerloom import Graph
from layerloom.data import load_dataset, scale
from layerloom.training import TrainingConfig
from layerloom.training.plan import plan_training


@pytest.fixture(scope="module")
def signals(tmp_path_factory):
    """200 signals [1, 40]: a ramp whose slope is the class, on a baseline that grows along the signal."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    t = np.arange(40, dtype=np.float32)
    x = (y[:, None] * 0.05 * t + 3.0 * t + rng.normal(size=(200, 40))).astype(np.float32)[:, None, :]
    path = tmp_path_factory.mktemp("signals") / "signals.npz"
    np.savez(path, x=x, y=y)
    return path


def test_signals_keep_their_shape_and_are_not_images(signals):
    ds = load_dataset({"path": str(signals)})
    assert ds.feature_shape == (1, 40) and not ds.image and ds.x_train.shape[1:] == (1, 40)
    assert "scaling: standardize per feature (auto: 1-D signals [1, 40] (channels, length), not images: each of " \
           "the 40 values its own mean and std)" in ds.summary()
    assert ds.summary().count("\n") == 1  # two lines: the shapes and splits, then the scaling


def test_signals_are_standardized_per_feature(signals):
    scaled = scale(load_dataset({"path": str(signals)}))
    assert scaled.scaling["mode"] == "standardize" and scaled.scaling["axis"] == "feature"
    assert len(scaled.scaling["mean"]) == 40
    # every position ends with mean 0 and spread 1 (one statistic for all would leave the baseline's ramp)
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1, atol=1e-3)
    assert "standardize per feature" in scaled.summary()


def test_the_scaling_setting_overrides_and_the_summary_says_so(signals):
    ds = load_dataset({"path": str(signals), "scaling": "none"})
    assert "scaling: none (training.dataset.scaling is none" in ds.summary()
    assert scale(ds, "none").x_train.max() > 100


def test_a_signal_graph_plans_with_the_signal_shape(signals):
    g = Graph(name="signal")
    chain(g, add(g, "Input", "x", shape=[1, 40]), add(g, "Conv1d", "conv", out_channels=4, kernel_size=5),
          add(g, "Flatten", "flat"), add(g, "Linear", "fc", out_features=2), add(g, "Output", "out"))
    add(g, "Target", "label")
    add(g, "CrossEntropyLoss", "loss")
    g.connect("fc", "out", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    plan = plan_training(g, TrainingConfig(dataset={"path": str(signals)}, device="cpu"))
    assert plan.dataset.feature_shape == (1, 40) and plan.dataset.scaling["axis"] == "feature"


def test_image_like_rank_three_arrays_stay_grayscale_images(tmp_path):
    path = tmp_path / "images.npz"
    np.savez(path, x=np.zeros((6, 12, 10), dtype=np.uint8), y=np.arange(6) % 2)
    ds = load_dataset({"path": str(path)})
    assert ds.image and ds.feature_shape == (1, 12, 10)
    assert "min-max by the value range (auto: images [1, 12, 10] with values in a known range 0..255)" in ds.summary()
