"""Padding, masks, bucketing, LM blocks, seeded loaders and shards."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pad_sequence

from seqlab.data import (BucketBatchSampler, LMBlocks, lengths_to_mask, make_loader, pad_sequences,
                         random_blocks, shard)
from seqlab.errors import ConfigError, DataError


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(-5, 50), min_size=1, max_size=12), min_size=1, max_size=8))
def test_pad_sequences_matches_torch(seqs):
    padded, lengths = pad_sequences(seqs, pad_value=-1)
    expected = pad_sequence([torch.tensor(s) for s in seqs], batch_first=True, padding_value=-1)
    assert torch.equal(padded, expected) and padded.dtype == torch.long
    assert lengths.tolist() == [len(s) for s in seqs]
    mask = lengths_to_mask(lengths)
    assert mask.shape == padded.shape
    assert torch.equal(mask.sum(1), lengths)
    assert (padded[~mask] == -1).all()


def test_pad_sequences_floats_and_errors():
    padded, lengths = pad_sequences([[0.5, 1.5], [2.5]])
    assert padded.dtype == torch.float32 and padded.tolist() == [[0.5, 1.5], [2.5, 0.0]]
    assert lengths_to_mask(torch.tensor([1, 3]), max_len=4).tolist() == [[True, False, False, False],
                                                                       [True, True, True, False]]
    with pytest.raises(DataError):
        pad_sequences([])


def test_bucket_sampler_covers_everything_once_and_cuts_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=g).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=16, seed=5, pool_size=20)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))

    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    shuffled = torch.randperm(1000, generator=g).tolist()
    plain = [shuffled[i:i + 16] for i in range(0, 1000, 16)]
    assert padding(batches) < 0.2 * padding(plain)


def test_bucket_sampler_is_seeded_per_epoch():
    lengths = list(range(1, 101))
    a, b = BucketBatchSampler(lengths, 8, seed=1), BucketBatchSampler(lengths, 8, seed=1)
    first = list(a)
    assert first == list(b)
    assert list(a) != first  # the next epoch reshuffles
    a.set_epoch(0)
    assert list(a) == first
    dropped = BucketBatchSampler(lengths, 8, drop_last=True, pool_size=3)
    assert all(len(x) == 8 for x in dropped) and len(list(dropped)) == len(dropped)


def test_lm_blocks_are_contiguous_and_shifted():
    ids = torch.arange(23)
    ds = LMBlocks(ids, block_size=5)
    assert len(ds) == 4
    for i in range(len(ds)):
        x, y = ds[i]
        assert torch.equal(x, ids[5 * i:5 * i + 5]) and torch.equal(y, ids[5 * i + 1:5 * i + 6])
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(DataError, match="too few"):
        LMBlocks(torch.arange(3), block_size=5)


def test_random_blocks_are_windows_shifted_by_one():
    ids = torch.arange(100) * 3
    x, y = random_blocks(ids, block_size=8, batch_size=6, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 8)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1] - x[:, -1], torch.full((6,), 3))
    assert torch.equal(torch.diff(x, dim=1), torch.full((6, 7), 3))


def test_loader_is_deterministic_by_seed_and_pads_variable_items():
    ds = LMBlocks(torch.arange(400), block_size=10)
    a = [x.tolist() for x, _ in make_loader(ds, batch_size=4, seed=7)]
    b = [x.tolist() for x, _ in make_loader(ds, batch_size=4, seed=7)]
    c = [x.tolist() for x, _ in make_loader(ds, batch_size=4, seed=8)]
    assert a == b and a != c
    items = [(torch.arange(n), torch.arange(n + 1)) for n in (3, 1, 4, 2)]
    sampler = BucketBatchSampler([3, 1, 4, 2], batch_size=2, shuffle=False)
    batches = list(make_loader(items, pad=True, batch_sampler=sampler))
    (src, src_len), (tgt, tgt_len) = batches[0]
    assert src_len.tolist() == [1, 2] and tgt_len.tolist() == [2, 3] and src.shape == (2, 2)


def test_loader_with_workers_gives_the_same_batches():
    ds = LMBlocks(torch.arange(200), block_size=10)
    serial = [x for x, _ in make_loader(ds, batch_size=5, seed=3)]
    workers = [x for x, _ in make_loader(ds, batch_size=5, seed=3, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(serial, workers)) and len(serial) == len(workers)


def test_shard_is_contiguous_and_equal_sized():
    data = list(range(10))
    shards = [shard(data, r, 3) for r in range(3)]
    assert shards == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ConfigError):
        shard(data, 3, 3)
    with pytest.raises(DataError):
        shard([1], 0, 2)
