"""Int8 quantization: a smaller file that still passes the checker, keeps LayerLoom's metadata, and
reports the validation accuracy before and after (measured, not assumed)."""

from __future__ import annotations

import onnx
import pytest

from layerloom import load_graph
from layerloom.cli.main import main
from layerloom.export import ExportError, export_onnx, load_exportable, read_metadata
from layerloom.export.quantize import quantize_and_report, quantize_onnx, validation_set
from layerloom.files.resources import example_path
from layerloom.training import TrainingConfig, TrainingSession


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """The digits CNN trained for 3 epochs, exported to ONNX."""
    folder = tmp_path_factory.mktemp("cnn")
    graph = load_graph(example_path("digits_cnn"))
    result = TrainingSession(graph, TrainingConfig.from_graph(graph).replace(epochs=3), run_root=folder).run()
    exportable = load_exportable(result.run_dir)
    return exportable, export_onnx(exportable, folder / "cnn.onnx"), folder


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantized_models_are_smaller_valid_and_nearly_as_accurate(trained_cnn, mode):
    exportable, path, folder = trained_cnn
    target = folder / f"cnn.{mode}.onnx"
    report = quantize_and_report(exportable, path, target, mode)
    onnx.checker.check_model(str(target), full_check=True)
    assert report.bytes_after < 0.6 * report.bytes_before
    assert report.metric == "accuracy" and report.samples == 360
    assert report.before > 0.5  # a trained network: the comparison means something
    assert abs(report.after - report.before) < 0.05
    meta = read_metadata(target)
    assert meta["classes"] == [str(d) for d in range(10)] and meta["quantization"] == mode
    assert f"int8 ({mode})" in report.describe() and "validation accuracy" in report.describe()


def test_the_validation_set_is_preprocessed_like_training(trained_cnn):
    exportable, _, _ = trained_cnn
    data, note = validation_set(exportable)
    assert note == "" and data.task == "classification"
    assert data.x.shape == (360, 1, 8, 8) and 0.0 <= data.x.min() and data.x.max() <= 1.0  # digits / 16


def test_static_quantization_without_samples_is_refused(tmp_path):
    exportable = load_exportable(example_path("digits_mlp"))
    path = export_onnx(exportable, tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="static quantization needs calibration samples"):
        quantize_onnx(path, tmp_path / "q.onnx", "static", None, "image")
    with pytest.raises(ExportError, match="unknown quantization 'int4'"):
        quantize_onnx(path, tmp_path / "q.onnx", "int4")


def test_the_cli_quantizes_next_to_the_onnx_file(tmp_path, capsys):
    out = tmp_path / "reg.onnx"
    assert main(["export", str(example_path("regression_mlp")), "--onnx", str(out), "--quantize", "dynamic"]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "reg.int8.onnx").exists()
    assert "reg.int8.onnx: int8 (dynamic):" in printed and "validation mae" in printed


def test_the_cli_needs_an_onnx_file_to_quantize(capsys):
    assert main(["export", str(example_path("regression_mlp")), "--quantize", "dynamic"]) == 1
    assert "--quantize needs --onnx" in capsys.readouterr().err
