"""`seqlab seq2seq` and `seqlab probe` end to end on tiny settings, plus bad input (the experiments
themselves: tests/experiments/)."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from tests.cli.conftest import assert_one_line_error, png_size


@pytest.mark.parametrize("model", ["rnn-attention", "transformer"])
def test_seq2seq_reports_greedy_and_beam(tmp_path, seqlab, model):
    out = tmp_path / "s2s"
    result = seqlab("seq2seq", "--task", "copy", "--model", model, "--n", "60", "--steps", "2",
                    "--hidden-size", "16", "--batch-size", "8", "--beams", "2", "--out", out)
    assert result.code == 0, result
    record = json.loads((out / "results.json").read_text())
    assert record["test_pairs"] == 6 and record["train_pairs"] == 48
    assert set(record["exact_match"]) == {"greedy", "beam search"}
    assert all(0.0 <= v <= 1.0 for v in record["exact_match"].values())
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["decoding"] for r in rows] == ["greedy", "beam search"]
    assert (out / "run" / "config.json").is_file()
    # the run folder is a real run: `seqlab eval` scores its test part to the reported held-out NLL
    evaluated = seqlab("eval", out / "run", "--json")
    assert evaluated.code == 0 and json.loads(evaluated.out)["loss_nats"] == pytest.approx(record["test_nll"])
    assert "| decoding" in (out / "results.md").read_text()
    # the saved run translates with `seqlab generate` (the prompt is the source)
    from seqlab.train import load_run

    greedy = seqlab("generate", out / "run", "--prompt", "abc", "-n", "6", "--temperature", "0")
    run = load_run(out / "run")
    src = torch.tensor([run.tokenizer.encode("abc")])
    expected = run.tokenizer.decode(run.model.translate(src, max_len=6)[0])
    assert greedy.code == 0 and greedy.out == expected + "\n"
    assert seqlab("generate", out / "run", "--prompt", "abc", "-n", "6", "--beams", "2").code == 0


@pytest.mark.parametrize("argv, fragments", [
    (["--task", "pydoc"], ["pairs task"]),
    (["--task", "tsv:/nonexistent.tsv"], ["/nonexistent.tsv"]),
    (["--model", "lstm"], ["--model", "'lstm'"]),
    (["--steps", "many"], ["--steps", "'many'"]),
])
def test_seq2seq_bad_input(tmp_path, seqlab, argv, fragments):
    result = seqlab("seq2seq", "--steps", "1", "--n", "40", "--out", tmp_path / "s2s", *argv)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_probe_copy_writes_table_and_figures(tmp_path, seqlab):
    out = tmp_path / "probe"
    result = seqlab("probe", "--task", "copy", "--lengths", "6,3", "--models", "rnn,transformer",
                    "--steps", "3", "--hidden-size", "8", "--n-train", "32", "--n-test", "16", "--out", out)
    assert result.code == 0, result
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [int(r["T"]) for r in rows] == [3, 6]
    for r in rows:
        T = int(r["T"])
        assert float(r["baseline"]) == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-6)
        assert 0 < float(r["rnn"]) < 2 * math.log(10) and 0 < float(r["transformer"]) < 2 * math.log(10)
    record = json.loads((out / "probe.json").read_text())
    assert len(record["grad_norms"]["rnn"]) == 6 + 20  # one norm per input position at the largest T
    for name in ("scores.png", "gradients.png"):
        w, h = png_size(out / name)
        assert w > 300 and h > 200


def test_probe_adding_baseline(tmp_path, seqlab):
    out = tmp_path / "probe"
    result = seqlab("probe", "--task", "adding", "--lengths", "4", "--models", "gru", "--steps", "2",
                    "--hidden-size", "8", "--n-train", "16", "--n-test", "8", "--out", out)
    assert result.code == 0, result
    row = next(csv.DictReader((out / "scores.csv").open()))
    assert float(row["baseline"]) == pytest.approx(1 / 6, rel=1e-5)


@pytest.mark.parametrize("argv, fragments", [
    (["--task", "parity"], ["--task", "'parity'"]),
    (["--lengths", "10,x"], ["--lengths"]),
    (["--models", "rnn,hmm"], ["unknown probe model 'hmm'"]),
])
def test_probe_bad_input(tmp_path, seqlab, argv, fragments):
    result = seqlab("probe", "--steps", "1", "--out", tmp_path / "p", *argv)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("task, T, baseline", [("mqar", 32, 1 / 16), ("induction-heads", 6, 1 / 15),
                                                ("selective-copying", 8, 1 / 8)])
def test_probe_recall_reports_accuracy_for_every_family(tmp_path, seqlab, task, T, baseline):
    out = tmp_path / "probe"
    models = "transformer,lstm,mingru,minlstm,retnet,mamba"
    result = seqlab("probe", "--task", task, "--lengths", str(T), "--models", models, "--layers", "2",
                    "--steps", "2", "--hidden-size", "8", "--n-train", "16", "--n-test", "8", "--out", out)
    assert result.code == 0, result
    assert "higher is better" in result.out and "lower is better" not in result.out
    row = next(csv.DictReader((out / "scores.csv").open()))
    assert float(row["baseline"]) == pytest.approx(baseline, rel=1e-5)
    assert all(0.0 <= float(row[m]) <= 1.0 for m in models.split(","))
    record = json.loads((out / "probe.json").read_text())
    assert record["higher_is_better"] and record["layers"] == 2 and set(record["seconds"]) == set(models.split(","))
    assert "random baseline" in (out / "scores.md").read_text()
    w, h = png_size(out / "scores.png")
    assert w > 300 and h > 200


def test_probe_recall_bad_length_is_one_line(tmp_path, seqlab):
    result = seqlab("probe", "--task", "mqar", "--lengths", "16", "--steps", "1", "--out", tmp_path / "p")
    assert_one_line_error(result, "lengths >= 32")
    assert list(tmp_path.iterdir()) == []
