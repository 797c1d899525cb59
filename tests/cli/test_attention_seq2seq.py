"""`seqlab attention` on seq2seq run folders: the Bahdanau alignment of seq2seq-rnn and the decoder's
cross-attention of seq2seq-transformer are drawn from the model's `cross_attention`; a run without
attention (seq2seq-rnn-noattn) is a one-line error."""

from __future__ import annotations

import pytest
import torch

from tests.cli.conftest import assert_one_line_error, png_size

SIZES = {"seq2seq-rnn": ["--hidden-size", "16", "--embed-dim", "8"],
         "seq2seq-rnn-noattn": ["--hidden-size", "16", "--embed-dim", "8"],
         "seq2seq-transformer": ["--d-model", "16", "--n-head", "2", "--n-layer", "2"]}


@pytest.fixture(scope="module", params=list(SIZES))
def pairs_run(request, tmp_path_factory):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("runs") / request.param
    if request.param == "seq2seq-rnn-noattn":  # not (yet) a `seqlab train --model` choice: the Python API
        from seqlab.train.config import RunConfig, TrainConfig
        from seqlab.train.run import train_run

        train_run(RunConfig(model=request.param, data="reverse", split=(0.8, 0.1, 0.1),
                            model_config={"hidden_size": 16, "embed_dim": 8},
                            train=TrainConfig(steps=4, batch_size=8, eval_interval=2)), out, progress=False)
        return request.param, out
    code = main(["train", "--model", request.param, "--data", "reverse", "--out", str(out), "--steps", "4",
                 "--batch-size", "8", "--eval-interval", "2", "--no-progress", *SIZES[request.param]])
    assert code == 0
    return request.param, out


def test_attention_over_the_source_of_a_seq2seq_run(pairs_run, seqlab, tmp_path):
    from seqlab.train import load_run

    name, run = pairs_run
    png = tmp_path / "att.png"
    result = seqlab("attention", run, "--text", "abcd", "--out", png)
    if name == "seq2seq-rnn-noattn":
        assert_one_line_error(result, "seq2seq-rnn-noattn", "no attention")
        assert not png.exists()
        return
    assert result.code == 0, result
    assert "translation:" in result.out and "most attended source token" in result.out
    w, h = png_size(png)
    assert w > 200 and h > 200
    # the weights the figure shows: one distribution over the 4 source tokens per output token
    loaded = load_run(run)
    model, tok = loaded.model, loaded.tokenizer
    src = torch.tensor(tok.encode("abcd"))
    out = model.translate(src[None], max_len=2 * 4 + 16)[0]  # the CLI's limit: 2 S + 16 tokens
    rows = len(out) + (len(out) < 2 * 4 + 16)  # + the step that emitted <eos>, if it did
    assert result.out.count("\n| ") == rows + 1  # one table row per output token (and the header)
    weights = model.cross_attention(src, torch.tensor(out + [model.config.eos_token_id])[:rows])
    L, heads = (1, 1) if name == "seq2seq-rnn" else (2, 2)
    assert weights.shape == (L, heads, rows, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(L, heads, rows))
