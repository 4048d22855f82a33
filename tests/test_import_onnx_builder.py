"""The importers' shared builder and report (layerloom.importers.builder/report): ids from source names,
weights keyed as the compiled module names its tensors, a saved graph that starts from them, refusals."""

from __future__ import annotations

import pytest
import torch

from layerloom.compiler import compile_graph
from layerloom.files.graphfile import load_graph
from layerloom.importers.builder import GraphBuilder
from layerloom.importers.report import ImportReport, ModelImportError
from layerloom.training.start_weights import fit_weights, read_weights_file


def _mlp() -> GraphBuilder:
    builder = GraphBuilder("tiny mlp", "tiny.onnx")
    x = builder.add("Input", {"shape": [4]}, "input:0")
    fc = builder.add("Linear", {"out_features": 3}, "fc.1/Gemm",
                     weights={"weight": torch.arange(12.0).reshape(3, 4), "bias": torch.ones(3)})
    out = builder.add("Output", {}, "output")
    builder.connect(x, "out", fc, "in")
    builder.connect(fc, "out", out, "in")
    builder.report.record("Gemm", "Linear", "transB=1")
    return builder


def test_ids_are_python_names_and_weights_fit_the_compiled_module(tmp_path):
    result = _mlp().finish()
    assert list(result.graph.nodes) == ["input_0", "fc_1_Gemm", "output"]
    assert set(result.weights) == {"fc_1_Gemm.weight", "fc_1_Gemm.bias"}
    graph_path, weights_path = result.save(tmp_path / "tiny.llgraph.json")
    assert weights_path.name == "tiny.weights.pt"
    loaded = load_graph(graph_path)
    assert loaded.training["weights"] == "tiny.weights.pt"
    assert all("x" in node.ui and "y" in node.ui for node in loaded.nodes.values())
    model = compile_graph(loaded).model
    fit = fit_weights(model, read_weights_file(weights_path))
    assert fit.complete and not fit.unused
    assert torch.equal(model(torch.ones(1, 4)), torch.ones(1, 4) @ torch.arange(12.0).reshape(3, 4).T + 1)


def test_the_same_hint_twice_gets_two_ids():
    builder = GraphBuilder("g", "g.onnx")
    assert builder.add("ReLU", {}, "relu") == "relu"
    assert builder.add("ReLU", {}, "relu") == "relu_2"
    assert builder.add("ReLU", {}, "9 bad name") == "n9_bad_name"


def test_a_graph_that_does_not_check_is_refused_naming_the_source():
    builder = GraphBuilder("g", "broken.onnx")
    x = builder.add("Input", {"shape": [1, 8, 8]}, "x")
    fc = builder.add("Linear", {"out_features": 3}, "fc")
    out = builder.add("Output", {}, "y")
    builder.connect(x, "out", fc, "in")
    builder.connect(fc, "out", out, "in")
    with pytest.raises(ModelImportError, match="broken.onnx.*Flatten"):
        builder.finish()


def test_bad_params_are_an_import_error_not_a_crash():
    builder = GraphBuilder("g", "m.onnx")
    with pytest.raises(ModelImportError, match="Linear"):
        builder.add("Linear", {"out_features": -3}, "fc")


def test_the_report_counts_per_operator_and_round_trips_as_json():
    report = ImportReport("m.onnx")
    for _ in range(3):
        report.record("Relu", "ReLU")
    report.record("Clip", "ReLU6")
    report.record("Clip", "ONNX operator", "min/max not 0/6")
    report.unsupported("FancyOp", "no PyTorch implementation")
    lines = report.lines()
    assert lines[0].startswith("m.onnx: 5 operators of 2 types mapped, 1 not mapped")
    assert any("Relu" in line and "x3" in line and "-> ReLU" in line for line in lines)
    assert any("Clip" in line and "min/max not 0/6 (1)" in line for line in lines)
    assert any("not mapped: FancyOp" in line for line in lines)
    again = ImportReport.from_json(report.to_json())
    assert again.lines() == lines and not again.ok and again.count("Relu") == 3
