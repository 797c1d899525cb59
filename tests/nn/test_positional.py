"""Positional encodings: the sinusoid equation, offsets, layouts, buffers and the learned table.

Shapes: B batch, T time, E = d_model, P = max_len.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from seqlab.errors import ConfigError, DataError
from seqlab.nn import LearnedPositionalEncoding, SinusoidalPositionalEncoding


@settings(max_examples=15, deadline=None)
@given(d_model=st.integers(1, 9), max_len=st.integers(1, 40))
def test_sinusoid_table_is_the_equation(d_model, max_len):
    pe = SinusoidalPositionalEncoding(d_model, max_len=max_len, dtype=torch.float64)
    x = torch.zeros(max_len, d_model, dtype=torch.float64)  # unbatched (T, E): output is the table
    table = pe(x)
    for pos in range(0, max_len, 7):
        for j in range(d_model):
            i2 = j - j % 2  # the 2i of this column
            angle = pos / 10000 ** (i2 / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(float(table[pos, j]) - expected) < 1e-12


@pytest.mark.parametrize("cls", ["sin", "learned"])
def test_layouts_and_offset(cls):
    torch.manual_seed(0)
    B, T, E = 2, 5, 6
    pe = SinusoidalPositionalEncoding(E, max_len=20) if cls == "sin" else LearnedPositionalEncoding(20, E)
    table = pe._table().detach()
    x = torch.randn(T, B, E)
    torch.testing.assert_close(pe(x), x + table[:T, None], atol=0, rtol=0)  # (T, B, E)
    torch.testing.assert_close(pe(x, offset=3), x + table[3:3 + T, None], atol=0, rtol=0)
    pe.batch_first = True
    xb = x.transpose(0, 1)
    torch.testing.assert_close(pe(xb, offset=3), (x + table[3:3 + T, None]).transpose(0, 1), atol=0, rtol=0)
    # one step at a time with offsets equals the whole sequence
    steps = torch.cat([pe(xb[:, t:t + 1], offset=t) for t in range(T)], dim=1)
    torch.testing.assert_close(steps, pe(xb), atol=0, rtol=0)
    with pytest.raises(DataError, match="max_len"):
        pe(xb, offset=17)
    with pytest.raises(DataError, match="features"):
        pe(torch.randn(2, 3, E + 1))


def test_sinusoid_buffer_is_not_persistent_and_moves_with_the_module():
    pe = SinusoidalPositionalEncoding(8, max_len=16)
    assert "pe" in dict(pe.named_buffers()) and pe.state_dict() == {}
    assert not list(pe.parameters())
    pe = pe.to(torch.float64)
    assert pe.pe.dtype == torch.float64


def test_learned_table_is_a_parameter_equal_to_an_embedding_lookup():
    torch.manual_seed(1)
    pe = LearnedPositionalEncoding(10, 4, batch_first=True)
    emb = nn.Embedding(10, 4)
    emb.weight.data.copy_(pe.weight.data)
    assert list(pe.state_dict()) == ["weight"] and abs(float(pe.weight.detach().std()) - 0.02) < 0.01
    x = torch.randn(3, 6, 4)
    out = pe(x, offset=2)
    torch.testing.assert_close(out, x + emb(torch.arange(2, 8))[None], atol=0, rtol=0)
    out.square().sum().backward()
    assert torch.equal(pe.weight.grad[:2], torch.zeros(2, 4)) and torch.equal(pe.weight.grad[8:], torch.zeros(2, 4))
    torch.testing.assert_close(pe.weight.grad[2:8], (2 * out).sum(0), atol=1e-5, rtol=0)


def test_dropout_acts_in_training_only():
    torch.manual_seed(2)
    pe = SinusoidalPositionalEncoding(16, max_len=8, dropout=0.5)
    x = torch.randn(8, 4, 16)
    dropped = pe(x)
    assert (dropped == 0).float().mean() > 0.3
    pe.eval()
    torch.testing.assert_close(pe(x), x + pe.pe[:, None], atol=0, rtol=0)


def test_config_errors():
    with pytest.raises(ConfigError):
        SinusoidalPositionalEncoding(0)
    with pytest.raises(ConfigError):
        LearnedPositionalEncoding(0, 4)
