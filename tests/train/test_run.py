"""train_run / eval_run / load_run end to end on tiny data the tests create."""

import json
import math

import pytest
import torch

from seqlab.errors import CheckpointError, ConfigError, DataError
from seqlab.train import RunConfig, TrainConfig, eval_run, evaluate, load_run, train_run
from seqlab.train.engine import Trainer
from seqlab.data.prepare import prepare_data

TEXT = "".join(f"the {w} sat on the mat; a {w} ran. " for w in
               ["cat", "dog", "fox", "owl", "bee", "ant", "elk", "yak"] * 12)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return f"file:{path}"


def _rc(data, model="gru", steps=8, **train):
    fields = {"gru": {"embed_dim": 8, "hidden_size": 12}, "transformer": {"d_model": 16, "n_head": 2, "n_layer": 1},
              "markov": {"order": 2}, "seq2seq-rnn": {"embed_dim": 8, "hidden_size": 12}}[model]
    t = dict(steps=steps, batch_size=4, block_size=16, eval_interval=4, log_interval=2, warmup_steps=2)
    t.update(train)
    return RunConfig(model=model, data=data, model_config=fields, train=TrainConfig(**t))


def test_train_run_writes_a_loadable_run(tmp_path, corpus):
    out = tmp_path / "run"
    result = train_run(_rc(corpus, "transformer"), out, progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "tokenizer.json", "model.safetensors", "trainer_state.safetensors", "best",
            "metrics.jsonl", "metrics.csv", "loss_curve.png", "result.json"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    record = json.loads((out / "config.json").read_text())
    assert record["model"]["name"] == "transformer" and record["tokenizer"] == "char"
    assert record["model"]["config"]["block_size"] == 16  # taken from the training window
    run = load_run(out, which="best")
    prepared = prepare_data(corpus, "char", (0.9, 0.05, 0.05))
    assert run.tokenizer.decode(prepared.parts["val"].tolist()) == prepared.split.val
    assert run.model.config.vocab_size == run.tokenizer.vocab_size
    # eval_run on the validation part reproduces the best validation loss of training
    val = eval_run(out, split="val")
    assert val.loss_nats == pytest.approx(result.best_val_loss, rel=1e-5)
    assert val.bits_per_token == pytest.approx(val.loss_nats / math.log(2))
    assert val.perplexity == pytest.approx(math.exp(val.loss_nats))
    test = eval_run(out)  # default split: test
    direct = evaluate(run.model, prepared.parts["test"], block_size=16)
    assert test.loss_nats == pytest.approx(direct.loss_nats)


def test_markov_run_and_eval(tmp_path, corpus):
    result = train_run(_rc(corpus, "markov"), tmp_path / "mk", progress=False)
    assert result.stop_reason == "fit"
    ev = eval_run(tmp_path / "mk", split="val")
    assert ev.loss_nats == pytest.approx(result.best_val_loss)
    assert ev.bits_per_token < math.log2(load_run(tmp_path / "mk").tokenizer.vocab_size)


def test_series_run(tmp_path):
    result = train_run(_rc("sine;length=400", "gru"), tmp_path / "s", progress=False)
    run = load_run(tmp_path / "s")
    assert run.tokenizer is None and run.model.emission_kind == "gaussian" and run.data_kind == "series"
    assert math.isfinite(result.best_val_loss)
    assert eval_run(tmp_path / "s", split="val").loss_nats == pytest.approx(result.best_val_loss, rel=1e-5)


def test_seq2seq_run(tmp_path):
    result = train_run(_rc("copy;n=120", "seq2seq-rnn", steps=4), tmp_path / "q", progress=False)
    run = load_run(tmp_path / "q")
    assert run.data_kind == "pairs" and run.model.config.eos_token_id == run.tokenizer.token_to_id("<eos>")
    assert eval_run(tmp_path / "q", split="val").loss_nats == pytest.approx(result.best_val_loss, rel=1e-5)


@pytest.mark.parametrize("change,error,match", [
    (dict(model="nope"), ConfigError, "unknown model 'nope'"),
    (dict(data="nosuchkind:xyz"), DataError, "unknown data spec"),
    (dict(model="markov", data="sine"), ConfigError, None),
    (dict(model_config={"bogus": 1}), ConfigError, "bogus"),
    (dict(tokenizer="klingon"), ConfigError, "klingon"),
    (dict(model="gru", data="copy"), ConfigError, "seq2seq"),
])
def test_bad_input_fails_before_writing_anything(tmp_path, corpus, change, error, match):
    rc = _rc(corpus)
    rc = RunConfig(**{**rc.__dict__, **change})
    with pytest.raises(error, match=match):
        train_run(rc, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "corpus.txt"]


def test_bad_batch_split_and_busy_out_dir(tmp_path, corpus):
    with pytest.raises(ConfigError, match="not divisible"):
        train_run(_rc(corpus, grad_accum=3), tmp_path / "out", progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        train_run(_rc(corpus), busy, progress=False)
    assert (busy / "x").read_text() == "keep me"
    with pytest.raises(CheckpointError):
        train_run(None, tmp_path / "nothing", resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "corpus.txt"]


def _interrupt_at(monkeypatch, step):
    original = Trainer._train_step

    def step_or_die(self, *a):
        if self.step == step:
            raise KeyboardInterrupt
        return original(self, *a)

    monkeypatch.setattr(Trainer, "_train_step", step_or_die)


def test_interrupt_before_first_checkpoint_leaves_no_folder(tmp_path, corpus, monkeypatch):
    _interrupt_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_run(_rc(corpus), tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, corpus, monkeypatch):
    train_run(_rc(corpus), tmp_path / "straight", progress=False)
    _interrupt_at(monkeypatch, 6)  # after the checkpoint at step 4
    with pytest.raises(KeyboardInterrupt):
        train_run(_rc(corpus), tmp_path / "cut", progress=False)
    monkeypatch.undo()
    assert load_run(tmp_path / "cut") is not None  # a valid, resumable run folder
    result = train_run(None, tmp_path / "cut", resume=True, progress=False)
    assert result.steps == 8
    a, b = load_run(tmp_path / "straight").model, load_run(tmp_path / "cut").model
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k
    rows = [json.loads(x)["step"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert rows == [json.loads(x)["step"] for x in
                    (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]


def test_eval_run_bad_split_and_other_kind(tmp_path, corpus):
    train_run(_rc(corpus, "markov"), tmp_path / "mk", progress=False)
    with pytest.raises(ConfigError, match="split"):
        eval_run(tmp_path / "mk", split="dev")
    with pytest.raises(DataError, match="series"):
        eval_run(tmp_path / "mk", data_spec="sine")
    other = tmp_path / "other.txt"
    other.write_text(TEXT[::-1], encoding="utf-8")
    assert math.isfinite(eval_run(tmp_path / "mk", data_spec=f"file:{other}").loss_nats)


def test_resuming_a_finished_run_changes_nothing_and_can_train_longer(tmp_path, corpus):
    out = tmp_path / "r"
    train_run(_rc(corpus), out, progress=False)
    before = (out / "metrics.jsonl").read_text()
    weights = {k: v.clone() for k, v in load_run(out).model.state_dict().items()}
    again = train_run(None, out, resume=True, progress=False)
    assert again.steps == 8 and (out / "metrics.jsonl").read_text() == before
    assert all(torch.equal(v, weights[k]) for k, v in load_run(out).model.state_dict().items())
    longer = train_run(_rc(corpus, steps=12), out, resume=True, progress=False)
    assert longer.steps == 12
    assert json.loads((out / "config.json").read_text())["run"]["train"]["steps"] == 12
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()][-1] == 12


def test_save_run_then_load_run_round_trip(tmp_path):
    from seqlab.data import build_tokenizer
    from seqlab.models import registry
    from seqlab.train import save_run

    tok = build_tokenizer("char", TEXT)
    ids = torch.tensor(tok.encode(TEXT))
    model = registry.build_model("markov", vocab_size=tok.vocab_size, order=3).fit(ids)
    save_run(tmp_path / "m", model, RunConfig(model="markov", data="pydoc", model_config={"order": 3}),
             tokenizer=tok, best=True)
    for which in ("last", "best"):
        run = load_run(tmp_path / "m", which=which)
        x = ids[:50][None]
        torch.testing.assert_close(run.model.log_prob(x), model.log_prob(x))
        assert run.tokenizer.encode("the cat") == tok.encode("the cat")


@pytest.mark.parametrize("model,data,fields,reason", [
    ("ar", "sine;length=300", {"tau": 3}, "fit"),
    ("neural-ar", None, {"tau": 3, "embed_dim": 8, "hidden_size": 12}, "steps"),
])
def test_other_families_train_and_reload(tmp_path, corpus, model, data, fields, reason):
    rc = RunConfig(model=model, data=data or corpus, model_config=fields,
                   train=TrainConfig(steps=4, batch_size=4, block_size=16, eval_interval=2))
    result = train_run(rc, tmp_path / model, progress=False)
    assert result.stop_reason == reason and math.isfinite(result.best_val_loss)
    assert eval_run(tmp_path / model, split="val").loss_nats == pytest.approx(result.best_val_loss, rel=1e-5)
