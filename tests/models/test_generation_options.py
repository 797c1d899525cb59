"""Hugging Face's generation options in seqlab.models.decoding: repetition_penalty,
no_repeat_ngram_size, num_return_sequences, do_sample, length_penalty, top_k clamping, and the
refusal of sampling options with beams (never silently ignored). The CLI's flags for them:
tests/cli/test_train_eval_generate.py."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.models.decoding import GenerationOptions
from tests.models.models_tiny import V, tiny


@pytest.fixture
def lm():
    torch.manual_seed(0)
    return tiny("gru")


def test_repetition_penalty_oracle():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [1.0, 1.0, -2.0, 0.0]])
    seqs = torch.tensor([[0, 1, 1], [2, 2, 3]])
    out = GenerationOptions(repetition_penalty=2.0).process(logits, seqs)
    want = torch.tensor([[1.0, -2.0, 0.5, 3.0], [1.0, 1.0, -4.0, 0.0]])  # l/ρ if l > 0 else lρ, once per token
    torch.testing.assert_close(out, want)


def test_no_repeat_ngram_bans_exactly_the_completing_tokens():
    seqs = torch.tensor([[1, 2, 3, 1, 2]])  # bigram prefix (1, 2) was followed by 3
    out = GenerationOptions(no_repeat_ngram_size=3).process(torch.zeros(1, V), seqs)
    assert torch.isinf(out[0, 3]) and torch.isfinite(out[0, [0, 1, 2, 4]]).all()


@pytest.mark.parametrize("beams", [1, 3])
def test_no_repeat_ngram_holds_in_generated_text(lm, beams):
    prompt = torch.tensor([1, 2])
    # 7 bigrams over V = 5 tokens: no token can have used up all its successors
    seq = lm.generate(prompt, 6, temperature=0.0, num_beams=beams, no_repeat_ngram_size=2).tolist()
    bigrams = list(zip(seq, seq[1:]))
    assert len(bigrams) == len(set(bigrams)), seq


def test_num_return_sequences_and_do_sample(lm):
    prompt = torch.tensor([0, 1, 2])
    many = lm.generate(prompt, 6, num_return_sequences=4, seed=0)
    assert many.shape == (4, 9) and (many[:, :3] == prompt).all()
    batch = lm.generate(torch.tensor([[0, 1], [2, 3]]), 5, num_return_sequences=3, seed=0)
    assert batch.shape == (6, 7) and (batch[3:, :2] == torch.tensor([2, 3])).all()  # rows 3..5 continue prompt 1
    greedy = lm.generate(prompt, 6, temperature=0.0)
    torch.testing.assert_close(lm.generate(prompt, 6, do_sample=False, seed=5), greedy)
    beams = lm.generate(prompt, 4, num_beams=3, num_return_sequences=2)
    assert beams.shape == (2, 7)
    torch.testing.assert_close(beams[0], lm.generate(prompt, 4, num_beams=3))  # the best beam first


def test_length_penalty_ranks_finished_beams_by_length():
    # an exhaustive oracle on a 2-token + eos world: score / n^a picks the longer beam for large a
    from seqlab.models.decoding import Decoder, beam_search
    from seqlab.models.emissions import Categorical

    eos = 2
    table = torch.log(torch.tensor([[0.5, 0.1, 0.4], [0.5, 0.1, 0.4], [0.0, 0.0, 1.0]]) + 1e-12)

    def step(tok, state):
        return table[tok], state

    dec = Decoder(Categorical(3), step, lambda state, idx: state)
    start = torch.log(torch.tensor([[0.45, 0.1, 0.45]]))
    plain, _ = beam_search(dec, start, None, 3, 9, eos)
    assert plain[0].tolist()[0] == eos  # shortest: eos at once (log 0.45)
    long, _ = beam_search(dec, start, None, 3, 9, eos, GenerationOptions(length_penalty=3.0))
    assert long[0].tolist()[0] != eos
    scores = {}
    for seq in itertools.product(range(3), repeat=3):  # the oracle: every sequence, cut at eos
        lp, n = float(start[0, seq[0]]), 1
        for a, b in zip(seq, seq[1:]):
            if a == eos:
                break
            lp, n = lp + float(table[a, b]), n + 1
        scores[seq] = lp / n ** 3.0
    assert max(scores.values()) == pytest.approx(scores[tuple(long[0].tolist())], rel=1e-4)


def test_sampling_options_with_beams_are_refused_and_top_k_is_clamped(lm):
    prompt = torch.tensor([1])
    for kw in ({"temperature": 0.8}, {"top_k": 2}, {"top_p": 0.9}, {"do_sample": True}):
        with pytest.raises(ConfigError, match="beam search .* does not use"):
            lm.generate(prompt, 4, num_beams=2, **kw)
    with pytest.raises(ConfigError, match="length_penalty applies to beam search only"):
        lm.generate(prompt, 4, length_penalty=2.0)
    with pytest.raises(ConfigError, match="num_return_sequences=3 needs at least as many beams"):
        lm.generate(prompt, 4, num_beams=2, num_return_sequences=3)
    with pytest.warns(UserWarning, match=f"top_k=50 is larger than the vocabulary \\({V} tokens\\)"):
        clamped = lm.generate(prompt, 8, top_k=50, seed=2)
    torch.testing.assert_close(clamped, lm.generate(prompt, 8, seed=2))
