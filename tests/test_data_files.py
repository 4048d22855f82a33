"""Dataset files: CSV, NPZ, IDX and image folders, each written small by the test itself."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerloom.data import CLASSIFICATION, REGRESSION, DatasetError, LazyImages, load_dataset, scale
from layerloom.data import images as images_module


def _load(path: Path, **settings):
    return load_dataset(dict({"path": str(path), "val_split": 0.0}, **settings))


def _error(path: Path, **settings) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        _load(path, **settings)
    return info.value


# --- CSV ---------------------------------------------------------------------------------------

def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


TABLE = "age,height,kind\n31,1.8,cat\n25,1.6,dog\n40,1.7,cat\n33,1.9,bird\n28,1.5,dog\n"


def test_csv_with_header_and_text_labels(tmp_path):
    ds = _load(_csv(tmp_path, TABLE))
    assert ds.task == CLASSIFICATION and ds.classes == ("bird", "cat", "dog") and ds.class_values is None
    np.testing.assert_array_equal(ds.y_train, [1, 2, 1, 0, 2])
    np.testing.assert_array_equal(ds.x_train[0], np.array([31, 1.8], np.float32))
    assert ds.feature_shape == (2,) and ds.name == "data.csv" and ds.x_train.dtype == np.float32


def test_csv_without_header_is_detected(tmp_path):
    ds = _load(_csv(tmp_path, "1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n"))
    assert ds.num_train == 5 and ds.x_train[0].tolist() == [1.0, 2.0]
    assert ds.classes == ("0", "1") and ds.class_values.tolist() == [0.0, 1.0]
    forced = _load(_csv(tmp_path, "1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n"), header="yes")
    assert forced.num_train == 4
    text_labels = _load(_csv(tmp_path, "5.1,3.5,setosa\n4.9,3.0,setosa\n6.3,2.9,virginica\n"))
    assert text_labels.num_train == 3 and text_labels.classes == ("setosa", "virginica")
    err = _error(_csv(tmp_path, TABLE), header="no")
    assert err.location == "line 1, column 0" and "'age' is not a number" in err.detail


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_delimiters_are_sniffed(tmp_path, delimiter):
    ds = _load(_csv(tmp_path, TABLE.replace(",", delimiter)))
    assert ds.feature_shape == (2,) and ds.classes == ("bird", "cat", "dog")


def test_csv_target_by_name_index_and_negative_index(tmp_path):
    rows = "31,1.8,1\n25,1.6,2\n40,1.7,1\n33,1.9,0\n28,1.5,2\n44,1.4,1\n50,1.6,0\n"
    path = _csv(tmp_path, "age,height,kind\n" + rows)  # 3 labels in 7 rows: classes (fewer than half)
    by_name = _load(path, target_column="age")
    assert by_name.task == REGRESSION and by_name.y_train.shape == (7, 1) and by_name.y_train.dtype == np.float32
    assert by_name.y_train[:, 0].tolist() == [31, 25, 40, 33, 28, 44, 50]
    assert by_name.x_train[0].tolist() == [np.float32(1.8), 1.0]
    by_index = _load(path, target_column="0")
    np.testing.assert_array_equal(by_index.y_train, by_name.y_train)
    np.testing.assert_array_equal(by_index.x_train, by_name.x_train)
    last, default = _load(path, target_column="-1"), _load(path)
    assert last.classes == default.classes == ("0", "1", "2") and last.y_train.tolist() == [1, 2, 1, 0, 2, 1, 0]
    assert _load(_csv(tmp_path, "a,b\n1,0\n2,1\n3,0\n4,1\n", "two.csv")).task == REGRESSION  # 2 of 4: not fewer
    middle = _load(path, target_column="-2")
    assert middle.task == REGRESSION and middle.x_train[0].tolist() == [31.0, 1.0]


def test_csv_numeric_labels_become_classes_with_their_values(tmp_path):
    rows = "".join(f"{i},{i * 2},{[3, 7, 9][i % 3]}\n" for i in range(12))
    ds = _load(_csv(tmp_path, "a,b,label\n" + rows))
    assert ds.task == CLASSIFICATION and ds.classes == ("3", "7", "9")
    assert ds.class_values.tolist() == [3.0, 7.0, 9.0] and ds.class_values.dtype == np.float64
    assert sorted(set(ds.y_train.tolist())) == [0, 1, 2]
    assert _load(_csv(tmp_path, "a,b,label\n" + rows), task="regression").task == REGRESSION


def test_csv_real_valued_target_is_regression(tmp_path):
    rows = "".join(f"{i},{i * 0.5 + 0.25}\n" for i in range(10))
    ds = _load(_csv(tmp_path, "x,y\n" + rows))
    assert ds.task == REGRESSION and ds.classes is None and ds.y_train[1, 0] == np.float32(0.75)


def test_csv_text_in_a_feature_column_names_file_line_and_column(tmp_path):
    path = _csv(tmp_path, TABLE.replace("33,1.9", "abc,1.9"))
    err = _error(path)
    assert str(err) == f"{path}: line 5, column 'age': 'abc' is not a number (feature columns must be numeric)"
    assert err.path == str(path) and err.location == "line 5, column 'age'"


def test_csv_empty_cell_and_ragged_row(tmp_path):
    err = _error(_csv(tmp_path, TABLE.replace("25,1.6", "25,")))
    assert err.location == "line 3, column 'height'" and "empty cell" in err.detail
    err = _error(_csv(tmp_path, TABLE.replace("40,1.7,cat", "40,1.7")))
    assert err.location == "line 4" and "2 cells" in err.detail and "has 3" in err.detail
    err = _error(_csv(tmp_path, TABLE.replace("28,1.5,dog", "28,1.5,")))
    assert "empty target cell" in err.detail and err.location == "line 6, column 'kind'"


def test_csv_empty_or_header_only_file(tmp_path):
    assert "empty" in _error(_csv(tmp_path, "")).detail
    assert "empty" in _error(_csv(tmp_path, "\n\n")).detail
    assert "no data rows" in _error(_csv(tmp_path, "a,b,label\n")).detail


def test_csv_blank_trailing_lines_are_ignored(tmp_path):
    assert _load(_csv(tmp_path, TABLE + "\n\n\n")).num_train == 5


def test_csv_unknown_target_column_lists_the_columns(tmp_path):
    err = _error(_csv(tmp_path, TABLE), target_column="weight")
    assert "no column named 'weight'" in str(err) and "'age', 'height', 'kind'" in str(err)
    assert "out of range" in _error(_csv(tmp_path, TABLE), target_column="3").detail
    assert "no header row" in _error(_csv(tmp_path, "1,2,0\n3,4,1\n"), target_column="y").detail


def test_csv_not_a_number_nan_is_refused(tmp_path):
    err = _error(_csv(tmp_path, TABLE.replace("31,1.8", "nan,1.8")))
    assert err.location == "line 2, column 'age'" and "missing" in err.detail


# --- NPZ ---------------------------------------------------------------------------------------

def _npz(tmp_path: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_features_and_integer_labels(tmp_path):
    x = np.arange(40, dtype=np.float64).reshape(10, 4)
    y = np.array([5, 7, 5, 7, 5, 7, 5, 7, 5, 9])
    ds = _load(_npz(tmp_path, x=x, y=y))
    assert ds.task == CLASSIFICATION and ds.classes == ("5", "7", "9") and ds.class_values.tolist() == [5, 7, 9]
    assert ds.y_train.tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 2] and ds.x_train.dtype == np.float32
    regression = _load(_npz(tmp_path, x=x, y=y.astype(np.float32) / 3))
    assert regression.task == REGRESSION and regression.y_train.shape == (10,)
    integral = _load(_npz(tmp_path, x=x, y=y.astype(np.float64)), task="classification")
    assert integral.classes == ("5", "7", "9")


def test_npz_given_splits_are_used_as_they_are(tmp_path):
    path = _npz(tmp_path, x=np.zeros((6, 3)), y=np.array([0, 1, 2, 0, 1, 2]), x_val=np.ones((2, 3)),
                y_val=np.array([2, 1]), x_test=np.full((3, 3), 2.0), y_test=np.array([1, 1, 0]))
    ds = load_dataset({"path": str(path), "val_split": 0.5, "test_split": 0.5})
    assert (ds.num_train, ds.num_val, ds.num_test) == (6, 2, 3)
    assert ds.x_val.tolist() == [[1, 1, 1]] * 2 and ds.y_val.tolist() == [2, 1] and ds.y_test.tolist() == [1, 1, 0]


def test_npz_uint8_images_channels_last(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (8, 5, 6, 3), dtype=np.uint8)
    ds = _load(_npz(tmp_path, x=x, y=np.arange(8) % 2))
    assert ds.image and ds.feature_shape == (3, 5, 6) and ds.value_range == (0.0, 255.0)
    np.testing.assert_array_equal(ds.x_train[2], x[2].transpose(2, 0, 1))
    gray = _load(_npz(tmp_path, x=x[..., 0], y=np.arange(8) % 2))
    assert gray.feature_shape == (1, 5, 6) and gray.image
    assert scale(gray).x_train.max() <= 1.0


def test_npz_missing_y_lists_the_arrays_found(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 2)), labels=np.zeros(3))
    assert str(_error(path)) == f"{path}: no array 'y' (found: labels, x)"


def test_npz_length_mismatch_names_both_arrays(tmp_path):
    err = _error(_npz(tmp_path, x=np.zeros((4, 2)), y=np.zeros(3)))
    assert "'x' has 4 samples but 'y' has 3" in str(err)


def test_npz_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    err = _error(path)
    assert err.location == "array 'x'" and "Python objects" in err.detail


def test_npz_val_label_unseen_in_train(tmp_path):
    path = _npz(tmp_path, x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), x_val=np.zeros((2, 2)),
                y_val=np.array([1, 4]))
    assert "label '4' in y_val does not occur in the training labels" in str(_error(path))


def test_npz_not_an_archive(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    assert "not an .npz archive" in str(_error(path))
    np.save(tmp_path / "single.npy", np.zeros(3))
    assert "not an .npz archive" in _error(tmp_path / "single.npy", format="npz").detail


# --- IDX ---------------------------------------------------------------------------------------

def _idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def _write(path: Path, data: bytes, gz: bool = False) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


IDX_X = np.arange(5 * 4 * 4).reshape(5, 4, 4) % 256
IDX_Y = np.array([3, 1, 3, 0, 1])


@pytest.mark.parametrize("gz", [False, True])
def test_idx_pair_plain_and_gzipped(tmp_path, gz):
    images = _write(tmp_path / "train-images-idx3-ubyte", _idx_images(IDX_X), gz)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y), gz)
    ds = _load(images)
    assert ds.image and ds.feature_shape == (1, 4, 4) and ds.value_range == (0.0, 255.0)
    assert ds.classes == ("0", "1", "3") and ds.class_values.tolist() == [0, 1, 3]
    np.testing.assert_array_equal(ds.x_train[:, 0], IDX_X)
    assert ds.y_train.tolist() == [2, 1, 2, 0, 1]
    from_labels = _load(tmp_path / ("train-labels-idx1-ubyte" + (".gz" if gz else "")))
    np.testing.assert_array_equal(from_labels.x_train, ds.x_train)


def test_idx_gzip_is_detected_by_content(tmp_path):
    _write(tmp_path / "train-images-idx3-ubyte", gzip.compress(_idx_images(IDX_X)))
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y))
    assert _load(tmp_path / "train-images-idx3-ubyte").num_train == 5


def test_idx_folder_pairs_train_and_t10k(tmp_path):
    _write(tmp_path / "train-images-idx3-ubyte", _idx_images(IDX_X), gz=True)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y), gz=True)
    _write(tmp_path / "t10k-images-idx3-ubyte", _idx_images(IDX_X[:2]))
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx_labels(IDX_Y[:2]))
    (tmp_path / "README.txt").write_text("mnist")
    ds = load_dataset({"path": str(tmp_path), "val_split": 0.2})
    assert (ds.num_train, ds.num_val, ds.num_test) == (4, 1, 2)
    assert ds.y_test.tolist() == [2, 1]


def test_idx_dotted_names_and_test_prefix(tmp_path):
    _write(tmp_path / "train-images.idx3-ubyte", _idx_images(IDX_X))
    _write(tmp_path / "train-labels.idx1-ubyte", _idx_labels(IDX_Y))
    _write(tmp_path / "test-images.idx3-ubyte", _idx_images(IDX_X[:3]))
    _write(tmp_path / "test-labels.idx1-ubyte", _idx_labels(IDX_Y[:3]))
    ds = _load(tmp_path)
    assert (ds.num_train, ds.num_test) == (5, 3) and ds.x_val is None


def test_idx_test_label_unseen_in_train(tmp_path):
    _write(tmp_path / "train-images-idx3-ubyte", _idx_images(IDX_X))
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y))
    _write(tmp_path / "t10k-images-idx3-ubyte", _idx_images(IDX_X[:1]))
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx_labels(np.array([7])))
    assert "label '7' in t10k-labels-idx1-ubyte does not occur" in str(_error(tmp_path))


def test_idx_truncated_file(tmp_path):
    data = _idx_images(IDX_X)[:-10]
    images = _write(tmp_path / "train-images-idx3-ubyte", data)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y))
    err = _error(images)
    assert err.detail == "truncated: header says 5 images of 4x4 (80 bytes) but the file holds 70"
    assert err.path == str(images)


def test_idx_bad_magic_and_count_mismatch(tmp_path):
    images = _write(tmp_path / "train-images-idx3-ubyte", _idx_labels(IDX_Y))
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y))
    err = _error(images)
    assert "not an IDX images file" in err.detail and "labels file" in err.detail
    _write(tmp_path / "train-images-idx3-ubyte", _idx_images(IDX_X))
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_labels(IDX_Y[:4]))
    assert "5 images but train-labels-idx1-ubyte holds 4 labels" in str(_error(images))


def test_idx_file_without_partner(tmp_path):
    images = _write(tmp_path / "train-images-idx3-ubyte", _idx_images(IDX_X))
    assert "matching IDX file" in str(_error(images))


# --- image folders -----------------------------------------------------------------------------

def _png(path: Path, value: int, mode: str = "L", size=(5, 5)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, value // 2)
    image = Image.new(mode, size, color)
    image.putpixel((0, 0), 255 if mode == "L" else (255, 255, 255))
    image.save(path)


def _folder(root: Path, mode: str = "L") -> Path:
    for c, name in enumerate(["cat", "dog", "owl"]):
        for i in range(2):
            _png(root / name / f"{i}.png", 40 * c + 10 * i, mode)
    (root / "cat" / "README.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def test_image_folder_grayscale(tmp_path):
    ds = _load(_folder(tmp_path / "pets"))
    assert ds.classes == ("cat", "dog", "owl") and ds.image and ds.feature_shape == (1, 5, 5)
    assert ds.y_train.tolist() == [0, 0, 1, 1, 2, 2] and ds.value_range == (0.0, 255.0)
    assert ds.x_train[3, 0, 1, 1] == 50.0 and ds.x_train[3, 0, 0, 0] == 255.0 and ds.name == "pets"
    assert ds.class_values is None


def test_image_folder_rgb_and_forced_color(tmp_path):
    root = _folder(tmp_path / "pets", mode="RGB")
    ds = _load(root)
    assert ds.feature_shape == (3, 5, 5) and ds.x_train[2, :, 1, 1].tolist() == [40.0, 215.0, 20.0]
    assert _load(root, color="grayscale").feature_shape == (1, 5, 5)
    assert _load(_folder(tmp_path / "gray"), color="rgb").feature_shape == (3, 5, 5)


def test_image_folder_with_train_and_val_folders(tmp_path):
    _folder(tmp_path / "set" / "train")
    _png(tmp_path / "set" / "validation" / "dog" / "a.png", 7)
    ds = load_dataset({"path": str(tmp_path / "set"), "val_split": 0.5})
    assert ds.num_train == 6 and ds.num_val == 1 and ds.y_val.tolist() == [1]
    _png(tmp_path / "set" / "validation" / "emu" / "a.png", 7)
    assert "'emu' has no counterpart" in str(_error(tmp_path / "set"))


def test_image_folder_resize_and_size_mismatch(tmp_path):
    root = _folder(tmp_path / "pets")
    _png(root / "owl" / "big.png", 9, size=(7, 6))
    err = _error(root)
    assert err.path == str(root / "owl" / "big.png") and "image_size" in err.detail
    ds = _load(root, image_size=[3, 4])
    assert ds.feature_shape == (1, 3, 4) and ds.num_train == 7


def test_image_folder_broken_image_and_empty_class(tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    assert _error(root).path == str(root / "dog" / "broken.png")
    (root / "dog" / "broken.png").unlink()
    (root / "emu").mkdir()
    err = _error(root)
    assert err.path == str(root / "emu") and "no images" in err.detail


def test_lazy_images_match_eager_after_scaling(tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets", mode="RGB")
    settings = {"path": str(root), "val_split": 0.34, "split_seed": 1}
    eager = scale(load_dataset(settings), "standardize")
    monkeypatch.setattr(images_module, "MEMORY_LIMIT", 0)
    lazy_raw = load_dataset(settings)
    assert isinstance(lazy_raw.x_train, LazyImages) and lazy_raw.x_train.shape == eager.x_train.shape
    lazy = scale(lazy_raw, "standardize")
    assert lazy.scaling == eager.scaling
    for split in ("x_train", "x_val"):
        arr, lz = getattr(eager, split), getattr(lazy, split)
        np.testing.assert_allclose(lz[np.arange(len(lz))], arr, rtol=1e-6)
        assert lz[np.array([1, 0])].dtype == np.float32 and len(lz) == len(arr)
    np.testing.assert_array_equal(lazy.y_train, eager.y_train)
    flat = lazy.reshaped((75,))
    np.testing.assert_allclose(flat.x_val[np.array([0])], eager.x_val[:1].reshape(1, 75), rtol=1e-6)


# --- paths and formats ---------------------------------------------------------------------------

def test_missing_path_unknown_suffix_and_odd_folder(tmp_path):
    err = _error(tmp_path / "nope.csv")
    assert "no such file or folder" in str(err) and "nope.csv" in str(err)
    weird = tmp_path / "data.json"
    weird.write_text("{}")
    assert "CSV" in str(_error(weird)) and "NPZ" in str(_error(weird))
    (tmp_path / "empty").mkdir()
    assert "one subfolder of images per class" in str(_error(tmp_path / "empty"))


def test_relative_path_resolves_against_base_dir_and_format_overrides_suffix(tmp_path):
    (tmp_path / "table.txt").write_text(TABLE)
    ds = load_dataset({"path": "table.txt", "format": "csv"}, base_dir=tmp_path)
    assert ds.num_train + ds.num_val == 5 and ds.source == str(tmp_path / "table.txt")
