"""Loading, drawing and validating graphs never imports PyTorch (about two seconds): the editor must
start fast. Torch is imported, transparently, the first time something compiles, builds or trains.

Each check runs in a fresh interpreter: this test process has imported torch already (conftest).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Any import of torch raises, so a failure names the import chain that pulled it in.
BLOCK_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError(f"{name} was imported")
        return None

sys.meta_path.insert(0, _NoTorch())
"""

WITHOUT_TORCH = BLOCK_TORCH + """
import contextlib, importlib, io, os, tempfile

import layerloom
from layerloom import (Graph, Problem, TensorSpec, analyze, default_catalog, load_graph, save_graph,  # noqa: F401
                     validate)
from layerloom.cli.main import main
from layerloom.files.resources import example_paths

for name in ("model.layout", "model.blocks", "files.graphfile", "files.block_library", "edits", "core.params", "catalog.spec", "catalog.builtin",
             "core.shapes", "model.analysis", "training.config", "training.records", "data", "export",
             "catalog.initializers"):
    importlib.import_module("layerloom." + name)

catalog = default_catalog()
assert len(catalog) > 40 and all(spec.count_params or not spec.build for spec in catalog), len(catalog)

with tempfile.TemporaryDirectory() as folder:
    for path in example_paths():
        graph = load_graph(path)
        analysis = analyze(graph)
        assert analysis.ok and analysis.total_params > 0, (path, analysis.problems)
        copy = os.path.join(folder, path.name)
        save_graph(graph, copy)
        assert analyze(load_graph(copy)).total_params == analysis.total_params
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["check", str(path)]) == 0, path
            assert main(["check", "--json", str(path)]) == 0, path

with contextlib.redirect_stdout(io.StringIO()) as out:
    assert main(["nodes"]) == 0
    assert main(["nodes", "LSTM"]) == 0
assert "TransformerEncoderLayer" in out.getvalue()

assert "torch" not in sys.modules
print("ok", len(example_paths()))
"""

WITH_TORCH = """
import sys

from layerloom import analyze, load_graph
from layerloom.files.resources import example_paths

assert "torch" not in sys.modules
from layerloom import CompiledGraph, compile_graph  # noqa: E402

assert "torch" in sys.modules
for path in example_paths():
    graph = load_graph(path)
    compiled = compile_graph(graph)
    assert isinstance(compiled, CompiledGraph), path
    assert compiled.parameter_count() == analyze(graph).total_params, path

from layerloom.data import make_augmenter  # noqa: E402,F401
from layerloom.export import export_onnx  # noqa: E402,F401
from layerloom.training import TrainingSession  # noqa: E402,F401
print("ok", len(example_paths()))
"""


def _run(script: str) -> str:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_loading_analyzing_and_checking_graphs_never_imports_torch():
    assert _run(WITHOUT_TORCH).startswith("ok 7")


def test_compiling_imports_torch_on_first_use():
    assert _run(WITH_TORCH).startswith("ok 7")


def test_deferred_names_are_listed_and_unknown_names_still_fail():
    import layerloom
    import layerloom.training

    assert {"compile_graph", "CompiledGraph"} <= set(dir(layerloom))
    assert "TrainingSession" in dir(layerloom.training)
    assert layerloom.training.Trainer.__name__ == "Trainer"
    with pytest.raises(AttributeError, match="no attribute 'compile'"):
        layerloom.compile  # noqa: B018
