"""Compare on pairs: the metrics by hand, the spec rules (a spec's n respected, tsv never
truncated), length generalisation sources, and the command end to end."""

from __future__ import annotations

import csv
import json

import pytest

from seqlab.data import chrf, load_pairs, token_accuracy
from seqlab.experiments.compare_pairs import long_spec
from seqlab.experiments.seq2seq import pairs_spec


def test_token_accuracy_by_hand():
    assert token_accuracy(["abc"], ["abc"]) == 1.0
    # "abd" vs "abc": 2 of 3; "x" vs "xy": 1 of max(1, 2) = 2  -> 3 / 5
    assert token_accuracy(["abd", "x"], ["abc", "xy"]) == pytest.approx(3 / 5)
    assert token_accuracy(["abcd"], ["abc"]) == pytest.approx(3 / 4)  # an extra symbol costs


def test_chrf_by_hand():
    assert chrf(["abc"], ["abc"]) == pytest.approx(100.0)
    assert chrf(["xyz"], ["abc"]) == 0.0
    # "abd" vs "abc": P_n = R_n = 2/3, 1/2, 0 for n = 1, 2, 3 (no 4..6-grams): P = R = 7/18
    p = (2 / 3 + 1 / 2 + 0) / 3
    assert chrf(["abd"], ["abc"]) == pytest.approx(100 * 5 * p * p / (4 * p + p))
    # recall counts beta^2 = 4 times as much as precision: a short hypothesis loses more
    assert chrf(["ab"], ["abcd"]) < chrf(["abcdef"], ["abcd"])
    assert chrf(["a b"], ["ab"]) == pytest.approx(100.0)  # whitespace is ignored


def test_pairs_spec_respects_the_spec_and_never_truncates_a_file(tmp_path):
    assert pairs_spec("reverse", 4000, 0) == "reverse;n=4000;seed=0"
    assert pairs_spec("reverse;n=50", 4000, 3) == "reverse;n=50;seed=3"
    path = tmp_path / "p.tsv"
    path.write_text("".join(f"s{i}\tt{i}\n" for i in range(5000)))
    spec = pairs_spec(f"tsv:{path}", 4000, 0)
    assert spec == f"tsv:{path}" and len(load_pairs(spec)) == 5000


def test_long_spec_sources_are_longer_than_any_training_source():
    train = load_pairs(pairs_spec("copy;max_len=6", 300, 0))
    longer = load_pairs(long_spec(pairs_spec("copy;max_len=6", 300, 0)))
    assert max(len(s) for s, _ in train) == 6
    assert min(len(s) for s, _ in longer) == 7 and max(len(s) for s, _ in longer) <= 11
    assert long_spec("addition;digits=2") == "addition;digits=3;n=300;seed=1"
    assert long_spec("tsv:x.tsv") is None


def test_command_end_to_end(tmp_path):
    from seqlab.cli.main import main
    from seqlab.train import eval_run
    from tests.browser import render

    out = tmp_path / "pairs"
    code = main(["compare", "--data", "copy;n=300;max_len=4;alphabet=abcd", "--models", "seq2seq-rnn,seq2seq-transformer",
                 "--size", "tiny", "--seeds", "2", "--steps", "40", "--beams", "2", "--max-test", "30", "--jobs", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert {r["model"] for r in rows} == {"seq2seq-rnn", "seq2seq-transformer"}
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert len(runs) == 4
    for r in runs:
        assert float(r["exact_greedy"]) <= float(r["token_accuracy"]) + 1e-12  # an exact pair is all-correct
        score = eval_run(out / r["run_dir"], split="test")  # the one scorer reproduces the leaderboard's NLL
        assert f"{score.loss_nats:.6f}" == r["test_nll"]
    setup = json.loads((out / "setup.json").read_text())
    assert setup["spec"] == "copy;n=300;max_len=4;alphabet=abcd;seed=0"
    assert setup["long_spec"].startswith("copy;min_len=5;max_len=9")
    page = render(out / "report.html")
    assert page.images >= 1 and page.images_decoded == page.images and page.table_rows[0] == 2
    # --from reruns it (pairs record no FLOP budget), flags given as well override the record
    again = tmp_path / "again"
    assert main(["compare", "--from", str(out), "--steps", "3", "--seeds", "1", "--no-progress", "--out", str(again)]) == 0
    assert "--steps 3" in json.loads((again / "setup.json").read_text())["command"]


def test_budget_is_refused_for_pairs(tmp_path):
    from seqlab.cli.main import main

    assert main(["compare", "--data", "copy", "--budget", "1e9", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
