"""MultiHeadAttention against nn.MultiheadAttention: outputs, weights, gradients, state_dicts, caches.

Every randomized case runs twice: with need_weights=True, seqlab's own softmax(Q Kᵀ/√d_k + M) V
(the code under test); with need_weights=False, seqlab calls torch's fused
F.scaled_dot_product_attention, so that run checks seqlab's plumbing around torch's kernel
(projections, heads, mask merging, bias_k / zero attention), not the attention core.

Shapes: B batch, h heads, T queries, S keys, E embed_dim, E_k / E_v kdim / vdim, d_k / d_v head dims.
Tolerances: float64 1e-10 absolute, float32 1e-5 absolute.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from seqlab.errors import ConfigError, DataError
from seqlab.nn import KVCache, MultiHeadAttention, causal_mask

NEG_INF = float("-inf")


def run_with_grads(module, call, inputs):
    """Output tensors of `call(module, *inputs)` and grads of a fixed loss w.r.t. inputs and parameters."""
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    outs = [o for o in call(module, *xs) if o is not None]
    loss = sum((o.sin() * torch.linspace(0.5, 1.5, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outs)
    names, params = zip(*module.named_parameters())
    grads = torch.autograd.grad(loss, xs + list(params))
    return [o.detach() for o in outs], grads[: len(xs)], dict(zip(names, grads[len(xs):]))


def assert_twin(theirs, ours, call, inputs, atol):
    ours.load_state_dict(theirs.state_dict())
    out_t, gx_t, gp_t = run_with_grads(theirs, call, inputs)
    out_o, gx_o, gp_o = run_with_grads(ours, call, inputs)
    assert len(out_t) == len(out_o)
    for a, b in zip(out_o, out_t):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
    for a, b in zip(gx_o, gx_t):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
    assert gp_o.keys() == gp_t.keys()
    for name in gp_t:
        torch.testing.assert_close(gp_o[name], gp_t[name], atol=atol, rtol=0, msg=name)


def _mask(kind, shape, gen, dtype=torch.float64):
    """Random torch-MHA mask (bool True = blocked) that never blocks key 0."""
    blocked = torch.rand(shape, generator=gen) < 0.35
    blocked[..., 0] = False
    if kind == "bool":
        return blocked
    return torch.randn(shape, generator=gen, dtype=dtype).masked_fill(blocked, NEG_INF)


@st.composite
def mha_case(draw):
    h = draw(st.sampled_from([1, 2, 4]))
    E = h * draw(st.sampled_from([2, 3]))
    self_attn = draw(st.booleans())
    kdim = None if self_attn else draw(st.sampled_from([None, 5]))
    vdim = None if self_attn else draw(st.sampled_from([None, 3]))
    batched = draw(st.booleans())
    B = draw(st.integers(2, 3)) if batched else 1
    T = draw(st.integers(1, 5))
    S = T if self_attn else draw(st.integers(1, 6))
    kinds = st.sampled_from(["none", "bool", "float"])
    mask_kind = draw(kinds)
    kpm_kind = draw(kinds) if mask_kind == "none" else draw(st.sampled_from(["none", mask_kind]))
    is_causal = self_attn and mask_kind != "none" and draw(st.booleans())
    return dict(
        h=h, E=E, kdim=kdim, vdim=vdim, self_attn=self_attn, batched=batched, B=B, T=T, S=S, mask_kind=mask_kind,
        mask_3d=draw(st.booleans()), kpm_kind=kpm_kind, is_causal=is_causal, bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()), add_zero_attn=draw(st.booleans()), batch_first=draw(st.booleans()),
        average=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=40, deadline=None)
@given(c=mha_case())
def test_matches_nn_multihead_attention(c):
    for need_weights in (True, False):  # seqlab's softmax path, then torch's kernel (plumbing)
        check_mha(dict(c, need_weights=need_weights))


def check_mha(c):
    gen = torch.Generator().manual_seed(c["seed"])
    torch.manual_seed(c["seed"])
    kw = dict(bias=c["bias"], add_bias_kv=c["add_bias_kv"], add_zero_attn=c["add_zero_attn"], kdim=c["kdim"],
              vdim=c["vdim"], batch_first=c["batch_first"], dtype=torch.float64)
    theirs = nn.MultiheadAttention(c["E"], c["h"], **kw)
    ours = MultiHeadAttention(c["E"], c["h"], **kw)
    B, T, S, h = c["B"], c["T"], c["S"], c["h"]

    def shaped(L, F):
        if not c["batched"]:
            return torch.randn(L, F, generator=gen, dtype=torch.float64)
        shape = (B, L, F) if c["batch_first"] else (L, B, F)
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    q = shaped(T, c["E"])
    k = shaped(S, c["kdim"] or c["E"])
    v = shaped(S, c["vdim"] or c["E"])
    attn_mask = None
    if c["mask_kind"] != "none":
        if c["is_causal"]:
            attn_mask = causal_mask(T, dtype=torch.float64)
            attn_mask = attn_mask == NEG_INF if c["mask_kind"] == "bool" else attn_mask
        else:
            attn_mask = _mask(c["mask_kind"], (B * h, T, S) if c["mask_3d"] else (T, S), gen)
    kpm = None
    if c["kpm_kind"] != "none":
        lengths = torch.randint(1, S + 1, (B,), generator=gen)
        blocked = torch.arange(S)[None, :] >= lengths[:, None]  # (B, S)
        kpm = blocked if c["kpm_kind"] == "bool" else torch.zeros(B, S, dtype=torch.float64).masked_fill(blocked,
                                                                                                          NEG_INF)
        kpm = kpm if c["batched"] else kpm[0]
    opts = dict(key_padding_mask=kpm, need_weights=c["need_weights"], attn_mask=attn_mask,
                average_attn_weights=c["average"], is_causal=c["is_causal"])
    # torch's is_causal hint drops the mask and so also the bias_k / zero key (see the test below):
    # the reference for those cases is torch with the mask it was given
    hint_ok = not (c["add_bias_kv"] or c["add_zero_attn"])
    torch_opts = dict(opts, is_causal=c["is_causal"] and hint_ok)
    pick = lambda m: torch_opts if isinstance(m, nn.MultiheadAttention) else opts  # noqa: E731
    if c["self_attn"]:
        call = lambda m, x: m(x, x, x, **pick(m))  # noqa: E731  (self-attention: one shared tensor)
        inputs = [q]
    else:
        call = lambda m, q, k, v: m(q, k, v, **pick(m))  # noqa: E731
        inputs = [q, k, v]
    assert_twin(theirs, ours, call, inputs, atol=1e-10)


@pytest.mark.parametrize("extra", ["add_bias_kv", "add_zero_attn"])
def test_causal_hint_keeps_the_extra_key(extra):
    """Deliberate deviation: torch's is_causal hint (need_weights=False, no key padding) replaces the
    mask by SDPA's top-left causal flag, which also hides the appended bias_k / zero key, so torch's
    result then differs from torch's own result with the mask. seqlab keeps the mask's meaning."""
    torch.manual_seed(7)
    theirs = nn.MultiheadAttention(8, 2, dtype=torch.float64, **{extra: True})
    ours = MultiHeadAttention(8, 2, dtype=torch.float64, **{extra: True})
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    M = causal_mask(4, dtype=torch.float64)
    with_mask = theirs(x, x, x, attn_mask=M, need_weights=False)[0]
    torch_hint = theirs(x, x, x, attn_mask=M, is_causal=True, need_weights=False)[0]
    ours_hint = ours(x, x, x, attn_mask=M, is_causal=True, need_weights=False)[0]
    assert (torch_hint - with_mask).abs().max() > 1e-3  # torch disagrees with itself
    torch.testing.assert_close(ours_hint, with_mask, atol=1e-12, rtol=0)
    torch.testing.assert_close(ours(x, x, x, is_causal=True, need_weights=False)[0], with_mask, atol=1e-12, rtol=0)


@pytest.mark.parametrize("batch_first", [False, True])
def test_float32_within_1e5(batch_first):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(32, 4, batch_first=batch_first, add_bias_kv=True)
    ours = MultiHeadAttention(32, 4, batch_first=batch_first, add_bias_kv=True)
    x = torch.randn(3, 17, 32) if batch_first else torch.randn(17, 3, 32)
    kpm = torch.zeros(3, 17, dtype=torch.bool)
    kpm[1, 9:] = True
    for nw in (True, False):
        assert_twin(theirs, ours, lambda m, x: m(x, x, x, key_padding_mask=kpm, need_weights=nw), [x], atol=1e-5)


def test_matches_torch_fast_path_in_inference():
    """Eval mode without grad, where torch runs its fused native MHA."""
    torch.manual_seed(1)
    theirs = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ours = MultiHeadAttention(16, 4, batch_first=True).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 6, 16)
    kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    with torch.no_grad():
        a, wa = theirs(x, x, x, key_padding_mask=kpm)
        b, wb = ours(x, x, x, key_padding_mask=kpm)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    torch.testing.assert_close(wb, wa, atol=1e-5, rtol=0)


def test_state_dict_both_directions_and_layouts():
    for kw in (dict(), dict(kdim=5, vdim=7), dict(bias=False, add_bias_kv=True)):
        theirs, ours = nn.MultiheadAttention(8, 2, **kw), MultiHeadAttention(8, 2, **kw)
        shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
        assert shapes(ours) == shapes(theirs)
        ours.load_state_dict(theirs.state_dict())
        fresh = nn.MultiheadAttention(8, 2, **kw)
        fresh.load_state_dict(ours.state_dict())
        for name, t in theirs.state_dict().items():
            assert torch.equal(fresh.state_dict()[name], t)


@pytest.mark.parametrize("dropout", [0.3])
@pytest.mark.parametrize("need_weights", [True, False])
def test_dropout_shares_torchs_rng(dropout, need_weights):
    torch.manual_seed(2)
    theirs, ours = nn.MultiheadAttention(8, 2, dropout=dropout), MultiHeadAttention(8, 2, dropout=dropout)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 3, 8)
    torch.manual_seed(11)
    a = theirs(x, x, x, need_weights=need_weights)
    torch.manual_seed(11)
    b = ours(x, x, x, need_weights=need_weights)
    torch.testing.assert_close(b[0], a[0], atol=1e-6, rtol=0)
    if need_weights:
        torch.testing.assert_close(b[1], a[1], atol=1e-6, rtol=0)
    ours.eval()
    assert not torch.allclose(ours(x, x, x)[0], b[0], atol=1e-3)  # dropout did act


@pytest.mark.parametrize("kdim", [None, 5])
def test_qk_dim_and_v_dim_follow_the_equations(kdim):
    """d_k = 3, d_v = 5 with E = 8, h = 2: out = concat_i softmax(q_i k_i^T / sqrt(d_k)) v_i W_o^T + b_o."""
    torch.manual_seed(3)
    B, T, S, E, h, d_k, d_v = 2, 4, 6, 8, 2, 3, 5
    m = MultiHeadAttention(E, h, kdim=kdim, vdim=kdim, batch_first=True, qk_dim=d_k, v_dim=d_v, add_bias_kv=True,
                           dtype=torch.float64)
    with torch.no_grad():
        m.in_proj_bias.normal_()
    E_k = kdim or E
    assert m.out_proj.weight.shape == (E, h * d_v)
    assert m.bias_k.shape == (1, 1, h * d_k) and m.bias_v.shape == (1, 1, h * d_v)
    x, mem = torch.randn(B, T, E, dtype=torch.float64), torch.randn(B, S, E_k, dtype=torch.float64)
    out, w = m(x, mem, mem, average_attn_weights=False)
    if m.in_proj_weight is not None:
        assert m.in_proj_weight.shape == (2 * h * d_k + h * d_v, E)
        W_q, W_k, W_v = m.in_proj_weight.split([h * d_k, h * d_k, h * d_v])
    else:
        W_q, W_k, W_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    b_q, b_k, b_v = m.in_proj_bias.split([h * d_k, h * d_k, h * d_v])
    q = (x @ W_q.T + b_q).view(B, T, h, d_k)
    k = torch.cat([(mem @ W_k.T + b_k), m.bias_k.expand(B, 1, -1)], 1).view(B, S + 1, h, d_k)
    v = torch.cat([(mem @ W_v.T + b_v), m.bias_v.expand(B, 1, -1)], 1).view(B, S + 1, h, d_v)
    P = torch.softmax(torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d_k), -1)
    heads = torch.einsum("bhts,bshd->bthd", P, v).reshape(B, T, h * d_v)
    torch.testing.assert_close(out, heads @ m.out_proj.weight.T + m.out_proj.bias, atol=1e-12, rtol=0)
    torch.testing.assert_close(w, P, atol=1e-12, rtol=0)
    torch.testing.assert_close(m(x, mem, mem, need_weights=False)[0], out, atol=1e-12, rtol=0)


@pytest.mark.parametrize("extras", [dict(), dict(add_bias_kv=True, add_zero_attn=True)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_cached_self_attention_equals_full_recompute(extras, batch_first):
    torch.manual_seed(4)
    m = MultiHeadAttention(8, 2, batch_first=batch_first, dtype=torch.float64, **extras)
    B, T = 3, 7
    x = torch.randn(B, T, 8, dtype=torch.float64)
    kpm = torch.zeros(B, T, dtype=torch.bool)
    kpm[1, :2] = True  # left padding of row 1
    xs = x if batch_first else x.transpose(0, 1)
    full = m(xs, xs, xs, key_padding_mask=kpm, is_causal=True, need_weights=False)[0]
    full = full if batch_first else full.transpose(0, 1)
    cache = KVCache()
    pieces, t0 = [], 0
    for n in (3, 1, 1, 2):  # a prompt chunk, single steps, another chunk
        step = x[:, t0:t0 + n]
        step = step if batch_first else step.transpose(0, 1)
        out, w = m(step, step, step, key_padding_mask=kpm[:, : t0 + n], is_causal=True, cache=cache)
        pieces.append(out if batch_first else out.transpose(0, 1))
        t0 += n
        assert len(cache) == t0 and w.shape == (B, n, t0 + m.add_zero_attn + (m.bias_k is not None))
    torch.testing.assert_close(torch.cat(pieces, 1)[~kpm.bool()], full[~kpm.bool()], atol=1e-10, rtol=0)


def test_static_cache_reuses_memory_and_reorder_selects_rows():
    torch.manual_seed(5)
    m = MultiHeadAttention(8, 2, kdim=6, vdim=6, batch_first=True, dtype=torch.float64)
    x, mem = torch.randn(3, 4, 8, dtype=torch.float64), torch.randn(3, 5, 6, dtype=torch.float64)
    full = m(x, mem, mem)[0]
    cache = KVCache(static=True)
    steps = [m(x[:, t:t + 1], mem if t == 0 else None, None if t else mem, cache=cache)[0] for t in range(4)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-12, rtol=0)
    assert len(cache) == 5
    cache.reorder(torch.tensor([2, 0]))
    torch.testing.assert_close(m(x[[2, 0], :1], None, None, cache=cache)[0], full[[2, 0], :1], atol=1e-12, rtol=0)
    with pytest.raises(DataError, match="static"):
        cache.update(cache.k, cache.v)


def test_unbatched_cache_and_errors():
    torch.manual_seed(6)
    m = MultiHeadAttention(8, 2, dtype=torch.float64)
    x = torch.randn(5, 8, dtype=torch.float64)
    full = m(x, x, x, is_causal=True)[0]
    cache = KVCache()
    steps = [m(x[t:t + 1], x[t:t + 1], x[t:t + 1], is_causal=True, cache=cache)[0] for t in range(5)]
    torch.testing.assert_close(torch.cat(steps), full, atol=1e-12, rtol=0)
    with pytest.raises(DataError, match="batch size"):
        cache.update(torch.zeros(2, 2, 1, 4), torch.zeros(2, 2, 1, 4))
    with pytest.raises(ConfigError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(DataError, match="embed_dim"):
        m(torch.randn(5, 7), x, x)
    with pytest.raises(DataError, match="kdim"):
        m(x, torch.randn(5, 3), x)
    with pytest.raises(DataError, match="key and value are required"):
        m(x, None, None)
    assert MultiHeadAttention(10, 3, qk_dim=4, v_dim=2).out_proj.weight.shape == (10, 6)
