"""`seqlab attention`: weights equal torch.nn.MultiheadAttention's on the same inputs, rows are
causal distributions, and the heatmap PNG is written."""

from __future__ import annotations

import pytest
import torch

from seqlab.models.attention_maps import self_attention_weights as attention_weights
from tests.cli.conftest import assert_one_line_error, png_size


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory, corpus):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("runs") / "gpt"
    code = main(["train", "--model", "transformer", "--data", f"file:{corpus}", "--out", str(out),
                 "--steps", "3", "--batch-size", "4", "--block-size", "16", "--eval-interval", "3",
                 "--eval-tokens", "64", "--d-model", "16", "--n-head", "2", "--n-layer", "2",
                 "--no-progress"])
    assert code == 0
    return out


def test_heatmaps_written(transformer_run, seqlab, tmp_path):
    png = tmp_path / "att.png"
    result = seqlab("attention", transformer_run, "--text", "the model", "--out", png)
    assert result.code == 0, result
    assert "head 1" in result.out
    w, h = png_size(png)
    assert w > 300 and h > 300


def test_weights_are_causal_distributions_and_match_torch(transformer_run):
    from seqlab.train import load_run

    model = load_run(transformer_run).model
    x = torch.randint(0, model.config.vocab_size, (1, 9))
    w = attention_weights(model, x)  # (L, h, T+1, T+1)
    assert w.shape == (2, 2, 10, 10)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 10))
    assert float(w.triu(1).abs().max()) == 0.0  # no query reads a later key
    # oracle: torch's MultiheadAttention with the same weights on the same layer input
    captured = []
    layer0 = model.blocks.layers[0]
    handle = layer0.self_attn.register_forward_pre_hook(lambda m, a: captured.append(a[0]))
    with torch.no_grad():
        model.conditionals(x)
    handle.remove()
    ref = torch.nn.MultiheadAttention(16, 2, batch_first=True)
    ref.load_state_dict(layer0.self_attn.state_dict())
    mask = torch.full((10, 10), float("-inf")).triu(1)
    _, expected = ref(captured[0], captured[0], captured[0], attn_mask=mask, need_weights=True,
                      average_attn_weights=False)
    torch.testing.assert_close(w[0], expected[0], atol=1e-6, rtol=1e-5)


def test_bad_input(transformer_run, seqlab, lstm_run):
    assert_one_line_error(seqlab("attention", transformer_run, "--text", "the ZZZ"), "'Z'")
    assert_one_line_error(seqlab("attention", transformer_run, "--text", "the model " * 3), "block_size=16")
    assert_one_line_error(seqlab("attention", lstm_run, "--text", "the"), "no attention layers")
