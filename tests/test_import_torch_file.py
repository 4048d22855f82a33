"""Open a model class from a user's .py file (``import_python_file``, ``layerloom-cli import-torch``): the file
runs in a child process, so a file that raises, loops, exits or crashes is reported with its name and line and
the caller goes on."""

from __future__ import annotations

import json
import os

import pytest
import torch

from layerloom.cli.main import main
from layerloom.importers import ModelImportError
from layerloom.importers.torch_file import import_python_file, model_classes, parse_shape

MLP_FILE = '''\
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        print("this goes to stderr, never into the command's output")
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
'''


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_the_cli_imports_a_class_from_a_file(tmp_path, capsys):
    source = _write(tmp_path, "model.py", MLP_FILE)
    target = tmp_path / "out" / "mnist.llgraph.json"  # the folder is made
    assert main(["import", str(source)]) == 1           # one import command: a .py file needs its class and shape
    assert "needs --class CLASS and --input-shape" in capsys.readouterr().err
    assert main(["import", str(source), "--class", "Net", "--input-shape", "1,28,28", "-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert "nn.Linear" in out and "x3" in out and "checked" in out and "stderr" not in out
    data = json.loads(target.read_text())
    assert data["training"]["weights"] == "mnist.weights.pt"
    assert {node["type"] for node in data["nodes"]} == {"Input", "Flatten", "Linear", "ReLU", "Output"}
    weights = torch.load(target.parent / "mnist.weights.pt", weights_only=True)["weights"]
    assert weights["fc1.weight"].shape == (128, 784)


@pytest.mark.parametrize("text, expected", [
    ("import sys\n\nvalue = 1\nvalue = value / 0\n", r"raising\.py line 4: .*ZeroDivisionError"),
    ("import sys\nsys.exit(3)\n", r"raising\.py line 2: .*SystemExit"),
    ("import os\nos._exit(7)\n", r"raising\.py ended the import process \(exit status 7\)"),
    ("class Other:\n    pass\n", r"raising\.py has no class 'Net' \(it has Other\)"),
])
def test_a_file_that_fails_is_reported_with_its_line(tmp_path, text, expected):
    source = _write(tmp_path, "raising.py", text)
    with pytest.raises(ModelImportError, match=expected):
        import_python_file(source, "Net", (4,), timeout=60)


@pytest.mark.skipif(os.name != "posix", reason="the stack of a stopped child comes from SIGABRT")
def test_a_file_that_loops_is_stopped_and_the_caller_goes_on(tmp_path):
    source = _write(tmp_path, "looping.py", "count = 0\nwhile True:\n    count += 1\n")
    with pytest.raises(ModelImportError, match=r"looping\.py did not finish within 1 s .*at line [23]\)"):
        import_python_file(source, "Net", (4,), timeout=1)


def test_the_cli_reports_a_failing_file_with_status_1(tmp_path, capsys):
    source = _write(tmp_path, "broken.py", "raise RuntimeError('no model here')\n")
    assert main(["import-torch", str(source), "--class", "Net", "--input-shape", "4"]) == 1
    assert "broken.py line 1" in capsys.readouterr().err
    assert not (tmp_path / "broken.llgraph.json").exists()


def test_input_shapes_are_read_from_text():
    assert parse_shape("1,28,28") == (1, 28, 28) and parse_shape([3, 8]) == (3, 8) and parse_shape("1x8") == (1, 8)
    for bad in ("", "a,b", "0,3"):
        with pytest.raises(ValueError):
            parse_shape(bad)


def test_the_model_classes_of_a_file_are_listed_without_running_it(tmp_path):
    source = _write(tmp_path, "models.py", MLP_FILE + "\n\nclass Bigger(Net):\n    pass\n\n\nclass Helper:\n    pass\n"
                    "\n\nraise SystemExit('never run')\n")
    assert model_classes(source) == ["Net", "Bigger"]
    with pytest.raises(ModelImportError, match=r"broken\.py line 1"):
        model_classes(_write(tmp_path, "broken.py", "class (:\n"))
