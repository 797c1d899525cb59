"""Seq2Seq (RNN + Bahdanau attention, Transformer): chain rule, cache == full, source padding
invariance, beam search vs exhaustive search, and learning to reverse sequences."""

import itertools

import pytest
import torch

from seqlab.errors import ConfigError, DataError
from seqlab.models import Seq2Seq
from seqlab.models.decoding import Decoder, beam_search

V, EOS = 6, 5
ARCHS = [dict(arch="rnn", cell="gru"), dict(arch="rnn", cell="lstm", num_layers=2),
         dict(arch="transformer")]
IDS = ["rnn-gru", "rnn-lstm2", "transformer"]


def tiny(**kw):
    return Seq2Seq(vocab_size=V, eos_token_id=EOS, embed_dim=8, hidden_size=12, d_model=16, n_head=2,
                   n_layer=2, **kw).eval()


def padded_src(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, V, (3, 5), generator=g)
    src[1, 3:] = -100  # length 3
    src[2, 1:] = -100  # length 1
    return src


@pytest.mark.parametrize("kw", ARCHS, ids=IDS)
def test_chain_rule_and_cache_equal_teacher_forcing(kw):
    m = tiny(**kw)
    src, tgt = padded_src(), torch.randint(0, V, (3, 4))
    with torch.no_grad():
        full = m.conditionals(src, tgt)  # (B, T+1, V)
        params, state = m.step(None, m.init_state(m.encode(src)))
        inc = [params]
        for y_t in tgt.unbind(1):
            params, state = m.step(y_t, state)
            inc.append(params)
        inc = torch.stack(inc, 1)
        torch.testing.assert_close(inc, full, atol=1e-5, rtol=1e-5)
        expected = inc[:, :-1].log_softmax(-1).gather(-1, tgt[..., None])[..., 0].sum(1)
        torch.testing.assert_close(m.log_prob(src, tgt), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=["float64", "bfloat16"])
@pytest.mark.parametrize("kw", ARCHS, ids=IDS)
def test_runs_in_the_dtype_it_is_given(kw, dtype):
    ref = tiny(**kw)
    m = tiny(**kw).to(dtype)
    m.load_state_dict(ref.state_dict())
    src, tgt = padded_src(), torch.randint(0, V, (3, 4))
    with torch.no_grad():
        _, state = m.step(None, m.init_state(m.encode(src)))
        tensors = [t for t in torch.utils._pytree.tree_leaves(state) if torch.is_tensor(t) and t.is_floating_point()]
        assert tensors and all(t.dtype == dtype for t in tensors)
        lp = m.log_prob(src, tgt).double()
        loose = dtype == torch.bfloat16
        torch.testing.assert_close(lp, ref.log_prob(src, tgt).double(), atol=0.5 if loose else 1e-4,
                                   rtol=0.05 if loose else 1e-5)
    assert m.generate(src, 4).shape[0] == 3 and m.generate(src, 4, num_beams=2).shape[0] == 3


@pytest.mark.parametrize("kw", ARCHS, ids=IDS)
def test_padding_of_source_and_target_changes_nothing(kw):
    m = tiny(**kw)
    src = padded_src()
    tgt = torch.randint(0, V, (3, 4))
    tgt[2, 2:] = -100
    with torch.no_grad():
        batch = m.log_prob(src, tgt)
        for b in range(3):
            s = src[b][src[b] != -100][None]
            t = tgt[b][tgt[b] != -100][None]
            torch.testing.assert_close(batch[b], m.log_prob(s, t)[0], atol=1e-5, rtol=1e-5)
        logits, loss = m(src, tgt)
        assert logits.shape == (3, 4, V)
        torch.testing.assert_close(loss, -batch.sum() / 10)


@pytest.mark.parametrize("kw", ARCHS, ids=IDS)
def test_greedy_beam_and_exhaustive_search(kw):
    m = Seq2Seq(vocab_size=3, embed_dim=8, hidden_size=12, d_model=16, n_head=2, n_layer=1, **kw).eval()
    src, N = torch.tensor([[0, 2, 1]]), 4
    greedy = m.generate(src, N, temperature=0)
    assert torch.equal(m.generate(src, N, num_beams=1, temperature=1e-7, seed=0), greedy)
    with torch.no_grad():
        params, state = m.step(None, m.init_state(m.encode(src)))
        one, _ = beam_search(Decoder(m.emission, m.step, m.reorder_state), params, state, N, 1)
    assert torch.equal(one, greedy)
    conts = torch.tensor(list(itertools.product(range(3), repeat=N)))  # (81, N)
    with torch.no_grad():
        scores = m.log_prob(src.expand(len(conts), -1), conts)
    assert torch.equal(m.generate(src, N, num_beams=27)[0], conts[scores.argmax()])


def test_rnn_alignments_are_distributions_over_valid_source_positions():
    m = tiny(arch="rnn")
    src = padded_src()
    alpha = m.alignments(src, torch.randint(0, V, (3, 4)))  # (B, T+1, S)
    assert alpha.shape == (3, 5, 5)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 5))
    assert bool((alpha[src[:, None, :].expand_as(alpha) == -100] == 0).all())


def test_eos_stops_decoding_and_translate_cuts():
    m = tiny(arch="rnn")
    with torch.no_grad():  # make eos the most likely token everywhere
        m.out.bias.zero_()
        m.out.bias[EOS] = 100.0
    out = m.generate(padded_src(), 4, temperature=0)
    assert torch.equal(out, torch.full((3, 4), EOS))
    assert m.translate(padded_src(), max_len=4) == [[], [], []]
    assert list(m.stream([1, 2], 4, temperature=0)) == [EOS]


def test_errors():
    m = tiny(arch="rnn")
    with pytest.raises(DataError, match="source vocabulary"):
        m.log_prob(torch.tensor([[0, 9]]), torch.tensor([[1]]))
    with pytest.raises(DataError, match="lengths"):
        m.log_prob(torch.tensor([[-100, -100]]), torch.tensor([[1]]))
    with pytest.raises(ConfigError, match="arch"):
        Seq2Seq(arch="cnn")
    with pytest.raises(ConfigError, match="eos_token_id"):
        Seq2Seq(vocab_size=4, eos_token_id=4)


def reverse_task(n, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 5, (n,), generator=g)
    src, tgt = torch.full((n, 4), -100), torch.full((n, 5), -100)
    for i, n_i in enumerate(lengths.tolist()):
        s = torch.randint(0, EOS, (n_i,), generator=g)
        src[i, :n_i], tgt[i, :n_i], tgt[i, n_i] = s, s.flip(0), EOS
    return src, tgt


@pytest.mark.parametrize("kw", [ARCHS[0], ARCHS[2]], ids=["rnn-gru", "transformer"])
def test_learns_to_reverse(kw):
    torch.manual_seed(0)
    m = Seq2Seq(vocab_size=V, eos_token_id=EOS, embed_dim=16, hidden_size=32, d_model=32, n_head=2,
                n_layer=2, **kw)
    m.fit(reverse_task(1000, seed=1), steps=250, batch_size=32, lr=5e-3)
    src, tgt = reverse_task(50, seed=2)
    want = [[v for v in row if v not in (-100, EOS)] for row in tgt.tolist()]
    greedy = m.translate(src, max_len=6)
    beam = m.translate(src, max_len=6, num_beams=3)
    assert sum(a == b for a, b in zip(greedy, want)) >= 45
    assert sum(a == b for a, b in zip(beam, want)) >= 45
