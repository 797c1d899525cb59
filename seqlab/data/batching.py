"""Batches of sequences: padding, lengths, masks, bucketing, language-model blocks, loaders, shards.

Shapes: B batch, T time (longest sequence in the batch, or block size), N number of items.

Conventions (docs/architecture.md): a padded batch is `(B, T)` with `lengths (B,)`; positions
`t >= lengths[b]` are padding. `lengths_to_mask` gives the boolean *validity* mask (True = a real
element) used to select or weight losses; for attention use `seqlab.nn.attention.padding_mask`,
the additive mask that means the same to every attention API.

Language modelling with next-element targets (nanoGPT): a block of ids c_0..c_T gives
x = c_0..c_{T-1} and y = c_1..c_T. `LMBlocks` cuts the data into contiguous non-overlapping
blocks (an epoch sees every target once); `random_blocks` draws B random windows per step.

Determinism: every random choice takes a seed or a `torch.Generator`; `BucketBatchSampler` and
`make_loader` reshuffle per epoch from (seed, epoch), so a run is reproducible and resumable.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from seqlab.errors import ConfigError, DataError


def _as_tensor(seq: Any) -> torch.Tensor:
    return seq if isinstance(seq, torch.Tensor) else torch.as_tensor(np.asarray(seq))


def pad_sequences(seqs: Sequence[Any], pad_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length 1-D sequences into (padded (B, T), lengths (B,)), T = max length.

    Integer sequences give a LongTensor, real-valued ones a FloatTensor (dtype kept if a tensor).
    """
    if len(seqs) == 0:
        raise DataError("pad_sequences: no sequences")
    tensors = [_as_tensor(s) for s in seqs]
    if any(t.dim() != 1 for t in tensors):
        raise DataError("pad_sequences expects 1-D sequences")
    non_empty = [t for t in tensors if t.numel()] or tensors
    dtype = non_empty[0].dtype
    for t in non_empty[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype == torch.float64 and not any(isinstance(s, torch.Tensor) for s in seqs):
        dtype = torch.float32  # python / numpy floats -> the float32 that models use
    lengths = torch.tensor([t.numel() for t in tensors], dtype=torch.long)        # (B,)
    padded = torch.full((len(tensors), int(lengths.max())), pad_value, dtype=dtype)  # (B, T)
    for b, t in enumerate(tensors):
        padded[b, : t.numel()] = t
    return padded, lengths


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean (B, T) mask, True where t < lengths[b] (a real element), False on padding."""
    lengths = _as_tensor(lengths).long()
    T = int(lengths.max()) if max_len is None else int(max_len)
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]     # (B, T)


class PadCollate:
    """DataLoader collate: items that are sequences, or tuples of sequences, padded per field.

    A batch of sequences gives (padded (B, T), lengths (B,)); a batch of tuples gives one
    (padded, lengths) per field, e.g. ((src, src_len), (tgt, tgt_len)) for seq2seq pairs.
    Scalars (0-d) are stacked. A class, not a closure, so worker processes can pickle it.
    """

    def __init__(self, pad_value: float = 0) -> None:
        self.pad_value = pad_value

    def _field(self, items: list[Any]) -> Any:
        first = _as_tensor(items[0])
        if first.dim() == 0:
            return torch.stack([_as_tensor(i) for i in items])
        return pad_sequences(items, self.pad_value)

    def __call__(self, batch: list[Any]) -> Any:
        if isinstance(batch[0], tuple):
            return tuple(self._field(list(f)) for f in zip(*batch))
        return self._field(batch)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose lengths are similar, to cut padding; seeded and reshuffled per epoch.

    Each epoch: shuffle indices (seed + epoch), cut them into pools of `pool_size` batches, sort
    each pool by length, cut it into batches, and shuffle the order of all batches. Sorting inside
    pools (not globally) keeps batches random across epochs while padding stays small.
    Each pass over the sampler advances `epoch` by one; `set_epoch(e)` picks the epoch explicitly
    (e.g. when resuming), so the same (seed, epoch) always gives the same batches.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = False, pool_size: int = 50) -> None:
        if batch_size < 1 or pool_size < 1:
            raise ConfigError(f"batch_size and pool_size must be >= 1, got {batch_size}, {pool_size}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.drop_last, self.pool_size, self.epoch = drop_last, pool_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        n = len(self.lengths)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        pool = self.batch_size * self.pool_size
        batches = []
        for start in range(0, n, pool):
            chunk = sorted(order[start:start + pool], key=self.lengths.__getitem__)
            for b in range(0, len(chunk), self.batch_size):
                batch = chunk[b:b + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.drop_last:
            full = (n // (self.batch_size * self.pool_size)) * self.pool_size
            rest = n % (self.batch_size * self.pool_size)
            return full + rest // self.batch_size
        full, rest = divmod(n, self.batch_size * self.pool_size)
        return full * self.pool_size + math.ceil(rest / self.batch_size)


class LMBlocks(Dataset):
    """Contiguous blocks of a token (or value) stream: item i = (x, y), each (T,), y shifted by one.

    x = ids[s : s+T], y = ids[s+1 : s+T+1] with s = i * stride (stride defaults to T, so blocks do
    not overlap and every target but the first element is predicted exactly once per epoch).
    """

    def __init__(self, ids: Any, block_size: int, stride: int | None = None) -> None:
        self.ids = _as_tensor(ids)
        self.block_size = int(block_size)
        self.stride = int(stride or block_size)
        if self.block_size < 1 or self.stride < 1:
            raise ConfigError(f"block_size and stride must be >= 1, got {block_size}, {stride}")
        if self.ids.numel() < self.block_size + 1:
            raise DataError(f"{self.ids.numel()} elements are too few for one block of "
                            f"{self.block_size} (+1 target)")

    def __len__(self) -> int:
        return (self.ids.numel() - 1 - self.block_size) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        s = (i % len(self)) * self.stride
        chunk = self.ids[s:s + self.block_size + 1]                        # (T+1,)
        return chunk[:-1], chunk[1:]                                       # (T,), (T,)


def random_blocks(ids: Any, block_size: int, batch_size: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """nanoGPT's get_batch: B windows at uniform random offsets; returns x, y each (B, T)."""
    ids = _as_tensor(ids)
    hi = ids.numel() - block_size
    if hi < 1:
        raise DataError(f"{ids.numel()} elements are too few for a block of {block_size} (+1 target)")
    offsets = torch.randint(0, hi, (batch_size,), generator=generator)             # (B,)
    idx = offsets[:, None] + torch.arange(block_size + 1)[None, :]                # (B, T+1)
    chunk = ids[idx]                                                               # (B, T+1)
    return chunk[:, :-1], chunk[:, 1:]                                             # (B, T), (B, T)


class _Seeder:
    """worker_init_fn: seed numpy/random in each worker from torch's per-worker seed (picklable)."""

    def __call__(self, worker_id: int) -> None:
        import random

        seed = torch.initial_seed() % 2**32
        np.random.seed(seed)
        random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, pad: bool = False, pad_value: float = 0,
                collate_fn: Any = None, batch_sampler: Sampler | None = None,
                pin_memory: bool = False) -> DataLoader:
    """A torch DataLoader with seeded shuffling (the same seed gives the same batches).

    pad: collate variable-length items with `PadCollate(pad_value)` (batches become
        (padded, lengths) per field); otherwise torch's default collate (fixed-size items, LMBlocks).
    batch_sampler: e.g. a `BucketBatchSampler` (then batch_size/shuffle/drop_last are unused).
    num_workers > 0 helps only when producing an item costs real work (tokenising, reading files);
    for in-memory tensors the hand-off to worker processes costs more than it saves.
    """
    if num_workers < 0:
        raise ConfigError(f"num_workers must be >= 0, got {num_workers}")
    if collate_fn is None and pad:
        collate_fn = PadCollate(pad_value)
    g = torch.Generator().manual_seed(seed)
    common = dict(num_workers=num_workers, collate_fn=collate_fn, generator=g,
                  worker_init_fn=_Seeder() if num_workers else None,
                  persistent_workers=num_workers > 0, pin_memory=pin_memory)
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, **common)


def shard(seq: Any, rank: int, world_size: int) -> Any:
    """Rank's contiguous shard for distributed training: seq[rank*k : (rank+1)*k], k = len // world_size.

    Every rank gets the same length k (the last len % world_size elements are dropped), so ranks
    run the same number of steps and no collective waits on a rank that ran out of data.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    k = len(seq) // world_size
    if k == 0:
        raise DataError(f"{len(seq)} elements cannot be shared among {world_size} ranks")
    return seq[rank * k:(rank + 1) * k]
