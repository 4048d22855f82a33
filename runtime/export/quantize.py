"""Int8 quantization of an exported ONNX model with onnxruntime's tools, and what it costs.

``dynamic`` stores weights as int8 and quantizes activations on the fly (good for Linear/LSTM
models); ``static`` also fixes the activations' int8 ranges from calibration samples of the dataset
(QDQ format; the better choice for convolutions). The report gives both file sizes and the
validation metric before and after, measured in onnxruntime on the same samples.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerloom.core.atomic import atomic_write
from layerloom.export.source import Exportable, ExportError, validation_samples
from layerloom.export.verify import session_for

MODES = ("dynamic", "static")
CALIBRATION_SAMPLES = 256
EVALUATION_SAMPLES = 2000


@dataclass
class QuantizeReport:
    path: str
    mode: str
    bytes_before: int
    bytes_after: int
    metric: str = ""            # "accuracy" or "mae"
    before: float | None = None
    after: float | None = None
    samples: int = 0
    note: str = ""

    def describe(self) -> str:
        ratio = self.bytes_after / max(self.bytes_before, 1)
        text = (f"{self.path}: int8 ({self.mode}): {self.bytes_before / 1024:,.1f} KiB -> "
                f"{self.bytes_after / 1024:,.1f} KiB ({ratio:.0%})")
        if self.before is not None:
            change = self.after - self.before
            text += (f"; validation {self.metric} {self.before:.4f} -> {self.after:.4f} ({change:+.4f}) "
                     f"on {self.samples:,} samples")
        if self.note:
            text += f"\n  note: {self.note}"
        return text


@dataclass
class ValidationSet:
    x: np.ndarray               # shaped like the Input: preprocessed, or raw for a file that scales itself
    y: np.ndarray
    task: str                   # "classification" or "regression"


def validation_set(exportable: Exportable, base_dir=None, limit: int = EVALUATION_SAMPLES,
                   raw: bool = False) -> tuple[ValidationSet | None, str]:
    """The graph's dataset's validation split, preprocessed as in training (``raw``: as the dataset
    gives it, for a file that applies the scaling itself): ``(set, note)``."""
    x, y, task, note = validation_samples(exportable, limit, base_dir)
    if x is None:
        return None, note
    note = "" if exportable.trained else "untrained weights: accuracy is that of a random network"
    return ValidationSet(x if raw else exportable.preprocess(x), y, task), note


def quantize_onnx(source: str | os.PathLike, target: str | os.PathLike, mode: str = "dynamic",
                  calibration: np.ndarray | None = None, input_name: str | None = None) -> Path:
    """Write an int8 copy of ``source``. ``static`` needs ``calibration`` inputs (preprocessed)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise ExportError(f"unknown quantization {mode!r}: use dynamic or static")
    if mode == "static" and (calibration is None or not len(calibration)):
        raise ExportError("static quantization needs calibration samples from the dataset; use dynamic")
    target = Path(target)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        prepared = Path(tmp) / "prepared.onnx"
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
        except Exception:  # noqa: BLE001 - pre-processing only helps; quantize the original instead
            prepared = Path(source)
        output = Path(tmp) / "quantized.onnx"
        try:
            if mode == "dynamic":
                quantize_dynamic(str(prepared), str(output), weight_type=QuantType.QInt8)
            else:
                batches = [calibration[i:i + 32] for i in range(0, min(len(calibration), CALIBRATION_SAMPLES), 32)]

                class Reader(CalibrationDataReader):
                    def __init__(self):
                        self.items = iter({input_name: b} for b in batches)

                    def get_next(self):
                        return next(self.items, None)

                quantize_static(str(prepared), str(output), Reader(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"{source}: int8 quantization ({mode}) failed: {type(exc).__name__}: {exc}") from None
        _copy_metadata(Path(source), output, mode)
        try:
            atomic_write(target, output.read_bytes())
        except OSError as exc:
            raise ExportError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


def quantize_and_report(exportable: Exportable, onnx_path: str | os.PathLike, target: str | os.PathLike,
                        mode: str = "dynamic", base_dir=None) -> QuantizeReport:
    """Quantize an exported file and measure the validation metric before and after in onnxruntime,
    feeding the samples as the file takes them (raw, or scaled: its ``layerloom.input_expects``)."""
    data, note = validation_set(exportable, base_dir, raw=_takes_raw(onnx_path))
    input_name = exportable.compiled.input_names[0]
    if mode == "static" and data is None:
        raise ExportError(f"static quantization needs calibration samples: {note}")
    quantize_onnx(onnx_path, target, mode, data.x if data is not None else None, input_name)
    report = QuantizeReport(str(target), mode, Path(onnx_path).stat().st_size, Path(target).stat().st_size,
                            note=note)
    if data is not None and len(exportable.compiled.outputs) == 1:
        report.metric = "accuracy" if data.task == "classification" else "mae"
        report.before = _score(onnx_path, input_name, data)
        report.after = _score(target, input_name, data)
        report.samples = len(data.x)
    return report


def _takes_raw(path) -> bool:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return any(p.key == "layerloom.input_expects" and json.loads(p.value) == "raw" for p in proto.metadata_props)


def _score(path, input_name: str, data: ValidationSet) -> float:
    session = session_for(path)
    outputs = np.concatenate([session.run(None, {input_name: data.x[i:i + 256]})[0]
                              for i in range(0, len(data.x), 256)])
    if data.task == "classification":
        predicted = (outputs.reshape(len(outputs), -1)[:, 0] > 0) if outputs.ndim == 1 or outputs.shape[1] == 1 \
            else outputs.argmax(1)
        return float((predicted == data.y.reshape(-1)).mean())
    return float(np.abs(outputs.reshape(len(outputs), -1) - data.y.reshape(len(data.y), -1)).mean())


def _copy_metadata(source: Path, target: Path, mode: str) -> None:
    import onnx

    original = onnx.load(str(source), load_external_data=False)
    model = onnx.load(str(target), load_external_data=False)
    present = {p.key for p in model.metadata_props}
    for prop in original.metadata_props:
        if prop.key not in present:
            model.metadata_props.add(key=prop.key, value=prop.value)
    model.metadata_props.add(key="layerloom.quantization", value=json.dumps(mode))
    onnx.save(model, str(target))
