"""ONNX export: every node type of the catalog exports and verifies in onnxruntime; the examples,
trained for an epoch, export with their metadata; failures name the node or the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_catalog_shapes import CASES

from layerloom import Graph, compile_graph, load_graph
from layerloom.data import apply_scaling
from layerloom.cli.main import main
from layerloom.export import (DEFAULT_TOLERANCE, ExportError, dataset_samples, export_onnx, load_exportable,
                            read_metadata, verify_onnx)
from layerloom.export.source import Exportable
from layerloom.files.resources import example_path, example_paths
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE, default_catalog

CATALOG = default_catalog()


def _first_case_per_type():
    """One case per node type, whose inputs an Input node can produce (at least one feature dim)."""
    seen, cases = set(), []
    for case in CASES:
        if case.type_id in seen or CATALOG[case.type_id].role == LOSS_ROLE:
            continue
        if any(spec.rank < 2 for spec in case.inputs):
            continue
        seen.add(case.type_id)
        cases.append(case)
    return cases


def single_node_graph(case) -> Graph:
    """Inputs shaped like the case's -> the node -> an Output."""
    graph = Graph(name=f"one {case.type_id}")
    node = graph.add_node(case.type_id, "node", case.params, node_id="node")
    ports = graph.input_ports("node")
    for k, (port, spec) in enumerate(zip(ports, case.inputs)):
        source = graph.add_node("Input", f"x{k}", {"shape": list(spec.features), "dtype": spec.dtype}, node_id=f"x{k}")
        graph.connect(source.id, "out", node.id, port.name)
    out = graph.add_node("Output", "y", node_id="y")
    graph.connect(node.id, graph.output_ports("node")[0].name, out.id, "in")
    return graph


def test_every_exportable_node_type_has_a_case():
    covered = {c.type_id for c in _first_case_per_type()}
    exportable = {s.type_id for s in CATALOG if s.role not in (LOSS_ROLE, INPUT, OUTPUT, TARGET_ROLE)}
    assert exportable <= covered, sorted(exportable - covered)


@pytest.mark.slow
@pytest.mark.parametrize("case", _first_case_per_type(), ids=lambda c: c.id)
def test_each_node_type_exports_and_verifies(case, tmp_path):
    graph = single_node_graph(case)
    exportable = Exportable(graph, compile_graph(graph, seed=0))
    exportable.model.eval()
    path = export_onnx(exportable, tmp_path / "node.onnx")
    report = verify_onnx(path, exportable, repeats=2)
    assert report.ok, report.describe()
    assert [what for what, _ in report.checks] == ["random inputs, batch 1", "random inputs, batch 8"]
    assert set(report.latency_ms) == {1, 8}


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in example_paths() if not p.name.startswith("mnist_")],
                         ids=lambda p: p.name.split(".")[0])   # the MNIST examples would download MNIST
def test_examples_trained_one_epoch_export_with_their_metadata(path, tmp_path):
    """Differential, for every example: raw dataset samples through the ONNX file give the app's own
    predictions (``Predictor``, as Try it makes them); the scaled-input file, fed the samples scaled
    as the metadata says (today's recipe), gives them too."""
    import onnxruntime as ort

    from layerloom.training.inference import Predictor
    from layerloom.training import TrainingConfig, TrainingSession

    graph = load_graph(path)
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=1), run_root=tmp_path).run()
    checkpoint = f"{result.run_dir}/checkpoints/last.pt"
    exportable = load_exportable(checkpoint)
    assert exportable.trained and exportable.run["epoch"] == 1
    predictor = Predictor.from_checkpoint(checkpoint)
    raw = predictor.validation_samples(32).x
    expected = predictor.outputs(raw)
    samples, note = dataset_samples(exportable)
    assert samples is not None, note
    for raw_inputs in (True, False):
        out = export_onnx(exportable, tmp_path / f"model-{raw_inputs}.onnx", raw_inputs=raw_inputs)
        report = verify_onnx(out, exportable, samples, predictor=predictor)
        assert report.ok, report.describe()
        assert [w for w, _ in report.checks][-4:] == [
            "dataset samples, batch 1", "dataset samples, batch 8",
            "the app's predictor on raw samples, batch 1", "the app's predictor on raw samples, batch 8"]
        meta = read_metadata(out)
        assert meta["graph"]["name"] == graph.name and meta["run"]["epoch"] == 1
        assert meta["preprocessing"] == exportable.scaling
        assert meta["preprocessing"]["mode"] in ("minmax", "standardize")
        assert meta["input_expects"] == ("raw" if raw_inputs else "scaled")
        assert meta["exporter"] in ("torchscript", "dynamo")
        if graph.name.startswith("Digits") or "digits" in path.name:
            assert meta["classes"] == [str(d) for d in range(10)]
        assert meta["inputs"][0]["name"] == exportable.compiled.input_names[0]
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        x = raw.reshape((len(raw),) + tuple(exportable.compiled.inputs[0].spec.features))
        fed = x if raw_inputs else apply_scaling(x, meta["preprocessing"])
        got = session.run(None, {exportable.compiled.input_names[0]: fed})[predictor.output_index]
        assert np.abs(got.reshape(len(raw), -1) - expected).max() < 1e-5, raw_inputs


def test_the_onnx_file_has_named_inputs_and_outputs_and_a_dynamic_batch(tmp_path):
    import onnx

    exportable = load_exportable(example_path("digits_cnn"))
    path = export_onnx(exportable, tmp_path / "cnn.onnx")
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # symbolic, not a fixed size
    assert proto.producer_name == "LayerLoom" and not list(tmp_path.glob("*.data"))  # one self-contained file


def test_verification_fails_when_onnxruntime_disagrees(tmp_path):
    """A model changed after export no longer matches its file: the report says FAILED with numbers."""
    exportable = load_exportable(example_path("digits_mlp"))
    path = export_onnx(exportable, tmp_path / "mlp.onnx")
    with torch.no_grad():
        exportable.compiled.model.fc3.bias += 0.01
    report = verify_onnx(path, exportable)
    assert not report.ok and report.max_abs_diff == pytest.approx(0.01, rel=1e-3)
    assert "FAILED" in report.describe() and "more than the tolerance 1e-04" in report.problem


def test_a_corrupt_file_fails_verification_with_the_checkers_reason(tmp_path):
    exportable = load_exportable(example_path("digits_mlp"))
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not onnx at all")
    report = verify_onnx(path, exportable)
    assert not report.ok and report.problem.startswith("onnx.checker")


def test_a_node_that_cannot_be_exported_is_named(tmp_path, monkeypatch):
    """Export each layer alone to find the culprit: the message names the node and the reason."""
    exportable = load_exportable(example_path("digits_cnn"))

    class Unexportable(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # control flow on tensor values: torch.export cannot capture it
                return x * 2
            return x

    exportable.compiled.model.conv2 = Unexportable()
    with pytest.raises(ExportError, match=r'^Conv2d "conv2" cannot be exported to ONNX \(opset 20\): '):
        export_onnx(exportable, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_an_unsupported_opset_is_refused_with_the_range():
    with pytest.raises(ExportError, match="opset 12 is not supported: choose one from 18 to 23"):
        export_onnx(load_exportable(example_path("digits_mlp")), "/nonexistent/x.onnx", opset=12)


def test_the_cli_exports_verifies_and_reports(tmp_path, capsys):
    code = main(["export", str(example_path("regression_mlp")), "--onnx", str(tmp_path / "r.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'exporting "Regression MLP" (untrained weights)' in out
    assert "r.onnx: verified: max |onnxruntime - PyTorch| =" in out and "dataset samples, batch 8" in out
    assert (tmp_path / "r.onnx").exists()


def test_the_cli_exits_1_when_verification_fails(tmp_path, capsys):
    code = main(["export", str(example_path("digits_mlp")), "--onnx", str(tmp_path / "m.onnx"),
                 "--tolerance", "-1"])
    out, err = capsys.readouterr()
    assert code == 1 and "FAILED" in out


def test_the_cli_names_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.llgraph.json"
    bad.write_text("{")
    assert main(["export", str(bad), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "bad.llgraph.json" in capsys.readouterr().err


def test_exported_classes_and_preprocessing_reproduce_a_prediction(tmp_path):
    """The default file takes raw digits (0..16) and names the class the trained model names; with
    ``raw_inputs=False`` what the metadata says is enough: scale with the recorded preprocessing,
    run onnxruntime, the same answer."""
    import onnxruntime as ort

    from layerloom.data import load_dataset
    from layerloom.training import TrainingConfig, TrainingSession

    graph = load_graph(example_path("digits_mlp"))
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=3), run_root=tmp_path).run()
    exportable = load_exportable(result.run_dir)
    raw = load_dataset({"name": "digits"}).x_val[:16].reshape(16, 64)
    with torch.no_grad():
        expected = exportable.model(torch.from_numpy(exportable.preprocess(raw))).argmax(1).tolist()
    for raw_inputs in (True, False):
        path = export_onnx(exportable, tmp_path / f"digits-{raw_inputs}.onnx", raw_inputs=raw_inputs)
        meta = read_metadata(path)
        x = raw if raw_inputs else apply_scaling(raw, meta["preprocessing"])
        scores = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
        assert [meta["classes"][k] for k in scores.argmax(1)] == [str(k) for k in expected], raw_inputs
        assert json.loads(json.dumps(meta["run"]))["epoch"] == 3
        assert np.isfinite(scores).all()


def test_the_cli_puts_a_checkpoints_weights_into_a_graph_file(tmp_path, capsys):
    from layerloom.training import TrainingConfig, TrainingSession

    graph = load_graph(example_path("regression_mlp"))
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=1), run_root=tmp_path).run()
    code = main(["export", str(example_path("regression_mlp")), "--checkpoint", result.run_dir,
                 "--onnx", str(tmp_path / "r.onnx")])
    out = capsys.readouterr().out
    assert code == 0 and f"(trained weights from {result.run_dir})" in out
    assert read_metadata(tmp_path / "r.onnx")["run"]["epoch"] == 1
