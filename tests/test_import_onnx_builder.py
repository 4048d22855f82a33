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


def test_a_deep_model_is_laid_out_in_rows_without_overlaps():
    from layerloom.model.layout import CARD_WIDTH, card_height, fit_scale, layered_layout, layout_extent

    builder = GraphBuilder("deep", "deep.onnx")
    previous = builder.add("Input", {"shape": [4]}, "x")
    for k in range(200):
        node = builder.add("ReLU", {}, f"relu{k}")
        builder.connect(previous, "out", node, "in")
        if k % 10 == 9:   # a skip connection every ten layers
            add = builder.add("Add", {}, f"add{k}")
            builder.connect(node, "out", add, "in1")
            builder.connect(previous, "out", add, "in2")
            node = add
        previous = node
    builder.connect(previous, "out", builder.add("Output", {}, "y"), "in")
    graph = builder.finish().graph
    positions = {nid: node.position for nid, node in graph.nodes.items()}
    boxes = [(x, y, x + CARD_WIDTH, y + card_height(graph, nid)) for nid, (x, y) in positions.items()]
    overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                   if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert not overlapping
    rows = sorted({round(y) for _, y in positions.values()})
    assert len(rows) > 3   # wrapped into rows, read top to bottom
    one_row = layered_layout(graph, canvas=None)
    assert fit_scale(layout_extent(graph, positions)) > 4 * fit_scale(layout_extent(graph, one_row))
    assert positions["x"] == (0.0, 0.0) and positions["y"][1] == max(y for _, y in positions.values())
