"""Decoding image files, and ``LazyImages``: an image set too big for memory, decoded on indexing."""

from __future__ import annotations

import math
import struct
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from layerloom.data.base import DatasetError
from layerloom.data.guard import check_size, open_regular
from layerloom.data.transforms import apply_scaling

GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
# what Pillow raises for a damaged or hostile file (its plugins do not all wrap their parsing errors)
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, struct.error, ZeroDivisionError)


def image_module():
    """PIL's ``Image`` module (imported on first use: loading a CSV needs no Pillow)."""
    from PIL import Image

    return Image


@contextmanager
def open_image(path: str):
    """The Pillow image of the file ``path`` (a regular file), its header read, its pixels not yet.

    Errors inside the ``with`` block, decoding included, become a ``DatasetError`` naming the file.
    """
    Image = image_module()
    with open_regular(path) as file:
        try:
            with Image.open(file) as image:
                yield image
        except DatasetError:
            raise
        except Image.DecompressionBombError as exc:
            raise DatasetError(f"refused as a possible decompression bomb: {exc} Pillow decodes no image this "
                               "large; a damaged file, or a picture far bigger than any training sample (shrink "
                               "it)", path) from None
        except IMAGE_ERRORS as exc:
            raise DatasetError(f"cannot read this image: {exc}", path) from None


def decode_image(path: str, channels: int, size: tuple[int, int] | None, resize: bool) -> np.ndarray:
    """One image file as float32 ``(channels, H, W)`` with raw 0..255 values.

    ``size`` is ``(H, W)``: with ``resize`` the image is resized to it (bilinear), otherwise it must
    already have that size. The size the file declares is checked against the data limit first.
    """
    Image = image_module()
    with open_image(path) as image:
        width, height = image.size
        # the decoded pixels (up to 4 bytes each), the converted image and its float32 copy
        check_size(width * height * (4 + 5 * channels), f"the image declares {width:,}x{height:,} pixels", path)
        image = image.convert("L" if channels == 1 else "RGB")
        if size is not None and image.size != (size[1], size[0]):
            if not resize:
                raise DatasetError(f"is {image.size[1]}x{image.size[0]} (HxW) but the first image is "
                                   f"{size[0]}x{size[1]}; set image_size to resize all images", path)
            image = image.resize((size[1], size[0]), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def decode_images(files, channels: int, size: tuple[int, int], resize: bool, out: np.ndarray | None = None):
    """Decode ``files`` into ``out`` (or a new float32 array ``(len(files), channels, H, W)``)."""
    if out is None:
        out = np.empty((len(files), channels) + tuple(size), dtype=np.float32)
    for i, path in enumerate(files):
        out[i] = decode_image(path, channels, size, resize)
    return out


@dataclass(frozen=True, eq=False)
class LazyImages:
    """Images kept as a file list and decoded when indexed, like a float32 array ``(n, C, H, W)``.

    Indexing with an int array returns a numpy float32 array of those samples, with the recorded
    scaling and reshape applied in order. Immutable: ``subset``, ``with_scaling`` and ``reshaped``
    return new objects, so threads may index one concurrently.
    """

    files: tuple[str, ...]
    channels: int
    size: tuple[int, int]
    resize: bool = False
    steps: tuple = ()  # ("scale", dict) / ("reshape", shape), applied in order after decoding
    feature_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.feature_shape is None:
            object.__setattr__(self, "feature_shape", (self.channels,) + tuple(self.size))

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files),) + self.feature_shape

    @property
    def dtype(self):
        return np.dtype(np.float32)

    @property
    def nbytes(self) -> int:
        return 4 * math.prod(self.shape)

    def __len__(self) -> int:
        return len(self.files)

    def _indices(self, index) -> np.ndarray:
        return np.arange(len(self.files))[index]

    def __getitem__(self, index) -> np.ndarray:
        indices = self._indices(index)
        single = indices.ndim == 0
        indices = np.atleast_1d(indices)
        x = decode_images([self.files[i] for i in indices], self.channels, self.size, self.resize)
        for kind, arg in self.steps:
            if kind == "scale":
                x = apply_scaling(x, arg)
            else:
                x = x.reshape((len(x),) + arg)
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x[0] if single else x

    def __array__(self, dtype=None, copy=None):
        x = self[np.arange(len(self))]
        return x if dtype is None else x.astype(dtype)

    def subset(self, indices) -> LazyImages:
        """The images at ``indices``, still lazy."""
        return replace(self, files=tuple(self.files[i] for i in self._indices(indices).reshape(-1)))

    def with_scaling(self, scaling: dict) -> LazyImages:
        """The same images with ``scaling`` (a dict from ``scale``) applied when they are read."""
        return replace(self, steps=self.steps + (("scale", dict(scaling)),))

    def reshaped(self, shape: tuple[int, ...]) -> LazyImages:
        """The same images, each reshaped (C order) to ``shape`` when read."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != math.prod(self.feature_shape):
            raise DatasetError(f"cannot reshape images {list(self.feature_shape)} to {list(shape)}")
        return replace(self, steps=self.steps + (("reshape", shape),), feature_shape=shape)
