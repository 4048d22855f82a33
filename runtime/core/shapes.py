"""Tensor types that flow along edges during shape inference.

A shape is a tuple whose first entry is the symbolic batch dimension ``"N"`` and whose other
entries are positive ints: ``("N", 32, 4, 4)``. A loss value is a scalar: ``()``. ``checked_spec``
holds a spec from outside (a plugin's ``infer()``) to that.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

BATCH = "N"
MAX_RANK = 16
MAX_VALUES = 2**31  # per sample: more is always a wrong size (8 GB of float32 for one sample)

FLOAT = "float32"
INT = "int64"
DTYPES = (FLOAT, INT)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    shape: tuple
    dtype: str = FLOAT

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> tuple[int, ...]:
        """The shape without the batch dimension."""
        return tuple(self.shape[1:])

    @property
    def is_float(self) -> bool:
        return self.dtype == FLOAT

    def numel_per_sample(self) -> int:
        total = 1
        for dim in self.features:
            total *= dim
        return total

    def with_shape(self, shape: tuple) -> "TensorSpec":
        return TensorSpec(tuple(shape), self.dtype)

    def concrete(self, batch: int) -> tuple[int, ...]:
        """The shape with the batch dimension replaced by ``batch``."""
        return tuple(batch if d == BATCH else d for d in self.shape)

    def __str__(self) -> str:
        return format_shape(self.shape)


def batched(features, dtype: str = FLOAT) -> TensorSpec:
    return TensorSpec((BATCH, *features), dtype)


def format_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def broadcast(shapes: list[tuple]) -> tuple | None:
    """NumPy/PyTorch broadcasting of several shapes; None when they are incompatible.

    Also None when the batch dimension would land anywhere but first (``[N, 1, 4]`` with ``[N, 4]``
    gives ``[N, N, 4]`` in PyTorch: a shape that depends on the batch size, always a wiring mistake).
    """
    rank = max(len(s) for s in shapes)
    result = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            return None
        result.append(dims.pop() if dims else 1)
    if BATCH in result[1:]:
        return None
    return tuple(result)


def checked_spec(value, scalar: bool = False) -> TensorSpec:
    """``value`` as a well-formed ``TensorSpec`` (sizes as plain ints), or ``ValueError`` saying what
    no tensor can have: not a TensorSpec, a shape that is not a tuple, no batch dimension first, a
    size that is not a whole number of at least 1, far too many values, an unknown dtype. ``scalar``:
    a loss value, whose shape is ``()``."""
    if not isinstance(value, TensorSpec):
        raise ValueError(f"a {type(value).__name__}, not a TensorSpec")
    shape, dtype = value.shape, value.dtype
    if not isinstance(shape, tuple):
        raise ValueError(f"a shape must be a tuple such as ('N', 4), not a {type(shape).__name__} ({shape!r})")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if scalar:
        if shape:
            raise ValueError(f"a loss is a scalar, shape (), not {format_shape(shape)}")
        return value
    if not shape or shape[0] != BATCH:
        raise ValueError(f"{format_shape(shape)} does not start with the batch dimension {BATCH!r}")
    if len(shape) > MAX_RANK:
        raise ValueError(f"{format_shape(shape)} has {len(shape)} dimensions; at most {MAX_RANK}")
    sizes, total = [], 1
    for size in shape[1:]:
        whole = whole_number(size)
        if whole is None:
            hint = f" (the batch {BATCH!r} comes first, once)" if isinstance(size, str) and size == BATCH else ""
            raise ValueError(f"in {format_shape(shape)}: sizes must be whole numbers, got {size!r}{hint}")
        if whole < 1:
            raise ValueError(f"in {format_shape(shape)}: sizes must be at least 1, got {whole}")
        total *= whole
        if total > MAX_VALUES:
            raise ValueError(f"in {format_shape(shape)}: the size {whole} makes more than {MAX_VALUES:,} values "
                             "per sample, far too many")
        sizes.append(whole)
    return TensorSpec((BATCH, *sizes), dtype)


def whole_number(size) -> int | None:
    """An int (or a NumPy integer) as a plain int; None for bools, floats, strings and the rest."""
    if isinstance(size, bool) or isinstance(size, (float, str)):
        return None
    try:
        return operator.index(size)
    except TypeError:
        return None
