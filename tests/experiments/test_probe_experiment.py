"""seqlab.experiments.probe: the measurement (gradient by distance against autograd), causality of
the probe models, the typed result of a tiny run, and training through the Trainer's RowsTask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.experiments.probe import (ProbeResult, ProbeSetup, evaluate_probe, gradient_by_distance,
                                      make_probe, run_probe, train_probe)
from seqlab.models.probe_tagger import PROBE_MODELS, ProbeTagger
from seqlab.train.tasks import RowsTask, step_generator


def test_gradient_by_distance_matches_autograd_on_embeddings():
    """The distance-indexed norms are ||dL_last/de_t|| of the last output, flipped in t."""
    torch.manual_seed(0)
    model = ProbeTagger("gru", "copy", hidden_size=8)
    data = make_probe("copy", 4, 5, seed=0)
    norms = gradient_by_distance(model, data, batch=5)
    e = model.embed_inputs(data.x).detach().requires_grad_(True)
    logits = model.forward_embedded(e)
    torch.nn.functional.cross_entropy(logits[:, -1], data.y[:, -1]).backward()
    expected = e.grad.norm(dim=-1).mean(0)  # (T,)
    torch.testing.assert_close(norms, expected.flip(0))
    assert norms[0] > 0  # the last output depends on the last input


@pytest.mark.parametrize("kind", PROBE_MODELS)
def test_probe_models_are_causal(kind):
    """Changing inputs after position t never changes outputs at or before t."""
    torch.manual_seed(0)
    model = ProbeTagger(kind, "copy", hidden_size=8).eval()
    x = torch.randint(0, 10, (2, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1) % 10
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    torch.testing.assert_close(a[:, :7], b[:, :7], atol=1e-5, rtol=1e-5)


def test_run_probe_result_is_typed():
    setup = ProbeSetup(task="copy", models=("rnn", "transformer"), lengths=(6, 3), steps=3, hidden_size=8,
                       n_train=32, n_test=16, device="cpu")
    r = run_probe(setup)
    assert isinstance(r, ProbeResult) and r.metric == "test loss (nats/step)"
    assert r.lengths == [3, 6]
    assert r.baselines == pytest.approx([10 * math.log(8) / (T + 20) for T in (3, 6)])
    assert set(r.scores) == {"rnn", "transformer"}
    for scores in r.scores.values():
        assert len(scores) == 2 and all(0 < s < 2 * math.log(10) for s in scores)
    assert {m: g.shape for m, g in r.grad_norms.items()} == {"rnn": (26,), "transformer": (26,)}


def test_training_is_the_trainer_on_the_probe_rows():
    """Step 0's logged loss is the untrained model's loss on the rows the RowsTask draws at step 0,
    and the adding task is trained on its last-step MSE."""
    setup = ProbeSetup(task="adding", models=("gru",), lengths=(5,), steps=4, hidden_size=8, batch_size=6,
                       seed=2, device="cpu")
    data = make_probe("adding", 5, 40, seed=2)
    torch.manual_seed(0)
    model = ProbeTagger("gru", "adding", hidden_size=8)
    rows = RowsTask({"x": data.x, "y": data.y}).global_batch(setup.seed, 0, setup.batch_size)
    assert torch.equal(rows, torch.randint(0, 40, (6,), generator=step_generator(2, 0)))
    with torch.no_grad():
        out, loss0 = model(data.x[rows], data.y[rows])
    assert float(loss0) == pytest.approx(float(((out[:, -1] - data.y[rows]) ** 2).mean()))
    result = train_probe(model, data, setup)  # under 20 steps every step's loss is logged
    assert result.steps == 4 and not model.training
    assert result.history[0]["train_loss"] == pytest.approx(float(loss0), rel=1e-6)
    assert np.isfinite(evaluate_probe(model, data))


@pytest.mark.parametrize("kw, message", [
    ({"models": ("rnn", "hmm")}, "unknown probe model 'hmm'"),
    ({"task": "parity"}, "unknown probe task"),
    ({"task": "adding", "lengths": (1, 4)}, "lengths >= 2"),
    ({"hidden_size": 10}, "divisible by 4"),
])
def test_bad_setup(kw, message):
    with pytest.raises(ConfigError, match=message):
        ProbeSetup(**kw)


# ---------------------------------------------------------------- recall probes and the new families
RECALL = ("selective-copying", "induction-heads", "mqar")


@pytest.mark.parametrize("kind", ["mingru", "minlstm", "retnet", "mamba"])
@pytest.mark.parametrize("task", RECALL)
def test_new_families_tag_causally_and_train_on_the_mask(kind, task):
    """The recurrent families' taggers are causal, and their recall loss is the cross-entropy of the
    logits at the scored positions only: changing y off the mask changes nothing."""
    torch.manual_seed(0)
    data = make_probe(task, 32, 4, seed=0)
    model = ProbeTagger(kind, task, hidden_size=8, n_layer=2, vocab_size=data.vocab_size).eval()
    x = data.x.clone()
    x[:, 20:] = (x[:, 20:] + 1) % data.vocab_size
    with torch.no_grad():
        a, loss = model(data.x, data.y, data.mask)
        b, _ = model(x)
    assert a.shape == (4, data.x.shape[1], data.vocab_size)
    torch.testing.assert_close(a[:, :20], b[:, :20], atol=1e-5, rtol=1e-5)
    expected = torch.nn.functional.cross_entropy(a[data.mask], data.y[data.mask])
    torch.testing.assert_close(loss, expected)
    y = torch.where(data.mask, data.y, (data.y + 3) % data.vocab_size)  # only unscored targets differ
    with torch.no_grad():
        torch.testing.assert_close(model(data.x, y, data.mask)[1], loss)


def test_recall_score_is_accuracy_on_the_mask():
    torch.manual_seed(0)
    data = make_probe("mqar", 40, 16, seed=3)
    model = ProbeTagger("gru", "mqar", hidden_size=8, vocab_size=data.vocab_size)
    with torch.no_grad():
        pred = model(data.x)[0].argmax(-1)
    expected = (pred[data.mask] == data.y[data.mask]).double().mean().item()
    assert evaluate_probe(model, data) == pytest.approx(expected)
    # a read-out that always answers the first scored target of row 0 scores that target's frequency
    answer = int(data.y[data.mask][0])
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[answer] = 1.0
    frequency = (data.y[data.mask] == answer).double().mean().item()
    assert evaluate_probe(model, data) == pytest.approx(frequency) and frequency > 0


def test_recall_training_weights_rows_by_their_scored_positions():
    """Step 0's logged loss is the mean cross-entropy over the scored positions of the rows drawn."""
    setup = ProbeSetup(task="mqar", models=("mamba",), lengths=(32,), steps=3, hidden_size=8, batch_size=5,
                       seed=1, device="cpu")
    data = make_probe("mqar", 32, 20, seed=1)
    torch.manual_seed(0)
    model = ProbeTagger("mamba", "mqar", hidden_size=8, vocab_size=data.vocab_size)
    rows = torch.randint(0, 20, (5,), generator=step_generator(1, 0))
    with torch.no_grad():
        _, loss0 = model(data.x[rows], data.y[rows], data.mask[rows])
    result = train_probe(model, data, setup)
    assert result.history[0]["train_loss"] == pytest.approx(float(loss0), rel=1e-6)


def test_run_recall_probe_is_accuracy_against_the_guessing_baseline():
    setup = ProbeSetup(task="induction-heads", models=("lstm", "retnet"), lengths=(12, 8), steps=2,
                       hidden_size=8, n_layer=2, n_train=16, n_test=8, device="cpu")
    r = run_probe(setup)
    assert r.higher_is_better and r.metric == "test accuracy" and r.lengths == [8, 12]
    assert r.baselines == pytest.approx([1 / 15, 1 / 15])  # vocab 16: b is one of the 15 tokens != a
    for name in ("lstm", "retnet"):
        assert all(0.0 <= s <= 1.0 for s in r.scores[name]) and len(r.seconds[name]) == 2
        assert r.grad_norms[name].shape == (12,) and r.grad_norms[name][0] > 0


@pytest.mark.parametrize("kw, message", [
    ({"task": "mqar", "lengths": (16, 64)}, "lengths >= 32"),
    ({"task": "selective-copying", "lengths": (4,)}, "lengths >= 8"),
    ({"models": ("retnet",), "hidden_size": 12}, "divisible by 8"),
    ({"n_layer": 0}, "n_layer must be >= 1"),
])
def test_bad_recall_setup(kw, message):
    with pytest.raises(ConfigError, match=message):
        ProbeSetup(**kw)
