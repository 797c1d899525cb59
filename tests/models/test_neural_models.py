"""RNNLM and TransformerLM specifics: weight tying + safetensors, variants, limits, errors."""

import itertools

import pytest
import torch
from safetensors.torch import load_model, load_file, save_file, save_model

from seqlab.errors import ConfigError, DataError
from seqlab.models import RNNLM, TransformerLM

V = 6


@pytest.mark.parametrize("cell,embed_dim,hidden", [("lstm", 12, 12), ("gru", 8, 12), ("rnn", 12, 8)])
def test_rnn_weight_tying_uses_embedding_and_saves(tmp_path, cell, embed_dim, hidden):
    m = RNNLM(vocab_size=V, cell=cell, embed_dim=embed_dim, hidden_size=hidden, num_layers=2,
              tie_weights=True).eval()
    # the output matrix is the embedding: the only (V or V+1, ·) matrix in the state_dict
    assert [k for k, w in m.state_dict().items() if w.dim() == 2 and w.shape[0] in (V, V + 1)] == ["embed.weight"]
    x = torch.tensor([[0, 1, 2, 0, 1], [2, 1, 0, 2, 2]])  # tokens 3, 4, 5 are never read as input
    unused = [3, 4, 5]
    # the logits of an unread token are read from its embedding row: changing the row changes them
    with torch.no_grad():
        before = m(x)[0]
        m.embed.weight[4] += 1.0
        after = m(x)[0]
        m.embed.weight[4] -= 1.0
    assert not torch.allclose(before[..., 4], after[..., 4])
    torch.testing.assert_close(before[..., [0, 1, 2, 3, 5]], after[..., [0, 1, 2, 3, 5]], atol=0, rtol=0)
    # gradient of the output layer flows into the embedding rows of tokens never read as input
    m.train()
    out, loss = m(x, torch.randint(0, V, (2, 5)))
    loss.backward()
    assert (m.embed.weight.grad[unused].abs().sum(1) > 0).all()
    m.eval()
    save_file(m.state_dict(), tmp_path / "w.safetensors")  # no shared storage: plain save works
    clone = RNNLM(m.config)
    clone.load_state_dict(load_file(tmp_path / "w.safetensors"))
    torch.testing.assert_close(clone.eval().log_prob(x), m.log_prob(x))


@pytest.mark.parametrize("positions,tie", list(itertools.product(["sinusoidal", "learned"], [True, False])))
def test_transformer_variants_cache_and_save(tmp_path, positions, tie):
    m = TransformerLM(vocab_size=V, block_size=10, d_model=16, n_head=2, n_layer=2, positions=positions,
                      tie_weights=tie).eval()
    x = torch.randint(0, V, (3, 10))
    with torch.no_grad():
        full = m.conditionals(x)  # (3, 11, V)
        params, state = m.start(3)
        inc = [params]
        for x_t in x.unbind(1):
            params, state = m.step(x_t, state)
            inc.append(params)
    torch.testing.assert_close(torch.stack(inc, 1), full, atol=1e-5, rtol=1e-5)
    save_model(m, str(tmp_path / "m.safetensors"))
    clone = TransformerLM(m.config)
    load_model(clone, str(tmp_path / "m.safetensors"))
    torch.testing.assert_close(clone.eval().log_prob(x), m.log_prob(x))


def test_transformer_slides_its_window_past_block_size():
    m = TransformerLM(vocab_size=V, block_size=6, d_model=16, n_head=2, n_layer=1).eval()
    out = m.generate(torch.randint(0, V, (2, 4)), 10, temperature=0)
    assert out.shape == (2, 14)
    # after the window slides, the next token is the greedy choice given the last 6 elements
    with torch.no_grad():
        for t in range(7, 14):
            logits = m.conditionals(out[:, t - 6:t])[:, -1]
            assert torch.equal(out[:, t], logits.argmax(-1))
    with pytest.raises(DataError, match="block_size"):
        m.log_prob(torch.randint(0, V, (1, 8)))


def test_real_valued_models_and_dropout_modes():
    for m in (RNNLM(cell="gru", embed_dim=8, hidden_size=8, dropout=0.5),
              TransformerLM(block_size=8, d_model=8, n_head=2, n_layer=1, dropout=0.5)):
        assert m.emission_kind == "gaussian"
        x = torch.randn(4, 6)
        m.train()
        a, b = m.log_prob(x), m.log_prob(x)
        assert not torch.allclose(a, b)  # dropout active while training
        m.eval()
        torch.testing.assert_close(m.log_prob(x), m.log_prob(x))
        out, loss = m(x[:, :-1], x[:, 1:])
        assert out[0].shape == (4, 5) and torch.isfinite(loss)


def test_config_errors():
    with pytest.raises(ConfigError, match="cell"):
        RNNLM(vocab_size=V, cell="tcn")
    with pytest.raises(ConfigError, match="divisible"):
        TransformerLM(vocab_size=V, d_model=10, n_head=3)
    with pytest.raises(ConfigError, match="tie_weights"):
        RNNLM(tie_weights=True)
    with pytest.raises(ConfigError, match="positions"):
        TransformerLM(positions="rotary")
    with pytest.raises(ConfigError, match="unknown TransformerConfig"):
        TransformerLM(n_heads=2)


def test_fit_accepts_list_of_sequences_and_ignores_padding():
    m = RNNLM(vocab_size=V, cell="lstm", embed_dim=8, hidden_size=8)
    seqs = [torch.tensor([1, 2, 3, 1, 2, 3]), torch.tensor([1, 2]), torch.tensor([3, 1, 2, 3])]
    losses = m.fit(seqs, steps=60, batch_size=4, lr=3e-2)
    assert losses[-1] < losses[0] * 0.7
    with pytest.raises(DataError):
        m.fit(torch.zeros(2, 2, 2, dtype=torch.long), steps=1)
