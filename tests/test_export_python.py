"""Standalone PyTorch source: the generated model.py runs without LayerLoom and computes exactly what
the compiled graph computes, for every node type and every example."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_catalog_shapes import CASES
from test_export_onnx import single_node_graph

from layerloom import compile_graph
from layerloom.cli.main import main
from layerloom.export import ExportError, load_exportable
from layerloom.export.pysource import class_name, export_python, python_source
from layerloom.export.source import Exportable
from layerloom.files.resources import example_path, example_paths
from layerloom.catalog.spec import LOSS_ROLE, default_catalog

CATALOG = default_catalog()


def _load_generated(path, exportable):
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, class_name(exportable.name))()
    model.load_state_dict(torch.load(path.with_suffix(".pt"), weights_only=True))
    return model.eval()


def _same_outputs(generated, exportable, batch=5):
    inputs = exportable.example_inputs(batch, seed=3)
    with torch.no_grad():
        got, expected = generated(*inputs), exportable.model.eval()(*inputs)
    return torch.equal(got, expected)


def _exportable_cases():
    return [c for c in CASES if CATALOG[c.type_id].role != LOSS_ROLE and all(s.rank >= 2 for s in c.inputs)
            and c.type_id != "ONNX operator"]   # runs LayerLoom's ONNX table: no standalone source (docs/import.md)


@pytest.mark.parametrize("case", _exportable_cases(), ids=lambda c: c.id)
def test_each_node_type_in_source_equals_the_compiled_graph(case, tmp_path):
    """Every parameter set of the catalog's shape tests: same constructor arguments, same outputs."""
    graph = single_node_graph(case)
    exportable = Exportable(graph, compile_graph(graph, seed=0))
    path, weights = export_python(exportable, tmp_path / "model.py")
    assert _same_outputs(_load_generated(path, exportable), exportable)


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name.split(".")[0])
def test_each_example_in_source_equals_the_compiled_graph(path, tmp_path):
    exportable = load_exportable(path)
    out, weights = export_python(exportable, tmp_path / f"{path.name.split('.')[0]}.py")
    assert _same_outputs(_load_generated(out, exportable), exportable)


def test_the_generated_file_runs_with_only_torch(tmp_path):
    """No LayerLoom import: run it in a fresh interpreter where ``runtime`` cannot be imported."""
    exportable = load_exportable(example_path("sequence_lstm"))  # needs the LSTM helper class
    path, weights = export_python(exportable, tmp_path / "lstm.py")
    script = (f"import sys; sys.modules['layerloom'] = None; sys.modules['layerloom_resources'] = None\n"
              f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tensor(" in result.stdout


def test_the_source_reads_like_hand_written_pytorch():
    exportable = load_exportable(example_path("digits_residual"))
    text = python_source(exportable, "weights.pt")
    assert "class DigitsResNet(nn.Module):" in text
    assert "        self.stem = nn.Conv2d(1, 16, 3, padding=1)" in text
    assert "        self.block_conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)" in text
    assert "        self.block_bn1 = nn.BatchNorm2d(16)" in text
    assert "        residual = block_bn2 + stem_relu\n" in text
    assert "= None" not in text.split("def forward")[1]  # fx's memory hints are gone
    assert 'model.load_state_dict(torch.load("weights.pt", weights_only=True))' in text
    assert "layerloom" not in text.replace("layerloom_resources", "") and "layerloom_resources" not in text


def test_a_trained_checkpoint_exports_its_weights_classes_and_preprocessing(tmp_path):
    from layerloom.training import TrainingConfig, TrainingSession
    from layerloom import load_graph

    graph = load_graph(example_path("digits_mlp"))
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=1), run_root=tmp_path).run()
    exportable = load_exportable(result.run_dir)
    path, weights = export_python(exportable, tmp_path / "digits.py")
    text = path.read_text()
    assert "CLASSES = ['0', '1', '2'," in text and "return (x - 0.0) / 16.0" in text
    generated = _load_generated(path, exportable)
    assert _same_outputs(generated, exportable)
    # raw digits (0..16) through the file's preprocess() and the model: the app's own predictions
    from layerloom.training.inference import Predictor

    predictor = Predictor.from_checkpoint(result.run_dir)
    raw = predictor.validation_samples(16).x
    with torch.no_grad():
        got = generated(_preprocess_of(path)(raw.reshape(16, 64))).numpy()
    assert np.abs(got - predictor.outputs(raw)).max() < 1e-5


def _preprocess_of(path):
    spec = importlib.util.spec_from_file_location(f"generated_pre_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.preprocess


def test_the_source_writes_per_feature_and_per_channel_scaling_exactly(tmp_path):
    """preprocess() is apply_scaling to the last bit, whatever the record holds."""
    from layerloom.data import apply_scaling

    cases = [("regression_mlp", {"mode": "standardize", "mean": [0.5, -1.0] * 4, "std": [2.0, 0.0] * 4,
                                 "axis": "feature"}),
             ("digits_cnn", {"mode": "standardize", "mean": [3.5], "std": [5.25], "axis": "channel"}),
             ("digits_mlp", {"mode": "minmax", "min": list(range(64)), "max": [70.0] * 64, "axis": "feature"})]
    for name, scaling in cases:
        exportable = load_exportable(example_path(name))
        exportable.scaling = scaling
        path, _ = export_python(exportable, tmp_path / f"{name}.py")
        preprocess = _preprocess_of(path)
        raw = exportable.example_inputs(4, seed=2)[0].numpy() * 9
        assert np.array_equal(preprocess(raw).numpy(), apply_scaling(raw, scaling)), name


def test_a_layer_without_a_source_form_is_named(tmp_path):
    exportable = load_exportable(example_path("digits_cnn"))

    class Custom(torch.nn.Module):
        def forward(self, x):
            return x

    exportable.compiled.model.conv2 = Custom()
    with pytest.raises(ExportError, match=r'^Conv2d "conv2": its layer .*Custom is neither a torch.nn module nor'):
        python_source(exportable)


def test_the_cli_writes_the_source_and_its_weights(tmp_path, capsys):
    out = tmp_path / "cnn.py"
    assert main(["export", str(example_path("digits_cnn")), "--python", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{out}: PyTorch source" in printed and out.exists() and out.with_suffix(".pt").exists()


def test_blocks_become_classes_of_their_own_and_compute_the_same(tmp_path):
    """A repeated block: a class named after the block, nested like the compiled model, with the
    same outputs and state dict keys."""
    from layerloom import load_graph
    from layerloom.model.blocks import group_nodes

    graph = load_graph(example_path("digits_residual"))
    inside = ["block_conv1", "block_bn1", "block_relu", "block_conv2", "block_bn2", "residual", "out_relu"]
    _, first = group_nodes(graph, inside, "ResBlock")
    graph.set_param(first, "repeat", 2)
    exportable = Exportable(graph, compile_graph(graph, seed=0))
    text = python_source(exportable)
    assert "class ResBlock(nn.Module):" in text and '"""The block ResBlock."""' in text
    assert f"        self.{graph.node(first).name} = nn.Sequential(ResBlock(), ResBlock())" in text
    path, _ = export_python(exportable, tmp_path / "blocks.py")
    generated = _load_generated(path, exportable)
    assert list(generated.state_dict()) == list(exportable.model.state_dict())
    assert _same_outputs(generated, exportable)
