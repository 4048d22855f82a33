"""Batches for the hot loop: in-memory splits batched by index_select, streaming splits through one
DataLoader whose workers persist from epoch to epoch (each epoch's order handed over by the sampler)."""

from __future__ import annotations

import numpy as np
import torch

from layerloom.training.batches import Split


class _Lazy:
    """A feature array decoded on demand (like an image folder's): not an ndarray, so the split streams."""

    def __init__(self, n: int):
        self.shape = (n, 3)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        index = np.asarray(index)
        return np.stack([np.full(3, i, np.float32) for i in index.reshape(-1)])


def _check(batches, size: int) -> list[int]:
    seen = []
    for (xb,), (yb,) in batches:
        assert torch.equal(xb[:, 0].long(), yb)   # each sample with its own label
        seen += yb.tolist()
    assert sorted(seen) == list(range(size))
    return seen


def test_a_streaming_split_keeps_its_loader_across_epochs_and_follows_each_epochs_order():
    n = 37
    split = Split([_Lazy(n)], [np.arange(n)], torch.device("cpu"))
    assert split.streaming
    gen = torch.Generator().manual_seed(0)
    first = _check(split.batches(8, gen), n)
    loader = split._loader
    second = _check(split.batches(8, gen), n)
    assert split._loader is loader and first != second     # same workers, a new shuffle
    split.release()
    assert split._loader is None


def test_an_in_memory_split_batches_by_index_like_plain_indexing():
    n = 50
    x = np.random.default_rng(0).random((n, 4)).astype(np.float32)
    split = Split([x], [np.arange(n)], torch.device("cpu"))
    assert not split.streaming
    gen = torch.Generator().manual_seed(1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    for i, ((xb,), (yb,)) in enumerate(split.batches(16, gen)):
        index = order[i * 16:(i + 1) * 16]
        assert torch.equal(xb, torch.from_numpy(x)[index]) and torch.equal(yb, index)
