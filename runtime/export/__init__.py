"""Exports that prove themselves: ONNX verified in onnxruntime, int8 quantization, standalone
PyTorch source and a ``torchrun`` training script.

    from layerloom.export import load_exportable, export_onnx, verify_onnx
    exportable = load_exportable("runs/digits-mlp-.../checkpoints/best.pt")
    export_onnx(exportable, "digits.onnx")
    print(verify_onnx("digits.onnx", exportable).describe())

May import: ``layerloom.training`` and every layer below it (checkpoints, the predictor, the data);
never ``layerloom.cli`` or Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerloom.core.lazy import lazy_exports
from layerloom.export.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE

# The exporters need PyTorch: each is imported on first use, so `layerloom-cli` can build its
# command-line parser (which shows the defaults) without torch.
_NEED_TORCH = {
    ".onnx_export": ("export_onnx", "export_and_verify", "onnx_bytes", "read_metadata"),
    ".source": ("Exportable", "ExportError", "app_predictor", "dataset_samples", "load_exportable"),
    ".verify": ("VerifyReport", "verify_onnx"),
}
__getattr__, __dir__ = lazy_exports(__name__, _NEED_TORCH)
if TYPE_CHECKING:  # pragma: no cover
    from layerloom.export.onnx_export import export_and_verify, export_onnx, onnx_bytes, read_metadata
    from layerloom.export.source import Exportable, ExportError, app_predictor, dataset_samples, load_exportable
    from layerloom.export.verify import VerifyReport, verify_onnx

__all__ = ["DEFAULT_OPSET", "export_onnx", "export_and_verify", "onnx_bytes", "read_metadata", "Exportable",
           "ExportError", "app_predictor", "dataset_samples", "load_exportable", "DEFAULT_TOLERANCE", "VerifyReport",
           "verify_onnx"]
