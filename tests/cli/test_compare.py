"""`seqlab compare` end to end on a tiny corpus: files, ranks on test with shared ties, seqlab eval
reproducing the test numbers, identical numbers on a second run (other worker count), the HTML
report in Chromium, bad input, and no partial output folder on errors or Ctrl-C."""

from __future__ import annotations

import csv
import json
import math

import pytest

from seqlab.errors import DataError
from tests.cli.conftest import assert_one_line_error, png_size

TINY = ("--size", "tiny", "--budget", "6e7", "--block-size", "16", "--val-tokens", "320",
        "--max-order", "3", "--sample-tokens", "12", "--no-progress")
MODELS = "markov,rnn,transformer"


def _rows(path):
    return list(csv.DictReader(path.open(encoding="utf-8")))


@pytest.fixture(scope="module")
def compared(tmp_path_factory, corpus):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("cmp") / "board"
    code = main(["compare", "--data", f"file:{corpus}", "--models", MODELS, "--seeds", "2", "--jobs", "1",
                 "--out", str(out), *TINY])
    assert code == 0
    return out


def test_leaderboard_files(compared, corpus):
    rows = _rows(compared / "leaderboard.csv")
    setup = json.loads((compared / "setup.json").read_text())
    keys = [(int(r["rank"]), float(r["test_bits_mean"])) for r in rows]
    assert keys == sorted(keys) and keys[0][0] == 1  # ranked on test, ties share a rank
    assert {r["model"] for r in rows} == {"markov", "rnn", "transformer"}
    uniform = math.log2(setup["vocab_size"])
    for r in rows:
        assert 0 < float(r["test_bits_mean"]) < uniform + 3
        assert r["sample"].startswith(setup["prompt"]) and len(r["sample"]) > len(setup["prompt"])
        assert int(r["parameters"]) > 0 and int(r["tokens"]) > 0 and float(r["flops"]) > 0
    markov = next(r for r in rows if r["model"] == "markov")
    assert markov["seeds"] == "counts" and float(markov["test_bits_std"]) == 0.0
    assert 1 <= int(markov["order"]) <= 3
    for r in rows:  # FLOP budget: every neural run spends at most the budget, in whole steps
        if r["model"] != "markov":
            assert r["seeds"] == "2" and float(r["flops"]) <= 6e7
    assert setup["setup"]["budgets"] == [6e7] and setup["test_tokens"] > 0
    assert setup["command"].startswith("seqlab compare --data file:")
    md = (compared / "leaderboard.md").read_text(encoding="utf-8")
    assert "| rank | model" in md and "uniform guess" in md and setup["command"] in md
    for name in ("leaderboard.png", "frontier.png"):
        w, h = png_size(compared / name)
        assert w > 400 and h > 200


def test_ranks_follow_the_shared_rank_rule(compared):
    from seqlab.experiments.stats import shared_ranks, spread

    rows = _rows(compared / "leaderboard.csv")
    runs = _rows(compared / "runs.csv")
    spreads = [spread([float(r["test_bits"]) for r in runs if r["model"] == row["model"]],
                      deterministic=row["model"] == "markov") for row in rows]
    assert [int(r["rank"]) for r in rows] == shared_ranks(spreads)
    for row, s in zip(rows, spreads):
        assert float(row["test_bits_mean"]) == pytest.approx(s.mean, abs=1e-6)


def test_eval_on_a_run_folder_prints_the_leaderboard_test_number(compared, seqlab):
    for run in _rows(compared / "runs.csv"):
        result = seqlab("eval", compared / run["run_dir"], "--split", "test", "--json")
        assert result.code == 0, result.err
        assert f"{json.loads(result.out)['bits_per_token']:.6f}" == run["test_bits"]


def test_selection_uses_validation_only(compared):
    """Markov's order is the validation argmin; each neural run keeps its best validation checkpoint."""
    runs = _rows(compared / "runs.csv")
    for run in runs:
        folder = compared / run["run_dir"]
        if run["model"] == "markov":
            continue
        info = json.loads((folder / "best" / "info.json").read_text())
        assert info["step"] == int(run["best_step"])
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        vals = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
        assert len(vals) >= 5
        assert info["val_loss"] == min(vals)
        assert float(run["val_bits"]) == pytest.approx(min(vals) / math.log(2), abs=1e-6)


def test_run_folders_do_not_point_to_the_temporary_folder(compared):
    for path in compared.rglob("*.json"):
        assert ".tmp-" not in path.read_text(encoding="utf-8"), path


def test_report_html_renders_in_chromium(compared):
    from tests.browser import render

    page = render(compared / "report.html")
    assert page.images >= 2 and page.images_decoded == page.images
    rows = _rows(compared / "leaderboard.csv")
    assert page.table_rows[0] == len(rows) + 1  # one row per family and the uniform guess
    assert not page.external_urls


def test_same_seeds_same_numbers_on_any_worker_count(compared, corpus, tmp_path):
    """Under a FLOP budget every bits and loss column is identical on a second run (2 workers)."""
    from seqlab.cli.main import main

    out = tmp_path / "again"
    assert main(["compare", "--data", f"file:{corpus}", "--models", MODELS, "--seeds", "2", "--jobs", "2",
                 "--out", str(out), *TINY]) == 0
    for name, keys in (("leaderboard.csv", ("rank", "model", "order", "test_bits_mean", "test_bits_std",
                                             "val_bits_mean", "val_bits_std", "test_loss_nats_mean",
                                             "tokens", "flops", "steps", "sample")),
                       ("runs.csv", ("model", "seed", "test_bits", "val_bits", "test_loss_nats", "best_step",
                                     "steps", "tokens", "flops"))):
        first, second = _rows(compared / name), _rows(out / name)
        for rows in (first, second):  # Markov's FLOPs are counting seconds x a measured rate: timing
            for r in rows:
                if r["model"] == "markov":
                    r["flops"] = "timing"
        assert [[r[k] for k in keys] for r in first] == [[r[k] for k in keys] for r in second]


def test_word_tokenizer_and_one_seed(tmp_path, seqlab, corpus):
    out = tmp_path / "words"
    result = seqlab("compare", "--data", f"file:{corpus}", "--models", "markov,gru", "--tokenizer", "word",
                    "--seeds", "1", "--out", out, *TINY)
    assert result.code == 0, result.err
    rows = _rows(out / "leaderboard.csv")
    assert {r["model"] for r in rows} == {"markov", "gru"}
    setup = json.loads((out / "setup.json").read_text())
    assert setup["train_tokens"] < 0.9 * len(corpus.read_text()) / 3  # words (and newlines), not characters
    assert "next: " in result.out and "uniform guess" in result.out
    table = [line for line in result.out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2 + 1 and max(len(line) for line in table) <= 120  # fits a 120-column terminal


@pytest.mark.parametrize("argv, fragments", [
    (["--models", "markov,hmm"], ["unknown model 'hmm'"]),
    (["--data", "nosuchkind:x"], ["unknown data spec"]),
    (["--data", "file:/nonexistent/corpus.txt"], ["/nonexistent/corpus.txt"]),
    (["--data", "copy-memory"], ["text, series or pairs data spec"]),
    (["--data", "sine", "--models", "markov"], ["unknown model 'markov' for series data"]),
    (["--data", "CORPUS", "--prompt", "the QZ"], ["'Q'", "'Z'"]),
    (["--budget", "soon"], ["--budget", "soon"]),
    (["--budget", "0"], ["--budget", "positive"]),
    (["--data", "CORPUS", "--budget", "1e5"], ["buys", "fewer than 10 steps"]),
    (["--budget-seconds", "3"], ["not allowed with"]),
    (["--sample-tokens", "-5"], ["--sample-tokens", ">= 0"]),
    (["--seeds", "0"], ["--seeds"]),
    (["--val-tokens", "1.5"], ["--val-tokens"]),
])
def test_bad_input_one_line_no_folder(tmp_path, seqlab, corpus, argv, fragments):
    argv = [f"file:{corpus}" if a == "CORPUS" else a for a in argv]
    out = tmp_path / "board"
    result = seqlab("compare", "--out", out, *TINY, *argv)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_refuses_existing_folder(tmp_path, seqlab, corpus):
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "keep.txt").write_text("x")
    result = seqlab("compare", "--data", f"file:{corpus}", "--out", tmp_path / "board", *TINY)
    assert_one_line_error(result, "already exists")
    assert [p.name for p in (tmp_path / "board").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("exc, code, message", [
    (KeyboardInterrupt, 130, "seqlab: interrupted"),
    (lambda: DataError("model diverged"), 2, "seqlab: error: model diverged"),
])
def test_failure_mid_run_leaves_nothing(tmp_path, seqlab, corpus, monkeypatch, exc, code, message):
    from seqlab.experiments import compare

    calls = []
    real = compare._train_job

    def flaky(job, *args, **kwargs):
        calls.append(job.family)
        if len(calls) == 2:
            raise exc()
        return real(job, *args, **kwargs)

    monkeypatch.setattr(compare, "_train_job", flaky)
    result = seqlab("compare", "--data", f"file:{corpus}", "--models", "markov,gru", "--jobs", "1",
                    "--out", tmp_path / "board", *TINY)
    assert result.code == code
    assert result.err.strip().splitlines()[-1] == message
    assert calls == ["gru", "gru"]
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary sibling


def test_wall_clock_budget_mode(tmp_path, seqlab, corpus):
    """--budget-seconds trains each run for a time budget (not reproducible, and said so)."""
    out = tmp_path / "secs"
    result = seqlab("compare", "--data", f"file:{corpus}", "--models", "markov,rnn", "--size", "tiny",
                    "--budget-seconds", "1", "--seeds", "1", "--block-size", "16", "--val-tokens", "320",
                    "--max-order", "2", "--sample-tokens", "4", "--no-progress", "--out", out)
    assert result.code == 0, result.err
    rnn = next(r for r in _rows(out / "leaderboard.csv") if r["model"] == "rnn")
    assert int(rnn["steps"]) >= 1 and float(rnn["train_seconds"]) >= 0.9
    assert "not reproducible" in (out / "leaderboard.md").read_text()
    assert "--budget-seconds 1" in json.loads((out / "setup.json").read_text())["command"]


def test_from_reruns_a_comparison_and_flags_override_it(compared, tmp_path, seqlab):
    out = tmp_path / "again"
    result = seqlab("compare", "--from", compared, "--budget", "3e7", "--seeds", "1", "--models", "markov,rnn",
                    "--jobs", "1", "--no-progress", "--out", out)
    assert result.code == 0, result.err
    command = json.loads((out / "setup.json").read_text())["command"]
    assert "--budget 3e+07" in command and "--seeds 1" in command and "--block-size 16" in command
