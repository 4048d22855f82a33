"""Samples as pictures: an image-shaped array as a QImage, shown with square pixels (the dataset
preview, the evaluation's mistakes, Try it)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def image_array(x, shape: Sequence[int] | None = None) -> np.ndarray | None:
    """``x`` as an ``(H, W)`` or ``(H, W, 3)`` float array when it is an image (``[C, H, W]`` with 1 or 3
    channels, or ``[H, W]``; a flat sample is first reshaped to ``shape``); None otherwise."""
    x = np.asarray(x, dtype=np.float32)
    if shape is not None and x.size == math.prod(shape):
        x = x.reshape(tuple(shape))
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 2 and min(x.shape) >= 4:
        return x
    if x.ndim == 3 and x.shape[0] == 3 and min(x.shape[1:]) >= 4:
        return np.moveaxis(x, 0, -1)
    return None


def to_qimage(pixels: np.ndarray, value_range: tuple[float, float] | None = None) -> QImage:
    """An ``image_array`` result as a QImage: ``value_range`` (else the image's own min..max) maps to 0..255."""
    low, high = value_range if value_range is not None else (float(pixels.min()), float(pixels.max()))
    spread = high - low if high > low else 1.0
    data = np.ascontiguousarray(np.clip((pixels - low) / spread * 255.0 + 0.5, 0, 255).astype(np.uint8))
    height, width = data.shape[:2]
    if data.ndim == 2:
        image = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: ``data`` dies with this call


def crisp_pixmap(image: QImage, size: int) -> QPixmap:
    """``image`` scaled to fit ``size`` x ``size`` with nearest-neighbour sampling (every pixel a square)."""
    return QPixmap.fromImage(image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.FastTransformation))
