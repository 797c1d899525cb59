"""The Trainer: exact resume, gradient accumulation, early stopping, metrics files, loss curve."""

import csv
import json
import math
import re

import matplotlib.image
import pytest
import torch

from seqlab.train import LMTask, TrainConfig, Trainer, make_optimizer
from seqlab.train.checkpoint import load_weights
from tiny import BigramLM, V, lstm, params, stream

DATA = stream(3000)
TASK = LMTask(DATA[:2700], DATA[2700:], block_size=12)


def _cfg(**kw):
    base = dict(steps=12, batch_size=8, block_size=12, eval_interval=4, log_interval=2, warmup_steps=3,
                lr=1e-2)
    base.update(kw)
    return TrainConfig(**base)


def _same(a: dict, b: dict, atol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        if atol:
            torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=k)
        else:
            assert torch.equal(a[k], b[k]), k


def _lstm_dropout():
    from seqlab.models import registry

    return registry.build_model("lstm", vocab_size=V, embed_dim=8, hidden_size=12, num_layers=2, dropout=0.3)


@pytest.mark.parametrize("make", [BigramLM, lstm, _lstm_dropout], ids=["bigram", "lstm", "lstm-dropout"])
def test_resume_gives_identical_weights(tmp_path, make):
    torch.manual_seed(0)
    straight = make()
    init = params(straight)
    Trainer(straight, TASK, _cfg(), run_dir=tmp_path / "a", model_name="lstm").fit()

    torch.manual_seed(0)
    first = make()
    _same(params(first), init)
    r1 = Trainer(first, TASK, _cfg(), run_dir=tmp_path / "b", model_name="lstm").fit(stop_at=6)
    assert (r1.steps, r1.stop_reason) == (6, "paused")
    resumed = make()  # fresh weights: everything must come from the folder
    r2 = Trainer(resumed, TASK, _cfg(), run_dir=tmp_path / "b", model_name="lstm", resume=True).fit()
    assert r2.steps == 12
    _same(params(resumed), params(straight))
    rows_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    keys = ("step", "tokens", "lr", "train_loss", "val_loss")  # all but timings
    assert [[r[k] for k in keys] for r in rows_a] == [[r[k] for k in keys] for r in rows_b]


def test_gradient_accumulation_matches_one_big_batch():
    results = []
    for accum in (1, 2, 4):
        torch.manual_seed(0)
        model = BigramLM()
        Trainer(model, TASK, _cfg(grad_accum=accum, steps=6, eval_interval=100)).fit()
        results.append(params(model))
    _same(results[0], results[1], atol=1e-6)
    _same(results[0], results[2], atol=1e-6)
    assert not torch.equal(results[0]["bias"], torch.zeros(V))  # it did train


def test_same_seed_repeats_and_another_seed_differs():
    out = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        model = BigramLM()
        Trainer(model, TASK, _cfg(seed=seed, steps=5)).fit()
        out.append(params(model))
    _same(out[0], out[1])
    assert not torch.equal(out[0]["table.weight"], out[2]["table.weight"])


def test_early_stopping_after_patience_evaluations_without_improvement():
    # train on "0 1 2 3 4 5 0 1 ...", validate on a reversed cycle: learning makes validation worse
    train = torch.arange(600) % V
    val = (V - 1 - torch.arange(120)) % V
    task = LMTask(train, val, block_size=10)
    result = Trainer(BigramLM(), task, _cfg(steps=200, eval_interval=2, patience=3, lr=0.1,
                                            warmup_steps=0)).fit()
    assert result.stop_reason == "early_stop"
    evals = [r for r in result.history if r["val_loss"] is not None]
    assert result.steps == result.best_step + 3 * 2 < 200
    assert all(r["val_loss"] >= result.best_val_loss for r in evals)
    assert len(evals) == result.steps // 2


def test_metrics_files_and_loss_curve(tmp_path):
    result = Trainer(BigramLM(), TASK, _cfg(steps=10), run_dir=tmp_path / "r").fit()
    d = tmp_path / "r"
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    with open(d / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(rows) == len(table) == len(result.history)
    train_rows = [r for r in rows if r["train_loss"] is not None]
    val_rows = [r for r in rows if r["val_loss"] is not None]
    assert [r["step"] for r in train_rows] == [2, 4, 6, 8, 10]
    assert [r["step"] for r in val_rows] == [4, 8, 10]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in train_rows)
    assert [r["tokens"] for r in train_rows] == [8 * 12 * s for s in (2, 4, 6, 8, 10)]
    for j, c in zip(rows, table):
        assert int(c["step"]) == j["step"]
        assert (c["val_loss"] == "") == (j["val_loss"] is None)
        if j["val_loss"] is not None:
            assert float(c["val_loss"]) == pytest.approx(j["val_loss"])
    assert result.best_val_loss == min(r["val_loss"] for r in val_rows)
    png = (d / "loss_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(d / "loss_curve.png")
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert json.loads((d / "result.json").read_text())["steps"] == 10


def test_best_checkpoint_holds_the_best_weights(tmp_path):
    result = Trainer(BigramLM(), TASK, _cfg(steps=12), run_dir=tmp_path / "r").fit()
    info = json.loads((tmp_path / "r" / "best" / "info.json").read_text())
    assert info == {"step": result.best_step, "val_loss": result.best_val_loss}
    best = BigramLM()
    load_weights(best, tmp_path / "r" / "best" / "model.safetensors")
    windows = torch.stack(TASK.eval_windows())
    nll = -best.log_prob(windows).sum().item() / windows.numel()
    assert nll == pytest.approx(result.best_val_loss, rel=1e-5)


def test_time_budget_stops_training():
    result = Trainer(BigramLM(), TASK, _cfg(steps=10 ** 9, time_budget=0.3, eval_interval=10 ** 6)).fit()
    assert result.stop_reason == "time_budget"
    assert result.seconds >= 0.3 and 0 < result.steps < 10 ** 9
    assert math.isfinite(result.best_val_loss)  # a final evaluation was made
    train_rows = [r for r in result.history if r["train_loss"] is not None]
    assert train_rows[-1]["step"] == result.steps  # the last, partial log window is logged too


def test_weight_decay_only_on_matrices():
    model = lstm()
    opt = make_optimizer(model, TrainConfig(weight_decay=0.3), torch.device("cpu"))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name


def test_count_based_model_is_fitted_without_an_optimizer(tmp_path):
    from seqlab.models import registry

    model = registry.build_model("markov", vocab_size=V, order=2)
    trainer = Trainer(model, TASK, _cfg(), run_dir=tmp_path / "m", model_name="markov")
    assert trainer.optimizer is None
    result = trainer.fit()
    assert result.stop_reason == "fit" and result.steps == 0
    windows = torch.stack(TASK.eval_windows())
    assert result.best_val_loss == pytest.approx(-model.log_prob(windows).sum().item() / windows.numel())
    assert result.best_val_loss < math.log(V)  # it learned the chain
    back = registry.build_model("markov", vocab_size=V, order=2)
    load_weights(back, tmp_path / "m" / "model.safetensors")
    torch.testing.assert_close(back.log_prob(windows), model.log_prob(windows))


def test_compile_option_wraps_the_forward_in_torch_compile(monkeypatch):
    compiled = []

    def fake_compile(module, **kw):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = BigramLM()
    trainer = Trainer(model, TASK, _cfg(compile=True, steps=2))
    assert compiled == [model] and trainer.forward is model and trainer.wrapped is model
    assert trainer.fit().steps == 2
    assert Trainer(BigramLM(), TASK, _cfg(steps=1)).forward is not None and len(compiled) == 1


def test_progress_bar_shows_loss_lr_and_throughput(capsys):
    Trainer(BigramLM(), TASK, _cfg(steps=4), progress=True).fit()
    err = capsys.readouterr().err
    assert "loss=" in err and "lr=" in err and "tok_s=" in err and "4/4" in err
    Trainer(BigramLM(), TASK, _cfg(steps=4), progress=False).fit()
    assert capsys.readouterr().err == ""


def test_cpu_runs_use_fp32_without_autocast():
    trainer = Trainer(BigramLM(), TASK, _cfg(amp=True))
    with trainer.autocast():
        assert not torch.is_autocast_enabled()
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_progress_bar_counts_seconds_under_a_time_budget(capsys):
    Trainer(BigramLM(), TASK, _cfg(steps=10 ** 6, time_budget=0.2, log_interval=1), progress=True).fit()
    err = capsys.readouterr().err
    assert re.search(r"/0\.2 \[", err), err[-300:]  # total = the budget in seconds
    assert "loss=" in err and "step=" in err


def test_accumulation_weights_micro_batches_by_scored_targets():
    # variable-length targets: each micro-batch's mean loss must be weighted by its token count
    from seqlab.models import registry
    from seqlab.train import Seq2SeqTask

    g = torch.Generator().manual_seed(0)
    src = torch.randint(0, V, (40, 5), generator=g)
    tgt = torch.randint(0, V, (40, 7), generator=g)
    lengths = torch.randint(1, 8, (40,), generator=g)
    tgt[torch.arange(7) >= lengths[:, None]] = -100
    task = Seq2SeqTask((src, tgt), (src[:8], tgt[:8]))
    results = []
    for accum in (1, 4):
        torch.manual_seed(0)
        model = registry.build_model("seq2seq-rnn", vocab_size=V, embed_dim=8, hidden_size=8)
        Trainer(model, task, _cfg(grad_accum=accum, steps=3, eval_interval=100, grad_clip=0.0)).fit()
        results.append(params(model))
    _same(results[0], results[1], atol=2e-6)
