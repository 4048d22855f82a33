"""The small built-in tables (digits, iris, wine, breast cancer) are read from the shipped
resources/datasets/tables.npz, not by importing scikit-learn at every run's start: the file must hold
exactly scikit-learn's arrays (tools/make_builtin_tables.py writes it again when they change)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from layerloom.data import load_dataset
from layerloom.data.builtins import table


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer"])
def test_each_table_is_scikit_learns(name):
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x, y, classes = table(name)
    np.testing.assert_array_equal(x.astype(np.float64), bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert classes == tuple(str(c) for c in bunch.target_names) and y.dtype == np.int64


def test_loading_digits_imports_no_scikit_learn():
    code = ("import sys; from layerloom.data import load_dataset; d = load_dataset({'name': 'digits'}); "
            "print(d.num_train, d.num_val, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1437", "360", "False"]


def test_the_digits_dataset_is_what_it_was():
    data = load_dataset({"name": "digits"})
    assert data.feature_shape == (1, 8, 8) and data.classes == tuple("0123456789")
    assert data.num_train == 1437 and data.num_val == 360
