"""The models' quick `fit` is seqlab.train's Trainer: its returned losses are the Trainer's
per-step losses, and step 0's loss is the chain-rule NLL of the batch the task draws at step 0."""

from __future__ import annotations

import copy

import pytest
import torch

from seqlab.models import RNNLM
from seqlab.models.seq2seq import Seq2Seq
from seqlab.train import Trainer, TrainConfig
from seqlab.train.tasks import LMTask, step_generator

V = 5


def test_stream_fit_losses_are_the_trainers_step_losses():
    stream = torch.randint(0, V, (200,), generator=torch.Generator().manual_seed(1))
    model = RNNLM(vocab_size=V, cell="gru", embed_dim=8, hidden_size=8)
    twin = copy.deepcopy(model)
    losses = model.fit(stream, steps=6, batch_size=4, block_size=8, lr=1e-2, weight_decay=0.0, seed=3)
    assert len(losses) == 6 and not model.training
    # step 0: windows of block_size + 1 tokens at the starts step 0 draws, scored by the chain rule
    starts = torch.randint(0, 200 - 8, (4,), generator=step_generator(3, 0))
    windows = stream[starts[:, None] + torch.arange(9)]  # (4, 9)
    with torch.no_grad():
        nll0 = -twin.log_prob(windows).sum() / windows.numel()
    assert losses[0] == pytest.approx(float(nll0), rel=1e-5)
    # the same steps through the Trainer directly
    config = TrainConfig(steps=6, batch_size=4, lr=1e-2, min_lr=1e-2, warmup_steps=6 // 10, weight_decay=0.0,
                         beta2=0.999, grad_clip=1.0, eval_interval=6, log_interval=1, seed=3, device="cpu",
                         amp=False)
    history = Trainer(twin, LMTask(stream, block_size=8), config).fit().history
    assert losses == [r["train_loss"] for r in history if r["train_loss"] is not None]
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_rows_fit_scores_each_padded_sequence_by_the_chain_rule():
    seqs = [torch.tensor([1, 2, 3, 1, 2]), torch.tensor([4, 0]), torch.tensor([3, 1, 2])]
    model = RNNLM(vocab_size=V, cell="lstm", embed_dim=8, hidden_size=8)
    twin = copy.deepcopy(model)
    losses = model.fit(seqs, steps=3, batch_size=4, seed=5)
    rows = torch.randint(0, 3, (4,), generator=step_generator(5, 0))
    padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-100)[rows]
    lengths = torch.tensor([len(s) for s in seqs])[rows]
    with torch.no_grad():
        nll0 = -twin.log_prob(padded, lengths).sum() / lengths.sum()
    assert losses[0] == pytest.approx(float(nll0), rel=1e-5)


def test_seq2seq_fit_step0_is_the_batch_mean_target_nll():
    g = torch.Generator().manual_seed(0)
    src = torch.randint(1, V, (10, 4), generator=g)
    tgt = torch.cat([src.flip(1), torch.zeros(10, 1, dtype=torch.long)], 1)  # reversed, then <eos> = 0
    model = Seq2Seq(vocab_size=V, eos_token_id=0, embed_dim=8, hidden_size=8)
    twin = copy.deepcopy(model)
    losses = model.fit((src, tgt), steps=2, batch_size=3, seed=7)
    rows = torch.randint(0, 10, (3,), generator=step_generator(7, 0))
    with torch.no_grad():
        nll0 = -twin.log_prob(src[rows], tgt[rows]).sum() / tgt[rows].numel()
    assert len(losses) == 2 and losses[0] == pytest.approx(float(nll0), rel=1e-5)
