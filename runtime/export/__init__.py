"""Exports that prove themselves: ONNX verified in onnxruntime, int8 quantization, standalone
PyTorch source and a ``torchrun`` training script.

    from runtime.export import load_exportable, export_onnx, verify_onnx
    exportable = load_exportable("runs/digits-mlp-.../checkpoints/best.pt")
    export_onnx(exportable, "digits.onnx")
    print(verify_onnx("digits.onnx", exportable).describe())
"""

from __future__ import annotations

from .onnx_export import DEFAULT_OPSET, export_onnx, onnx_bytes, read_metadata
from .source import Exportable, ExportError, dataset_samples, load_exportable
from .verify import DEFAULT_TOLERANCE, VerifyReport, verify_onnx

__all__ = ["DEFAULT_OPSET", "export_onnx", "onnx_bytes", "read_metadata", "Exportable", "ExportError",
           "dataset_samples", "load_exportable", "DEFAULT_TOLERANCE", "VerifyReport", "verify_onnx"]
