"""TensorBoard's loss smoothing: a debiased exponential moving average that the live charts carry
forward as new steps arrive (``ema_extend``: the state is the running average and the count of finite
points) and recompute, vectorised, when the weight changes. Non-finite points stay as they are and do
not move the average. Numpy only.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_SMOOTHING = 0.6
MAX_SMOOTHING = 0.999


def ema(values, weight: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``values`` (non-finite points stay as
    they are and do not move the average)."""
    return ema_extend(values, weight, 0.0, 0)[0]


def ema_extend(values, weight: float, last: float, count: int) -> tuple[np.ndarray, float, int]:
    """Continue the average over ``values`` from ``last`` (the biased running value) after ``count``
    finite points; returns the smoothed values and the new ``(last, count)``.

    Vectorised: within a chunk, last_j = w^(j+1) * (last + (1 - w) * sum_k<=j x_k / w^(k+1)); chunks
    are short enough that w^-(k+1) stays below 1e200."""
    out = np.array(values, dtype=np.float64)
    finite = np.isfinite(out)
    x = out[finite]
    if x.size == 0:
        return out, last, count
    weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
    if weight == 0.0:
        out[finite] = x
        return out, float(x[-1]), count + x.size
    chunk = max(1, int(200 * math.log(10) / -math.log(weight)))
    biased = np.empty_like(x)
    for start in range(0, x.size, chunk):
        part = x[start:start + chunk]
        decay = weight ** np.arange(1, part.size + 1, dtype=np.float64)
        biased[start:start + part.size] = decay * (last + (1.0 - weight) * np.cumsum(part / decay))
        last = float(biased[start + part.size - 1])
    seen = count + np.arange(1, x.size + 1, dtype=np.float64)
    out[finite] = biased / (1.0 - weight ** seen)
    return out, last, count + x.size
