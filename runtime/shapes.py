"""Tensor types that flow along edges during shape inference.

A shape is a tuple whose first entry is the symbolic batch dimension ``"N"`` and whose other
entries are positive ints: ``("N", 32, 4, 4)``. A loss value is a scalar: ``()``.
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH = "N"

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
