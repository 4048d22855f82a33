"""The data layer reads each array once and copies it no more than it must (issue 19): ``scaling: none``
shares the loaded features with the run (read-only, never written), a stored NPZ member is read straight
into its array with one CRC check, the statistics of standardisation need no copy of the split. What
the copies used to protect stays protected: the loaded dataset (cached by the warm worker, shown by the
editor's preview) is unchanged by a run, and damaged members still give named errors."""

from __future__ import annotations

import io
import math
import warnings
import zipfile

import numpy as np
import pytest
import torch

from layerloom import load_graph
from layerloom.data import Dataset, DatasetError, apply_scaling, load_dataset, scale
from layerloom.data.npzfile import load_npz
from layerloom.data.transforms import fit_scaling
from layerloom.files.resources import example_path
from layerloom.training import Finished, TrainingConfig, TrainingSession
from layerloom.training.batches import Split
from layerloom.training.plan import plan_training


def _digits_npz(path, n=192):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = (rng.random((n, 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = _digits_npz(tmp_path_factory.mktemp("copies") / "digits.npz")
    graph = load_graph(example_path("digits_cnn"))
    return path, graph


def _config(graph, path, **dataset):
    settings = {"path": str(path), "scaling": "none", "val_split": 0.25, **dataset}
    return TrainingConfig.from_graph(graph).replace(dataset=settings, epochs=1, batch_size=32, device="cpu", seed=0)


def test_scaling_none_shares_the_loaded_features_read_only_and_a_run_leaves_them_unchanged(digits, tmp_path):
    path, graph = digits
    config = _config(graph, path, augment_shift=1, augment_flip=True, augment_noise=0.1)
    raw = load_dataset(config.dataset)          # as the warm worker caches it and the preview shows it
    before = {split: raw.x_part(split).copy() for split in ("train", "val")}
    plan = plan_training(graph, config, dataset=raw)
    x = plan.features("train")[0]
    assert np.shares_memory(x, raw.x_train)     # no copy of the features...
    assert not x.flags.writeable                # ...and nothing downstream may write through them
    with pytest.raises(ValueError):
        x[0] = 0.0
    split = Split(plan.features("train"), plan.labels("train"), torch.device("cpu"))
    assert split.xs[0].data_ptr() == raw.x_train.ctypes.data   # the trainer's tensor is the same memory

    session = TrainingSession(graph, config, dataset=raw, run_root=tmp_path, threads=1)
    session.run()
    assert isinstance(session.result, Finished), session.result
    for split_name, values in before.items():  # trained on with augmentation: not one value changed
        np.testing.assert_array_equal(raw.x_part(split_name), values)
    assert raw.x_train.flags.writeable          # the dataset itself stays its owner's


def test_fitted_scaling_makes_new_arrays_and_leaves_the_loaded_ones_unchanged(digits):
    path, graph = digits
    raw = load_dataset({"path": str(path), "val_split": 0.25})
    before = raw.x_train.copy()
    scaled = scale(raw, "standardize")
    assert not np.shares_memory(scaled.x_train, raw.x_train)
    np.testing.assert_array_equal(raw.x_train, before)
    assert abs(float(scaled.x_train.mean())) < 1e-5 and abs(float(scaled.x_train.std()) - 1) < 1e-4


def test_apply_scaling_gives_the_caller_an_array_of_its_own():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for scaling in ({"mode": "none"}, {"mode": "minmax", "min": 0.0, "max": 11.0},
                    {"mode": "standardize", "mean": [1, 2, 3, 4], "std": [1, 2, 2, 1], "axis": "feature"}):
        out = apply_scaling(x, scaling)
        assert out.flags.writeable and not np.shares_memory(out, x) and out.dtype == np.float32
    np.testing.assert_array_equal(apply_scaling(x, {"mode": "minmax", "min": 0.0, "max": 11.0}), x / 11)


@pytest.mark.parametrize("shape, image, axis", [((50, 3, 4, 5), True, "channel"), ((50, 7), False, "feature")])
def test_statistics_summed_in_slices_match_numpys(monkeypatch, shape, image, axis):
    monkeypatch.setattr("layerloom.data.transforms.STATS_BYTES", 16 * 8 * math.prod(shape[1:]))  # slices of 16
    rng = np.random.default_rng(1)
    x = (rng.random(shape) * 100 + 1000).astype(np.float32)   # a large mean: two passes keep the spread exact
    x[:, 1] = 5.0                                               # a constant channel / feature: spread 1
    data = Dataset(name="x", source="x", task="classification", x_train=x, y_train=np.zeros(len(x), np.int64),
                   x_val=None, y_val=None, feature_shape=shape[1:], image=image)
    reduce = (0, 2, 3) if axis == "channel" else 0
    fitted = fit_scaling(data, "standardize")
    assert fitted["axis"] == axis
    std = x.std(axis=reduce, dtype=np.float64)
    std[1] = 1.0
    np.testing.assert_allclose(fitted["mean"], x.mean(axis=reduce, dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(fitted["std"], std, rtol=1e-9)
    fitted = fit_scaling(data, "minmax")
    np.testing.assert_array_equal(fitted["min"], x.min(axis=reduce))
    np.testing.assert_array_equal(fitted["max"], x.max(axis=reduce))


def test_split_over_read_only_features_neither_copies_nor_warns():
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    x.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = Split([x], [np.arange(10)], torch.device("cpu"))
    assert split.xs[0].data_ptr() == x.ctypes.data


def _npz(tmp_path, name, arrays, compression=zipfile.ZIP_STORED):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(key + ".npy", buffer.getvalue())
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_npz_members_read_exactly_as_numpy_reads_them(tmp_path, compression):
    rng = np.random.default_rng(2)
    arrays = {"x": rng.random((30, 5)).astype(np.float32), "y": rng.integers(0, 3, 30),
              "x_val": np.asfortranarray(rng.random((6, 5))), "y_val": np.arange(6) % 3}
    path = _npz(tmp_path, "ok.npz", arrays, compression)
    raw = load_npz(path)
    np.testing.assert_array_equal(raw.x["train"], arrays["x"])
    np.testing.assert_array_equal(raw.x["val"], arrays["x_val"].astype(np.float32))
    np.testing.assert_array_equal(raw.y["val"], arrays["y_val"])


def test_a_flipped_byte_in_a_stored_member_is_named(tmp_path):
    x = np.random.default_rng(3).random((1000, 6))    # past what reading its header reads ahead
    path = _npz(tmp_path, "flipped.npz", {"x": x, "y": np.arange(1000) % 2})
    data = bytearray(path.read_bytes())
    where = bytes(data).index(x.tobytes()[:16]) + 20_000   # inside x's values: the CRC must catch it
    data[where] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        load_npz(path)
    err = info.value
    assert err.path == str(path) and err.location == "array 'x'" and "corrupt" in err.detail
    assert "checksum" in err.detail


def test_a_stored_member_whose_sizes_disagree_is_named(tmp_path):
    x = np.arange(4000.0).reshape(1000, 4)
    path = _npz(tmp_path, "sizes.npz", {"x": x, "y": np.arange(1000) % 2})
    data = bytearray(path.read_bytes())
    entry = bytes(data).index(b"PK\x01\x02")            # x's entry in the central directory
    assert data[entry + 46:entry + 51] == b"x.npy"
    size = int.from_bytes(data[entry + 24:entry + 28], "little")
    data[entry + 24:entry + 28] = (size + 8).to_bytes(4, "little")   # says it holds 8 bytes more
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        load_npz(path)
    err = info.value
    assert err.path == str(path) and err.location == "array 'x'" and "corrupt" in err.detail


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_member_whose_checksum_does_not_match_is_named(tmp_path, compression):
    path = _npz(tmp_path, "crc.npz", {"x": np.random.default_rng(4).random((1000, 6)), "y": np.arange(1000) % 2},
                compression)
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo("x.npy").CRC.to_bytes(4, "little")
    data = path.read_bytes()
    assert data.count(crc) == 2                               # the local header's and the central directory's
    path.write_bytes(data.replace(crc, bytes([crc[0] ^ 1]) + crc[1:]))
    with pytest.raises(DatasetError) as info:
        load_npz(path)
    err = info.value
    assert err.path == str(path) and err.location == "array 'x'" and "corrupt" in err.detail
