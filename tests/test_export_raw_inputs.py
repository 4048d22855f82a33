"""ONNX files that ship: raw samples in, the app's predictions out, whatever the scaling record holds;
the fast exporter only where its file passes the same verification, the dynamo one otherwise; a failed
export never leaves a half-written file."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from layerloom import load_graph
from layerloom.model.blocks import group_nodes
from layerloom.cli.main import main
from layerloom.export import (ExportError, app_predictor, dataset_samples, export_and_verify, export_onnx,
                            load_exportable, read_metadata)
from layerloom.export import onnx_export
from layerloom.export.jobs import ExportRequest, leftovers, run_export
from layerloom.export.source import Exportable
from layerloom.files.resources import example_path, example_paths

pytestmark = pytest.mark.slow


def _with_scaling(name: str, mode: str):
    graph = load_graph(example_path(name))
    graph.training["dataset"]["scaling"] = mode
    return graph


def _onnx_outputs(path, exportable, x: np.ndarray, index: int) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {exportable.compiled.input_names[0]: x.astype(np.float32)})[index]
    return out.reshape(len(x), -1)


@pytest.mark.parametrize("name, mode, expected", [
    ("digits_cnn", "standardize", {"mode": "standardize", "axis": "channel"}),
    ("digits_mlp", "standardize", {"mode": "standardize", "axis": "feature"}),
    ("regression_mlp", "minmax", {"mode": "minmax", "axis": "feature"}),
    ("digits_mlp", "auto", {"mode": "minmax"}),
    ("digits_mlp", "none", {"mode": "none"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_raw_samples_give_the_apps_predictions_for_every_kind_of_scaling(name, mode, expected, tmp_path):
    """An untrained graph too: the scaling a run would fit goes into the file (and its metadata)."""
    exportable = load_exportable(_with_scaling(name, mode))
    predictor, note = app_predictor(exportable)
    assert predictor is not None, note
    assert {k: exportable.scaling.get(k) for k in expected} == expected
    samples, _ = dataset_samples(exportable, 64)
    shipped = export_and_verify(exportable, tmp_path / "m.onnx", samples=samples, predictor=predictor)
    assert shipped.ok and shipped.input_expects == "raw", shipped.report.describe()
    meta = read_metadata(shipped.path)
    assert meta["input_expects"] == "raw" and meta["preprocessing"] == exportable.scaling
    got = _onnx_outputs(shipped.path, exportable, samples, predictor.output_index)
    assert np.abs(got - predictor.outputs(samples)).max() < 1e-5
    ops = [n.op_type for n in onnx.load(str(shipped.path)).graph.node]
    assert (ops[:2] == ["Sub", "Div"]) == (mode != "none")   # the scaling, as operators, before the network


def test_the_scaled_option_is_todays_file(tmp_path):
    """``raw_inputs=False``: the network alone, the same operators as the bare module's export."""
    exportable = load_exportable(example_path("digits_cnn"))
    app_predictor(exportable)
    path = export_onnx(exportable, tmp_path / "scaled.onnx", raw_inputs=False, exporter="dynamo")
    bare = torch.onnx.export(exportable.model.eval(), exportable.example_inputs(2), dynamo=True, verbose=False,
                             input_names=exportable.compiled.input_names, output_names=exportable.compiled.output_names)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops == [n.op_type for n in bare.model_proto.graph.node] and "Sub" not in ops[:1]
    assert read_metadata(path)["input_expects"] == "scaled"


def formula_and_block_graph():
    """digits_mlp with its first ReLU a Formula with per-feature parameters and fc2 -> relu2 a block."""
    graph = load_graph(example_path("digits_mlp"))
    graph.remove_node("relu1")
    graph.add_node("Formula", "act", {"inputs": 1, "expression": "a*relu(x) + b", "parameters": "a, b",
                                      "parameter_shape": "per_feature"}, node_id="act")
    graph.connect("fc1", "out", "act", graph.input_ports("act")[0].name)
    graph.connect("act", graph.output_ports("act")[0].name, "fc2", "in")
    group_nodes(graph, ["fc2", "relu2"], "Hidden")
    return graph


@pytest.mark.parametrize("source", [*example_paths(), "formula+block"],
                         ids=lambda p: p if isinstance(p, str) else p.name.split(".")[0])
def test_the_fast_exporter_is_used_where_its_file_verifies_at_every_opset(source, tmp_path):
    graph = formula_and_block_graph() if source == "formula+block" else load_graph(source)
    exportable = load_exportable(graph)
    predictor, _ = app_predictor(exportable)
    samples, _ = dataset_samples(exportable)
    lstm = any(graph.node(n).type_id == "LSTM" for n in graph.nodes)
    for opset in (18, 23) if lstm else range(18, 24):
        shipped = export_and_verify(exportable, tmp_path / f"{opset}.onnx", opset, samples=samples,
                                    predictor=predictor, repeats=1)
        assert shipped.ok, (opset, shipped.report.describe())
        assert read_metadata(shipped.path)["exporter"] == shipped.exporter
        assert onnx.load(str(shipped.path)).opset_import[0].version == opset
        if lstm:   # the tracer warns about branches on tensor values inside nn.LSTM: not trusted
            assert shipped.exporter == "dynamo" and "trace may not fit other inputs" in shipped.notes[0]
        else:
            assert shipped.exporter == "torchscript" and not shipped.notes


def test_the_dynamo_exporter_takes_over_when_the_fast_one_fails_or_does_not_verify(tmp_path, monkeypatch):
    exportable = load_exportable(example_path("digits_mlp"))
    samples, _ = dataset_samples(exportable)

    def refuses(*args):
        raise ExportError("forced failure")

    monkeypatch.setattr(onnx_export, "_torchscript_export", refuses)
    shipped = export_and_verify(exportable, tmp_path / "a.onnx", samples=samples)
    assert shipped.ok and shipped.exporter == "dynamo" and "forced failure" in shipped.notes[0]
    assert read_metadata(shipped.path)["exporter"] == "dynamo"

    real = onnx_export._dynamo_export

    def wrong(exportable, module, opset):   # a file of another network: it must not pass verification
        other = load_exportable(example_path("digits_mlp"))
        torch.nn.init.normal_(other.model.fc3.bias)
        return real(other, onnx_export.exported_module(other), opset)

    monkeypatch.setattr(onnx_export, "_torchscript_export", wrong)
    shipped = export_and_verify(exportable, tmp_path / "b.onnx", samples=samples)
    assert shipped.ok and shipped.exporter == "dynamo" and "did not verify" in shipped.notes[0]
    assert not leftovers(ExportRequest(exportable.graph, None, None, tmp_path, "b"))


def test_an_export_that_fails_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous export")

    def refuses(*args):
        raise ExportError("no exporter today")

    monkeypatch.setattr(onnx_export, "_torchscript_export", refuses)
    monkeypatch.setattr(onnx_export, "_dynamo_export", refuses)
    with pytest.raises(ExportError, match="no exporter today"):
        export_onnx(load_exportable(example_path("digits_mlp")), target)
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]        # no temporary file left


def test_the_export_job_and_the_cli_say_what_the_file_takes(tmp_path, capsys):
    graph = load_graph(example_path("regression_mlp"))
    result = run_export(ExportRequest(graph, None, None, tmp_path, "r"))
    outcome = result.outcome("onnx")
    assert result.ok and outcome.input_expects == "raw" and outcome.exporter == "torchscript"
    text = "\n".join(outcome.lines)
    assert "Takes raw samples: the file applies the training's standardisation per feature" in text
    assert "Raw dataset samples give the app's predictions" in text and "Made by the TorchScript-based" in text
    result = run_export(ExportRequest(graph, None, None, tmp_path, "s", raw_inputs=False, exporter="dynamo"))
    onnx_outcome = result.outcome("onnx")
    assert result.ok and onnx_outcome.input_expects == "scaled" and onnx_outcome.exporter == "dynamo"
    assert main(["export", str(example_path("regression_mlp")), "--onnx", str(tmp_path / "c.onnx"),
                 "--scaled-inputs"]) == 0
    out = capsys.readouterr().out
    assert "inputs: already scaled" in out and "the app's predictor on raw samples, batch 8" in out
    assert read_metadata(tmp_path / "c.onnx")["input_expects"] == "scaled"


def test_int8_of_a_raw_input_file_is_measured_on_raw_samples(tmp_path):
    from layerloom.export.quantize import quantize_and_report

    exportable = load_exportable(example_path("digits_cnn"))
    app_predictor(exportable)
    raw_file = export_onnx(exportable, tmp_path / "raw.onnx")
    scaled_file = export_onnx(exportable, tmp_path / "scaled.onnx", raw_inputs=False)
    raw = quantize_and_report(exportable, raw_file, tmp_path / "raw.int8.onnx", "static")
    scaled = quantize_and_report(exportable, scaled_file, tmp_path / "scaled.int8.onnx", "static")
    assert raw.before == pytest.approx(scaled.before) and abs(raw.after - scaled.after) < 0.05


def test_a_model_with_two_inputs_is_refused_preprocessing_with_the_reason(tmp_path):
    from test_export_onnx import single_node_graph
    from test_catalog_shapes import CASES

    case = next(c for c in CASES if c.type_id == "Add" and len(c.inputs) == 2)
    graph = single_node_graph(case)
    from layerloom import compile_graph

    exportable = Exportable(graph, compile_graph(graph, seed=0))
    exportable.scaling = {"mode": "minmax", "min": 0.0, "max": 16.0}
    with pytest.raises(ExportError, match="one float Input"):
        export_onnx(exportable, tmp_path / "two.onnx")
    assert export_onnx(exportable, tmp_path / "two.onnx", raw_inputs=False).exists()


def test_the_temporary_files_a_killed_export_leaves_are_found_and_only_they(tmp_path):
    from layerloom.export.jobs import remove_leftovers

    request = ExportRequest(load_graph(example_path("digits_mlp")), None, None, tmp_path, "m", python=True, ddp=True)
    (tmp_path / "torchrun").mkdir()
    keep = [tmp_path / "m.onnx", tmp_path / "m.py", tmp_path / "torchrun" / "model.py", tmp_path / ".other.tmp"]
    stray = [tmp_path / ".m.onnx.abc123.verify.tmp", tmp_path / ".m.pt.x9.tmp",
             tmp_path / "torchrun" / ".data.npz.k.tmp"]
    for path in keep + stray:
        path.write_bytes(b"x")
    assert sorted(leftovers(request)) == sorted(stray)
    assert remove_leftovers(request) == 3 and all(p.exists() for p in keep) and not any(p.exists() for p in stray)
