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
