"""Datasets: built-ins, settings, the seeded split, scaling, augmentation and reshaping."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from layerloom.data import (BUILTINS, CLASSIFICATION, DATASET_PARAMS, REGRESSION, Augmenter, Dataset, DatasetError,
                          apply_scaling, dataset_settings, load_dataset, make_augmenter, scale)
from layerloom.core.errors import LayerLoomError

REFERENCE_LOOP = Path("/work/shared/bench/reference_loop.py")


# --- built-ins ---------------------------------------------------------------------------------

EXPECTED = {  # name: (feature_shape, num_classes, number of samples at the default settings)
    "digits": ((1, 8, 8), 10, 1797), "iris": ((4,), 3, 150), "wine": ((13,), 3, 178),
    "breast_cancer": ((30,), 2, 569), "moons": ((2,), 2, 1000), "circles": ((2,), 2, 1000),
    "spirals": ((2,), 3, 1000), "regression": ((8,), None, 1000),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_builtin_loads_with_its_shapes_classes_and_task(name):
    shape, classes, total = EXPECTED[name]
    info = BUILTINS[name]
    ds = load_dataset({"name": name})
    assert (info.feature_shape, info.num_classes) == (shape, classes)
    assert ds.feature_shape == shape and ds.num_classes == classes
    assert ds.task == info.task == (REGRESSION if classes is None else CLASSIFICATION)
    assert ds.num_train + ds.num_val == total and ds.num_test == 0 and ds.x_test is None
    assert ds.num_val == int(np.ceil(total * 0.2))
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape == (ds.num_train,) + shape
    if classes is None:
        assert ds.y_train.dtype == np.float32 and ds.y_train.shape == (ds.num_train, 1)
    else:
        assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(classes))
        assert len(ds.classes) == classes
    assert name in ds.summary() and f"{ds.num_train:,} train" in ds.summary()


def test_builtin_class_names_and_image_facts():
    digits = load_dataset({"name": "digits"})
    assert digits.classes == tuple(str(i) for i in range(10)) and digits.image
    assert digits.value_range == (0.0, 16.0) and digits.x_train.max() == 16.0
    assert digits.source == "scikit-learn digits (1,797 samples)"
    iris = load_dataset({"name": "iris"})
    assert iris.classes == ("setosa", "versicolor", "virginica") and not iris.image
    assert iris.value_range is None and iris.class_values is None
    assert load_dataset({"name": "breast_cancer"}).classes == ("malignant", "benign")


def test_generated_sets_follow_samples_and_noise():
    small = load_dataset({"name": "spirals", "samples": 31, "val_split": 0.0})
    assert small.num_train == 31 and np.bincount(small.y_train).tolist() == [11, 10, 10]
    quiet = load_dataset({"name": "moons", "noise": 0.0, "val_split": 0.0})
    loud = load_dataset({"name": "moons", "noise": 0.5, "val_split": 0.0})
    assert not np.allclose(quiet.x_train, loud.x_train)
    again = load_dataset({"name": "moons", "noise": 0.5, "val_split": 0.0})
    np.testing.assert_array_equal(loud.x_train, again.x_train)
    assert "noise 0.5" in loud.source


def _adam_step(params, moments, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.Adam's update, written out (its first construction costs ~2 s of imports)."""
    with torch.no_grad():
        for p, (m, v) in zip(params, moments):
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p -= lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + eps)
            p.grad = None


def test_regression_set_is_learnable_by_a_small_mlp():
    ds = scale(load_dataset({"name": "regression"}))
    assert abs(float(ds.y_train.std()) - 1.0) < 0.1  # targets of moderate magnitude
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 1))
    params = list(net.parameters())
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    order, step = torch.Generator().manual_seed(0), 0
    for _ in range(30):
        for batch in torch.randperm(len(x), generator=order).split(64):
            torch.nn.functional.mse_loss(net(x[batch]), y[batch]).backward()
            step += 1
            _adam_step(params, moments, step)
    with torch.no_grad():
        pred, target = net(torch.from_numpy(ds.x_val)), torch.from_numpy(ds.y_val)
    r2 = 1 - float(((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())
    assert r2 >= 0.9


def test_unknown_builtin_lists_names_and_suggests_the_closest():
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "digit"})
    text = str(info.value)
    assert "did you mean 'digits'" in text and "iris" in text and "spirals" in text
    assert info.value.location == "training.dataset.name" and isinstance(info.value, LayerLoomError)


def test_a_builtin_keeps_its_task():
    with pytest.raises(DatasetError, match="regression set"):
        load_dataset({"name": "regression", "task": "classification"})
    assert load_dataset({"name": "iris", "task": "classification"}).task == CLASSIFICATION


# --- split -------------------------------------------------------------------------------------

def _reference_data():
    spec = importlib.util.spec_from_file_location("reference_loop", REFERENCE_LOOP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.data()


def test_digits_split_matches_the_reference_loop():
    ds = scale(load_dataset({"name": "digits"}))
    if REFERENCE_LOOP.exists():
        x_train, y_train, x_val, y_val = (t.numpy() for t in _reference_data())
    else:  # a clean clone without the shared bench folder: the same computation, written out
        from sklearn.datasets import load_digits

        bunch = load_digits()
        perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0)).numpy()
        x = (torch.tensor(bunch.data, dtype=torch.float32) / 16.0).numpy()
        train, val = perm[:1437], perm[1437:]
        x_train, y_train, x_val, y_val = x[train], bunch.target[train], x[val], bunch.target[val]
    np.testing.assert_array_equal(ds.x_train.reshape(-1, 64), x_train)
    np.testing.assert_array_equal(ds.x_val.reshape(-1, 64), x_val)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_val, y_val)


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1)}


def test_split_is_seeded_disjoint_and_complete():
    settings = {"name": "iris", "val_split": 0.2, "test_split": 0.1, "split_seed": 3}
    a, b = load_dataset(settings), load_dataset(settings)
    other = load_dataset(dict(settings, split_seed=4))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, other.x_val)
    assert (a.num_train, a.num_val, a.num_test) == (150 - 30 - 15, 30, 15)
    train, val, test = _rows(a.x_train), _rows(a.x_val), _rows(a.x_test)
    whole = load_dataset({"name": "iris", "val_split": 0.0})
    assert whole.x_val is None and whole.num_val == 0
    # iris has a duplicate row, so compare counts of rows rather than sets
    assert len(train & val) + len(train & test) + len(val & test) <= 1
    assert train | val | test == _rows(whole.x_train)
    assert sorted(np.concatenate([a.y_train, a.y_val, a.y_test]).tolist()) == sorted(whole.y_train.tolist())


def test_split_that_leaves_no_training_samples_is_an_error():
    with pytest.raises(DatasetError, match="none for training"):
        load_dataset({"name": "moons", "samples": 10, "val_split": 0.9, "test_split": 0.9})


# --- settings ----------------------------------------------------------------------------------

def test_dataset_params_have_docs_and_the_agreed_defaults():
    defaults = {p.name: p.default for p in DATASET_PARAMS}
    assert defaults == {
        "name": "digits", "path": None, "format": "auto", "target_column": None, "side_table": None, "inputs": None,
        "header": "auto",
        "task": "auto",
        "val_split": 0.2, "test_split": 0.0, "split_seed": 0, "scaling": "auto", "samples": 1000, "noise": None,
        "image_size": None, "color": "auto", "augment_shift": 0, "augment_flip": False, "augment_noise": 0.0}
    assert all(len(p.doc) > 20 for p in DATASET_PARAMS)


def test_dataset_settings_fills_defaults_and_reports_bad_values():
    values, errors = dataset_settings({"name": "iris", "val_split": 2, "image_size": [4, 4], "extra": 1})
    assert values["name"] == "iris" and values["val_split"] == 0.2 and values["image_size"] == (4, 4)
    assert [e.param for e in errors] == ["val_split"]
    assert dataset_settings(None) == ({p.name: p.default for p in DATASET_PARAMS}, [])


def test_load_dataset_rejects_a_bad_setting_with_its_location():
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "iris", "samples": 5})
    assert info.value.location == "training.dataset.samples"
    assert str(info.value).startswith("training.dataset.samples: must be at least 10")


def test_dataset_error_text_has_path_location_and_message():
    assert str(DatasetError("bad", "a.csv", "line 2")) == "a.csv: line 2: bad"
    assert str(DatasetError("bad", location="line 2")) == "line 2: bad"
    assert DatasetError("bad", "a.csv").detail == "bad"


# --- scaling -----------------------------------------------------------------------------------

def test_minmax_digits_divides_by_the_known_range():
    ds = scale(load_dataset({"name": "digits"}))
    assert ds.scaling == {"mode": "minmax", "min": 0.0, "max": 16.0}
    assert ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0 and ds.x_train.dtype == np.float32
    json.dumps(ds.scaling)


def test_standardize_fits_on_train_only():
    raw = load_dataset({"name": "wine"})
    ds = scale(raw)
    assert ds.scaling["mode"] == "standardize" and ds.scaling["axis"] == "feature"
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1, atol=1e-4)
    mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    np.testing.assert_allclose(ds.x_val, (raw.x_val - mean) / std, rtol=1e-4, atol=1e-4)
    assert abs(float(ds.x_val.mean())) > 1e-3  # val is not refitted
    json.dumps(ds.scaling)


def test_constant_column_gives_no_nan_and_none_mode_changes_nothing():
    raw = load_dataset({"name": "iris"})
    raw.x_train[:, 1] = 3.0
    ds = scale(raw, "standardize")
    assert np.isfinite(ds.x_train).all() and ds.scaling["std"][1] == 1.0
    flat = scale(raw, "minmax")
    assert np.isfinite(flat.x_train).all() and flat.x_train.max() <= 1.0
    none = scale(raw, "none")
    assert none.scaling == {"mode": "none"}
    np.testing.assert_array_equal(none.x_val, raw.x_val)


def test_images_standardize_per_channel():
    ds = scale(load_dataset({"name": "digits"}), "standardize")
    assert ds.scaling["axis"] == "channel" and len(ds.scaling["mean"]) == 1
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3


@pytest.mark.parametrize("name, mode", [("digits", "auto"), ("wine", "auto"), ("iris", "minmax"),
                                        ("digits", "standardize")])
def test_apply_scaling_round_trips_scale(name, mode):
    raw = load_dataset({"name": name})
    ds = scale(raw, mode)
    recorded = json.loads(json.dumps(ds.scaling))
    np.testing.assert_array_equal(apply_scaling(raw.x_val, recorded), ds.x_val)
    np.testing.assert_array_equal(apply_scaling(raw.x_val[0], recorded), ds.x_val[0])  # one sample


def test_scale_refuses_bad_mode_and_double_scaling():
    ds = scale(load_dataset({"name": "iris"}))
    with pytest.raises(DatasetError, match="already scaled"):
        scale(ds)
    with pytest.raises(DatasetError, match="unknown scaling"):
        scale(load_dataset({"name": "iris"}), "log")


# --- reshaped ----------------------------------------------------------------------------------

def test_reshaped_keeps_the_data_and_tracks_image():
    digits = load_dataset({"name": "digits"})
    flat = digits.reshaped((64,))
    assert flat.feature_shape == (64,) and flat.x_train.shape == (1437, 64) and not flat.image
    np.testing.assert_array_equal(flat.x_val, digits.x_val.reshape(-1, 64))
    rows = digits.reshaped((8, 8))
    assert rows.x_train.shape == (1437, 8, 8) and not rows.image
    assert not flat.reshaped((1, 8, 8)).image  # image only stays True; a flat table does not become one
    assert digits.reshaped((1, 4, 16)).image
    with pytest.raises(DatasetError, match="cannot reshape"):
        digits.reshaped((65,))


# --- augmentation ------------------------------------------------------------------------------

def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augmenter_repeats_with_the_same_generator_seed():
    batch = torch.rand(16, 1, 8, 8)
    aug = Augmenter(shift=2, flip=True, noise=0.1)
    assert torch.equal(aug(batch, _gen(1)), aug(batch, _gen(1)))
    assert not torch.equal(aug(batch, _gen(1)), aug(batch, _gen(2)))


def test_shift_moves_a_bright_pixel_within_range_with_zero_fill():
    batch = torch.zeros(200, 1, 9, 9)
    batch[:, 0, 4, 4] = 1.0
    out = Augmenter(shift=2)(batch, _gen())
    assert out.shape == batch.shape and out.sum().item() == 200  # nothing wraps, nothing is lost
    where = out[:, 0].flatten(1).argmax(1)
    dy, dx = where // 9 - 4, where % 9 - 4
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2
    assert len(set(zip(dy.tolist(), dx.tolist()))) == 25  # every offset occurs
    edge = torch.ones(50, 6, 6)
    shifted = Augmenter(shift=3)(edge, _gen())  # [B, H, W] works too
    assert shifted.shape == edge.shape and (shifted == 0).any()  # zero-filled, not wrapped


def test_flip_mirrors_about_half_of_the_samples():
    batch = torch.arange(8.0).repeat(400, 1, 3, 1)  # [400, 1, 3, 8], rows 0..7
    out = Augmenter(flip=True)(batch, _gen())
    flipped = (out[:, 0, 0, 0] == 7).sum().item()
    assert 150 < flipped < 250
    assert torch.equal(out[out[:, 0, 0, 0] == 7], batch.flip(-1)[out[:, 0, 0, 0] == 7])


def test_noise_has_the_requested_std():
    out = Augmenter(noise=0.3)(torch.zeros(64, 3, 16, 16), _gen())
    assert abs(out.std().item() - 0.3) < 0.01 and abs(out.mean().item()) < 0.01


def test_make_augmenter_is_none_when_off_and_refuses_tables():
    digits = load_dataset({"name": "digits"})
    assert make_augmenter({}, digits) is None
    aug = make_augmenter({"augment_shift": 1, "augment_flip": True}, digits)
    assert (aug.shift, aug.flip, aug.noise) == (1, True, 0.0)
    with pytest.raises(DatasetError) as info:
        make_augmenter({"augment_flip": True}, load_dataset({"name": "iris"}))
    assert info.value.location == "training.dataset.augment_flip"
    assert make_augmenter({"augment_noise": 0.1}, digits.reshaped((8, 8))) is not None


def test_augmenter_runs_on_the_batch_device():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here; the augmenter's CUDA path runs where one is available")
    batch = torch.rand(32, 3, 8, 8, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    out = Augmenter(shift=2, flip=True, noise=0.1)(batch, gen)
    assert out.device == batch.device and out.shape == batch.shape


def test_dataset_is_a_plain_record():
    ds = Dataset("t", "test", REGRESSION, np.zeros((3, 2), np.float32), np.zeros(3, np.float32), None, None,
                 feature_shape=(2,))
    assert (ds.num_train, ds.num_val, ds.num_test, ds.num_classes) == (3, 0, 0, None)
    assert "3 train / 0 val / 0 test" in ds.summary() and "target [" in ds.summary()
