"""The Transformer's fast decoding path: KV buffers written in place (KVCache.preallocated), the
one-position layer step (decode_step), and TransformerLM states that stay values although their
buffers are shared. Oracles: the general cached path and the full recompute."""

from __future__ import annotations

import pytest
import torch

import seqlab.nn as snn
from seqlab.models import TransformerLM


def encoder(norm_first, activation, bias, layers=2):
    layer = snn.TransformerEncoderLayer(16, 4, 24, dropout=0.1, activation=activation, batch_first=True,
                                        norm_first=norm_first, bias=bias, dtype=torch.float64)
    return snn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(16, dtype=torch.float64)).eval()


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_decode_step_equals_the_cached_forward(norm_first, activation, bias):
    torch.manual_seed(0)
    enc = encoder(norm_first, activation, bias)
    assert enc.can_decode_step()
    B, n, C = 3, 5, 9
    x = torch.randn(B, n + 1, 16, dtype=torch.float64)
    caches = enc.new_cache()
    with torch.no_grad():
        enc(x[:, :n], is_causal=True, cache=caches)  # fill the general caches with n steps
        k_bufs = [torch.zeros(B, 4, C, 4, dtype=torch.float64) for _ in caches]
        v_bufs = [torch.zeros(B, 4, C, 4, dtype=torch.float64) for _ in caches]
        for c, kb, vb in zip(caches, k_bufs, v_bufs):
            kb[:, :, :n], vb[:, :, :n] = c.k, c.v
        want = enc(x[:, n:], is_causal=True, cache=caches)[:, 0]  # (B, E), appends step n
        got = enc.decode_step(x[:, n], k_bufs, v_bufs, n)
        full = enc(x, is_causal=True)[:, -1]  # the recompute
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    torch.testing.assert_close(got, full, atol=1e-12, rtol=0)
    for c, kb, vb in zip(caches, k_bufs, v_bufs):
        torch.testing.assert_close(kb[:, :, :n + 1], c.k, atol=1e-12, rtol=0)
        torch.testing.assert_close(vb[:, :, :n + 1], c.v, atol=1e-12, rtol=0)
        assert not kb[:, :, n + 1:].any()  # nothing written past the new step


def test_decode_step_needs_the_plain_layer():
    plain = encoder(True, "gelu", True)
    assert plain.can_decode_step()
    assert not plain.train().can_decode_step()  # dropout active
    layer = snn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, batch_first=True)
    layer.self_attn = snn.MultiHeadAttention(16, 4, add_bias_kv=True, batch_first=True)
    assert not layer.can_decode_step()


def test_preallocated_cache_writes_in_place_then_grows():
    torch.manual_seed(1)
    kb, vb = torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5)
    fast, plain = snn.KVCache.preallocated(kb, vb, 0), snn.KVCache()
    steps = [torch.randn(2, 3, t, 5) for t in (2, 1, 1, 2)]  # the last one no longer fits 4 slots
    for i, k in enumerate(steps):
        got, want = fast.update(k, -k), plain.update(k, -k)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
        assert (fast.k.data_ptr() == kb.data_ptr()) == (i < 3)  # views of the buffer until it is full
    assert len(fast) == 6
    torch.testing.assert_close(kb[:, :, :4], torch.cat(steps[:3], 2), atol=0, rtol=0)


def tiny_lm(block_size=40, **kw):
    torch.manual_seed(2)
    return TransformerLM(vocab_size=7, block_size=block_size, d_model=16, n_head=2, n_layer=2, **kw).eval()


@torch.no_grad()
def test_cached_steps_equal_recompute_across_buffer_growth_and_the_slide():
    """Greedy decoding for 60 steps (block 40: the buffers grow at 16, 48 positions, the window slides
    after 40 elements): every step's logits equal the recompute of its context."""
    model = tiny_lm()
    seen = torch.tensor([[1, 2, 3], [4, 5, 6]])
    params, state = model.prefill(seen)
    for _ in range(60):
        window = seen[:, -model.config.block_size:]
        torch.testing.assert_close(params, model.conditionals(window)[:, -1], atol=1e-5, rtol=1e-5)
        x_t = params.argmax(-1)
        seen = torch.cat([seen, x_t[:, None]], 1)
        params, state = model.step(x_t, state)


@torch.no_grad()
def test_states_stay_values_when_one_state_is_stepped_twice():
    """Stepping a state writes into shared buffers only where no other state looks: a state stepped
    twice (two branches), or stepped after a later state was made, still gives the recompute."""
    model = tiny_lm()
    prompt = torch.tensor([[1, 2, 3, 4]])
    _, s0 = model.prefill(prompt)
    _, s1 = model.step(torch.tensor([5]), s0)
    k1 = s1.k.clone()
    p_a, s_a = model.step(torch.tensor([6]), s1)  # written in place into s1's buffers
    p_b, s_b = model.step(torch.tensor([0]), s1)  # s1 again: must not overwrite branch a
    torch.testing.assert_close(s1.k, k1, atol=0, rtol=0)  # the state itself never changes
    p_aa, _ = model.step(torch.tensor([2]), s_a)
    p_bb, _ = model.step(torch.tensor([3]), s_b)
    for params, tail in ((p_a, [5, 6]), (p_b, [5, 0]), (p_aa, [5, 6, 2]), (p_bb, [5, 0, 3])):
        x = torch.cat([prompt, torch.tensor([tail])], 1)
        torch.testing.assert_close(params, model.conditionals(x)[:, -1], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_general_cached_path_gives_the_same_steps(monkeypatch):
    """With the one-position path switched off, steps run the layers' cached forward on the same buffers."""
    model = tiny_lm()
    prompt = torch.tensor([[3, 1, 4], [1, 5, 2]])
    params, state = model.prefill(prompt)
    fast = []
    for t in range(5):
        params, state = model.step(torch.full((2,), t), state)
        fast.append(params)
    monkeypatch.setattr(model.blocks, "can_decode_step", lambda: False)
    params, state = model.prefill(prompt)
    for t in range(5):
        params, state = model.step(torch.full((2,), t), state)
        torch.testing.assert_close(params, fast[t], atol=1e-6, rtol=1e-6)
