"""ONNX import (layerloom.importers.import_onnx): imported graphs against onnxruntime on the original file,
export -> import -> export round trips of the examples, two of the onnx package's real models, operators kept
as "ONNX operator" nodes, refusals that name the file and the operator, the CLI, and export from the imported
weights without training."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.cli.main import main
from layerloom.compiler import compile_graph
from layerloom.export.onnx_export import export_onnx
from layerloom.export.source import Exportable, load_exportable
from layerloom.export.verify import session_for
from layerloom.files.graphfile import load_graph
from layerloom.files.resources import example_path
from layerloom.importers.check import compare_with_onnxruntime
from layerloom.importers.onnx_import import import_onnx
from layerloom.importers.onnx_mapping import MAPPED
from layerloom.importers.report import ModelFileError, ModelImportError
from layerloom.model.analysis import analyze
from layerloom.training.start_weights import fit_weights

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "import.md"


def materialized(source: Path, target: Path, seed: int = 0) -> Path:
    """The onnx package's light models store each weight as ConstantOfShape (one value everywhere): write a
    copy whose weights are random initializers, so the comparison means something."""
    model = onnx.load(str(source))
    rng = np.random.default_rng(seed)
    inits = {init.name: init for init in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = numpy_helper.to_array(inits[node.input[0]]).tolist()
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
            values = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
            if len(shape) == 1:   # biases, BatchNorm statistics: positive keeps variances valid
                values = np.abs(values) + 0.5
            model.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
            model.graph.input.append(helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, shape))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    onnx.save(model, str(target))
    return target


# ---------------------------------------------------------------------------- real models
@pytest.mark.parametrize("name", ["squeezenet", "shufflenet"])
def test_the_onnx_packages_models_import_and_match_onnxruntime(name, tmp_path):
    path = materialized(LIGHT / f"light_{name}.onnx", tmp_path / f"{name}.onnx")
    result = import_onnx(path)
    assert analyze(result.graph).ok
    check = compare_with_onnxruntime(result, path)
    assert check.ok, check.describe()
    assert 0 < check.max_abs_diff or name == "squeezenet"
    lines = "\n".join(result.report.lines())
    assert re.search(r"Conv +x\d+ +-> Conv2d", lines), lines
    if name == "shufflenet":   # the channel shuffle: Reshape -> Transpose -> Reshape, the Transpose run as ONNX
        assert re.search(r"Transpose +x16 +-> ONNX operator", lines), lines
        assert re.search(r"BatchNormalization +x49 +-> BatchNorm2d", lines), lines
    assert len({round(y) for _, y in (n.position for n in result.graph)}) > 1   # laid out in rows


# ---------------------------------------------------------------------------- round trips
@pytest.fixture(scope="module")
def exported_examples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("examples")
    files = {}
    for name in ("digits_cnn", "digits_residual", "regression_mlp"):
        exportable = load_exportable(example_path(name))
        files[name] = (exportable, export_onnx(exportable, folder / f"{name}.onnx", exporter="torchscript"))
    return files


@pytest.mark.parametrize("name", ["digits_cnn", "digits_residual", "regression_mlp"])
def test_export_import_export_round_trips(name, exported_examples, tmp_path):
    exportable, first = exported_examples[name]
    result = import_onnx(first)
    check = compare_with_onnxruntime(result, first)
    assert check.ok and set(check.batches) == {1, 3}, check.describe()
    original = [n.type_id for n in exportable.graph]
    imported = [n.type_id for n in result.graph]
    assert set(imported) <= set(original), imported   # the exporter folds a BatchNorm2d into its Conv2d
    for layer in ("Linear", "Conv2d", "Add", "Input", "Output"):
        assert imported.count(layer) == original.count(layer), layer
    graph_path, _ = result.save(tmp_path / f"{name}.llgraph.json")
    again = load_exportable(graph_path)
    fit = fit_weights(again.compiled.model, result.weights)
    assert fit.complete
    second = export_onnx(again, tmp_path / f"{name}_again.onnx", exporter="torchscript")
    x = exportable.example_inputs(4, seed=1)[0].numpy()
    a = session_for(first).run(None, {session_for(first).get_inputs()[0].name: x})[0]
    b = session_for(second).run(None, {session_for(second).get_inputs()[0].name: x})[0]
    assert np.abs(a - b).max() < 1e-5


# ---------------------------------------------------------------------------- operators without a node
def _model(nodes, inits, x_shape=(None, 3, 8, 8), y_shape=("batch", "out"), opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))
    graph = helper.make_graph(nodes, "handmade", [x], [y],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """A model that uses patterns and operators with no catalog node: a batch-size shape computation, a
    Transpose, a channel scale after a BatchNormalization, Clip(0, 6), MaxPool padded at the end, Pad,
    Resize, a Split with two outputs read, a Sub with a constant, MatMul + Add."""
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    inits = {
        "bn_scale": f(3), "bn_bias": f(3), "bn_mean": f(3), "bn_var": np.abs(f(3)) + 0.5,
        "scale": f(3, 1, 1), "shift": f(3, 1, 1), "mean": f(1, 3, 1, 1),
        "zero": np.array(0.0, np.float32), "six": np.array(6.0, np.float32),
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "scales": np.array([1, 1, 2, 2], np.float32), "split": np.array([2, 1], np.int64),
        "minus1": np.array([-1], np.int64), "zero_idx": np.array(0, np.int64),
        "fc.weight": f(12, 5), "fc.bias": f(5),
    }
    nodes = [
        helper.make_node("BatchNormalization", ["x", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"]),
        helper.make_node("Mul", ["bn", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["shifted"]),
        helper.make_node("Clip", ["shifted", "zero", "six"], ["relu6"]),
        helper.make_node("Sub", ["relu6", "mean"], ["centered"]),
        helper.make_node("Pad", ["centered", "pads"], ["padded"], mode="reflect"),
        helper.make_node("MaxPool", ["padded"], ["pooled"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("Resize", ["pooled", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Split", ["up", "split"], ["a", "b"], axis=1),
        helper.make_node("Mul", ["a", "a"], ["a2"]),
        helper.make_node("Concat", ["a2", "b"], ["joined"], axis=1),
        helper.make_node("GlobalAveragePool", ["joined"], ["gap"]),
        helper.make_node("Transpose", ["gap"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Shape", ["t"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero_idx"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero_idx"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["t", "target"], ["flat"]),
        helper.make_node("Concat", ["flat", "flat", "flat", "flat"], ["wide"], axis=1),
        helper.make_node("MatMul", ["wide", "fc.weight"], ["mm"]),
        helper.make_node("Add", ["mm", "fc.bias"], ["logits"]),
        helper.make_node("LeakyRelu", ["logits"], ["y"], alpha=0.2),
    ]
    model = _model(nodes, inits)
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("handmade") / "handmade.onnx"
    onnx.save(model, str(path))
    return path, import_onnx(path)


def test_operators_without_a_node_run_in_pytorch_and_match_onnxruntime(handmade):
    path, result = handmade
    check = compare_with_onnxruntime(result, path)
    assert check.ok and set(check.batches) == {1, 3}, check.describe()
    report = {line.split()[0]: line for line in result.report.lines()[1:]}
    assert "-> BatchNorm2d" in report["BatchNormalization"] and "folded in" in report["BatchNormalization"]
    assert "-> Linear" in report["MatMul"]
    for op in ("Transpose", "Pad", "Resize", "Sub", "Clip"):
        assert "-> ONNX operator" in report[op], report[op]
    assert "-> MaxPool2d" in report["MaxPool"] and "the same as ceil_mode" in report["MaxPool"]
    assert "constant (folded)" in report["Shape"]
    assert "-> Reshape" in report["Reshape"] or "-> Flatten" in report["Reshape"]
    split = [n for n in result.graph if n.type_id == "ONNX operator" and n.params["op_type"] == "Split"]
    assert sorted(n.params["output"] for n in split) == [0, 1]


def test_an_imported_graph_with_onnx_operators_saves_loads_and_exports_to_onnx(handmade, tmp_path):
    path, result = handmade
    graph_path, weights_path = result.save(tmp_path / "handmade.llgraph.json")
    graph = load_graph(graph_path)
    assert graph.training["weights"] == weights_path.name and analyze(graph).ok
    sub = next(n for n in graph if n.params.get("op_type") == "Sub")
    assert json.loads(sub.params["operands"])[1]["const"] is not None or "buffer" in sub.params["operands"]
    compiled = compile_graph(graph, seed=0)
    assert fit_weights(compiled.model, result.weights).complete
    exportable = Exportable(graph, compiled)
    again = export_onnx(exportable, tmp_path / "again.onnx", exporter="torchscript")
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ours = session_for(again).run(None, {session_for(again).get_inputs()[0].name: x})[0]
    theirs = session_for(path).run(None, {"x": x})[0]
    assert np.abs(ours - theirs).max() < 1e-4


# ---------------------------------------------------------------------------- refusals
def test_an_operator_with_no_implementation_is_refused_by_name(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Det", ["r"], ["d"]),
             helper.make_node("Unsqueeze", ["d", "ax"], ["y"])]
    model = _model(nodes, {"ax": np.array([1], np.int64)}, x_shape=(None, 4, 4))
    path = tmp_path / "det.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelImportError, match=r"det\.onnx: LayerLoom cannot run the ONNX operator Det") as caught:
        import_onnx(path)
    assert caught.value.report.unsupported_ops == ["Det"]
    assert any("not mapped: Det x1" in line for line in caught.value.report.lines())


def test_a_damaged_or_missing_file_is_named(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage that is no protobuf" * 3)
    with pytest.raises(ModelFileError, match="broken.onnx"):
        import_onnx(bad)
    with pytest.raises(ModelFileError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")


def test_an_input_of_unknown_size_is_refused_with_the_reason(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelImportError, match="input 'x' has the shape \\[N, None, 4\\]"):
        import_onnx(path)


# ---------------------------------------------------------------------------- CLI and export
def test_cli_import_prints_the_report_and_writes_the_graph_and_weights(exported_examples, tmp_path, capsys):
    _, source = exported_examples["digits_cnn"]
    target = tmp_path / "cnn.llgraph.json"
    assert main(["import", str(source), "-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Conv +x2 +-> Conv2d", out) and "matches onnxruntime" in out
    assert target.exists() and (tmp_path / "cnn.weights.pt").exists()
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    assert main(["import", str(bad)]) == 2
    assert "bad.onnx" in capsys.readouterr().err


def test_export_of_an_imported_graph_uses_its_weights_without_training(exported_examples, tmp_path):
    from layerloom.export.jobs import ExportRequest, run_export

    _, source = exported_examples["regression_mlp"]
    graph_path, _ = import_onnx(source).save(tmp_path / "mlp.llgraph.json")
    request = ExportRequest(load_graph(graph_path), None, tmp_path, tmp_path / "out", "mlp")
    result = run_export(request)
    assert result.ok, result.describe()
    assert result.weights == "Imported weights from mlp.weights.pt"
    exported = tmp_path / "out" / "mlp.onnx"
    x = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    a = session_for(source).run(None, {session_for(source).get_inputs()[0].name: x})[0]
    b = session_for(exported).run(None, {session_for(exported).get_inputs()[0].name: x})[0]
    assert np.abs(a - b).max() < 1e-5


def test_cli_export_of_an_imported_graph_uses_its_weights(exported_examples, tmp_path, capsys):
    _, source = exported_examples["regression_mlp"]
    graph_path, _ = import_onnx(source).save(tmp_path / "mlp.llgraph.json")
    out_file = tmp_path / "again.onnx"
    assert main(["export", str(graph_path), "--onnx", str(out_file)]) == 0
    assert "(imported weights from mlp.weights.pt)" in capsys.readouterr().out
    x = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)
    a = session_for(source).run(None, {session_for(source).get_inputs()[0].name: x})[0]
    b = session_for(out_file).run(None, {session_for(out_file).get_inputs()[0].name: x})[0]
    assert np.abs(a - b).max() < 1e-5      # the imported weights, not a fresh initialisation


def test_the_docs_mapping_table_is_the_mapping():
    text = DOCS.read_text()
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|", text, flags=re.M)
    documented = {op for op, _ in rows}
    assert documented == set(MAPPED), (sorted(set(MAPPED) - documented), sorted(documented - set(MAPPED)))


# ---------------------------------------------------------------------------- recurrent layers
class _Recurrent(torch.nn.Module):
    def __init__(self, kind: str, sequence: bool):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(5, 7, batch_first=True)
        self.sequence = sequence
        self.fc = torch.nn.Linear(7, 3)

    def forward(self, x):
        out, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h
        return self.fc(out if self.sequence else h[-1])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_recurrent_layers_become_their_nodes_with_the_gates_reordered(kind, output, tmp_path):
    import warnings

    path = tmp_path / f"{kind}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Recurrent(kind, output == "sequence").eval(), (torch.randn(2, 6, 5),), str(path),
                          input_names=["x"], output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    result = import_onnx(path)
    assert sorted(n.type_id for n in result.graph) == sorted(["Input", kind, "Linear", "Output"])
    assert next(n for n in result.graph if n.type_id == kind).params["output"] == output
    check = compare_with_onnxruntime(result, path)
    assert check.ok and set(check.batches) == {1, 3}, check.describe()


def test_the_sequence_example_round_trips_through_the_dynamo_exporter(tmp_path):
    exportable = load_exportable(example_path("sequence_lstm"))
    path = export_onnx(exportable, tmp_path / "sequence.onnx", exporter="dynamo")
    result = import_onnx(path)
    assert sorted(n.type_id for n in result.graph) == ["Input", "LSTM", "Linear", "Output"]
    check = compare_with_onnxruntime(result, path)
    assert check.ok, check.describe()


def test_a_lookup_table_becomes_an_embedding(tmp_path):
    table = np.random.default_rng(3).standard_normal((20, 6)).astype(np.float32)
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5, 6])
    graph = helper.make_graph([helper.make_node("Gather", ["emb.weight", "ids"], ["y"], axis=0)], "g", [ids], [y],
                              [numpy_helper.from_array(table, "emb.weight")])
    path = tmp_path / "emb.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = import_onnx(path)
    assert [n.type_id for n in result.graph] == ["Input", "Embedding", "Output"]
    assert result.graph.node("emb").params["num_embeddings"] == 20
    assert compare_with_onnxruntime(result, path).ok
