"""Batches for the hot loop.

A dataset that fits in memory lives on the training device as tensors (one per Input, one per
Target; on the CPU the features share the dataset's arrays, which are never written) and is batched by
``index_select`` with a shuffled index tensor (half the cost of ``x[index]`` per step on a 64 x 784
batch): no DataLoader, no per-sample Python, no host copies per step. A dataset
too big for that (a large image folder, decoded lazily) streams through a DataLoader whose workers decode
whole batches of indices, pinned for a fast copy to the GPU; its workers persist from epoch to epoch (the
order of each epoch is handed to them through the sampler, which runs in this process).
A batch is ``(features, labels)``: a tuple of feature tensors in the criterion's Input order and a
tuple of label tensors in its Target order (empty for a graph without Targets).
"""

from __future__ import annotations

import os
import warnings
from typing import Iterator

import numpy as np
import torch

IN_MEMORY_LIMIT = 2 * 1024**3  # bytes of features kept as one tensor; above this, stream


def _nbytes(x) -> int:
    return int(np.prod(x.shape)) * 4


def _feature_tensor(x: np.ndarray) -> torch.Tensor:
    """A split's features as a CPU tensor sharing the array's memory (no copy when it is contiguous).

    ``scale`` hands out read-only views of the loaded dataset (``scaling: none``); torch has no
    read-only tensors and warns about them, but nothing here writes into ``Split.xs``: batches are
    ``index_select`` copies, so the dataset stays as it was loaded (tests/test_data_copies.py)."""
    x = np.ascontiguousarray(x)
    if x.flags.writeable:
        return torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        return torch.from_numpy(x)


def _label_tensor(y: np.ndarray) -> torch.Tensor:
    y = np.asarray(y)
    return torch.from_numpy(np.ascontiguousarray(y.astype(np.int64 if y.dtype.kind in "iub" else np.float32)))


class Split:
    """One split (train, val or test) ready for the loop: ``xs`` one feature array per Input, ``ys`` one
    label array per Target (empty: no labels)."""

    def __init__(self, xs: list, ys: list, device: torch.device, input_dtype: torch.dtype = torch.float32):
        self.device = device
        self.size = len(xs[0])
        self.streaming = any(not isinstance(x, np.ndarray) for x in xs) or sum(_nbytes(x) for x in xs) > IN_MEMORY_LIMIT
        self.ys = tuple(_label_tensor(y).to(device) for y in ys)
        self._input_dtype = input_dtype
        self._loader: torch.utils.data.DataLoader | None = None  # streaming: made at the first epoch
        self._sampler: _ChunkSampler | None = None
        if self.streaming:
            self._xs, self.xs = list(xs), None
        else:
            self._xs = None
            self.xs = tuple(_feature_tensor(x).to(device=device, dtype=input_dtype) for x in xs)

    def release(self) -> None:
        """Drop the tensors (device memory) and a streaming split's workers once the run is over; the
        record stays."""
        self._loader = self._sampler = None  # persistent workers end with their loader
        self.xs = self._xs = None
        self.ys = ()

    def _starts(self, batch_size: int, min_last: int) -> range:
        """Batch start offsets; a last batch smaller than ``min_last`` is left out (a batch of one
        sample cannot train BatchNorm)."""
        end = self.size
        if min_last > 1 and 0 < self.size % batch_size < min_last and self.size > batch_size:
            end = self.size - self.size % batch_size
        return range(0, end, batch_size)

    def steps(self, batch_size: int, min_last: int = 1) -> int:
        return len(self._starts(batch_size, min_last))

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                min_last: int = 1) -> Iterator[tuple[tuple, tuple]]:
        """``(features, labels)`` batches; shuffled when a generator is given (a CPU generator: the
        permutation is drawn on the CPU, then moved once per epoch)."""
        if generator is not None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        starts = self._starts(batch_size, min_last)
        if self.streaming:
            yield from self._stream(order, batch_size, starts)
            return
        order = order.to(self.device)
        xs, ys = self.xs, self.ys
        if len(xs) == 1 and len(ys) == 1:  # the common case, without a generator expression per step
            (x,), (y,) = xs, ys
            select = torch.index_select
            for start in starts:
                index = order[start:start + batch_size]
                yield (select(x, 0, index),), (select(y, 0, index),)
            return
        for start in starts:
            index = order[start:start + batch_size]
            yield tuple(x.index_select(0, index) for x in xs), tuple(y.index_select(0, index) for y in ys)

    def _stream(self, order: torch.Tensor, batch_size: int, starts: range):
        chunks = [order[i:i + batch_size].numpy() for i in starts]
        loader = self._stream_loader()
        self._sampler.chunks = chunks
        for index, xbs in zip(chunks, loader):
            xbs = tuple(xb.to(self.device, dtype=self._input_dtype, non_blocking=True) for xb in xbs)
            where = torch.from_numpy(index).to(self.device)
            yield xbs, tuple(y.index_select(0, where) for y in self.ys)

    def _stream_loader(self) -> torch.utils.data.DataLoader:
        """The split's DataLoader, made once: its workers (when there are any) live until ``release``."""
        if self._loader is None:
            self._sampler = _ChunkSampler()
            workers = min(4, max(0, (os.cpu_count() or 1) - 1))
            self._loader = torch.utils.data.DataLoader(
                _Decode(self._xs), batch_size=None, sampler=self._sampler, num_workers=workers,
                pin_memory=self.device.type == "cuda", persistent_workers=workers > 0)
        return self._loader


class _ChunkSampler(torch.utils.data.Sampler):
    """Yields the current epoch's chunks of indices; it runs in the training process, so a persistent
    worker decodes whatever order the epoch set."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []

    def __iter__(self):
        return iter(list(self.chunks))

    def __len__(self) -> int:
        return len(self.chunks)


class _Decode(torch.utils.data.Dataset):
    """Item ``index`` (an array of sample indices) is the tuple of decoded feature batches, one per Input."""

    def __init__(self, xs: list):
        self.xs = xs

    def __getitem__(self, index: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(np.ascontiguousarray(x[index], dtype=np.float32)) for x in self.xs)
