"""Export defaults, apart from the exporters so that ``layerloom-cli`` can show them in its help
without importing PyTorch."""

from __future__ import annotations

DEFAULT_OPSET = 20
MIN_OPSET = 18  # the oldest opset torch's exporter writes
DEFAULT_TOLERANCE = 1e-4  # largest accepted |onnxruntime - PyTorch| difference
