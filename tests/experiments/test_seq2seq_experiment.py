"""seqlab.experiments.seq2seq on tiny tasks: the typed result, a tokenizer fitted on the training
pairs only, the recorded spec, and a run folder that `seqlab eval` scores to the experiment's own
held-out NLL."""

from __future__ import annotations

import json
import math

import pytest

from seqlab.cli.main import main
from seqlab.data import load_pairs
from seqlab.errors import ConfigError, DataError
from seqlab.experiments.seq2seq import Seq2SeqExample, Seq2SeqSetup, pairs_spec, run_seq2seq
from seqlab.train import load_run

TINY = dict(steps=2, hidden_size=8, batch_size=8, device="cpu")


def test_pairs_spec_names_n_and_seed_of_synthetic_tasks_only():
    assert pairs_spec("reverse", 60, 3) == "reverse;n=60;seed=3"
    assert pairs_spec("reverse;seed=5;max_len=4", 60, 3) == "reverse;seed=5;max_len=4;n=60"
    assert pairs_spec("tsv:pairs.tsv", 60, 3) == "tsv:pairs.tsv"  # a file is never truncated by a default n
    assert load_pairs("addition;n=30;seed=4") == load_pairs("addition", n=30, seed=4)


def test_result_and_run_folder_agree_with_seqlab_eval(tmp_path, capsys):
    r = run_seq2seq(Seq2SeqSetup(task="reverse", model="transformer", n=60, seed=3, beams=2,
                                 run_root=tmp_path, **TINY))
    assert r.spec == "reverse;n=60;seed=3"
    assert (r.train_pairs, r.test_pairs) == (48, 6)
    assert 0.0 <= r.greedy_exact_match <= 1.0 and 0.0 <= r.beam_exact_match <= 1.0
    assert all(isinstance(e, Seq2SeqExample) for e in r.examples) and len(r.examples) == 6
    assert r.train.steps == 2 and math.isfinite(r.final_train_loss)
    assert r.run_dir == tmp_path / "run"
    record = json.loads((r.run_dir / "config.json").read_text())
    assert record["run"]["data"] == r.spec and record["data_kind"] == "pairs"
    # `seqlab eval` re-derives the same pairs from the recorded spec and split, and the one scorer
    # gives the experiment's own held-out NLL
    assert main(["eval", str(r.run_dir), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["tokens"] == r.test_score.tokens
    assert score["loss_nats"] == pytest.approx(r.test_score.loss_nats, rel=1e-6)


def test_tokenizer_never_sees_the_test_pairs(tmp_path):
    # 20 pairs over a..d; only the last two (the test part of an 80/10/10 split) hold a "z"
    lines = [f"{s}\t{s[::-1]}" for s in ("ab", "ba", "abc", "cab", "dab", "bad", "cad", "dcb", "bcd", "acd",
                                         "adc", "bca", "dd", "cc", "aa", "bb", "abcd", "dcba")]
    lines += ["azb\tbza", "zz\tzz"]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_seq2seq(Seq2SeqSetup(task=f"tsv:{path}", model="rnn-attention", beams=1, run_root=tmp_path, **TINY))
    assert r.train_pairs == 16 and r.test_pairs == 2 and r.beam_exact_match is None
    tok = load_run(r.run_dir).tokenizer
    assert "z" not in tok.stoi
    assert r.vocab_size == tok.vocab_size == 4 + 2  # a..d, <eos> and the unknown symbol
    assert tok.encode("azb", errors="replace")[1] == tok.unk_id
    assert r.greedy_exact_match == 0.0  # a target holding an unseen character cannot be decoded
    assert r.test_score.tokens == 4 + 3  # "bza" and "zz", each with <eos>


def test_bad_setup():
    with pytest.raises(ConfigError, match="unknown seq2seq model 'lstm'"):
        Seq2SeqSetup(model="lstm")
    with pytest.raises(DataError, match="pairs task"):
        Seq2SeqSetup(task="sine")
    with pytest.raises(DataError, match="too few"):
        run_seq2seq(Seq2SeqSetup(task="copy", n=8, **TINY))
