"""`seqlab train`, `seqlab eval` and `seqlab generate` end to end on a tiny corpus, plus bad input."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from tests.cli.conftest import assert_one_line_error


def test_train_writes_a_loadable_run(lstm_run):
    from seqlab.train import load_run

    record = json.loads((lstm_run / "config.json").read_text())
    assert record["model"]["name"] == "lstm"
    assert record["model"]["config"]["hidden_size"] == 16 and record["model"]["config"]["embed_dim"] == 8
    assert record["run"]["train"]["steps"] == 6 and record["run"]["train"]["block_size"] == 16
    run = load_run(lstm_run)
    assert run.model.config.cell == "lstm"
    assert run.tokenizer.vocab_size == run.model.config.vocab_size
    assert (lstm_run / "model.safetensors").is_file()


def test_eval_metrics_agree_with_the_model(lstm_run, seqlab):
    from seqlab.data import load_text
    from seqlab.train import load_run

    result = seqlab("eval", lstm_run, "--split", "test", "--json")
    assert result.code == 0, result
    m = json.loads(result.out)
    assert m["bits_per_token"] == pytest.approx(m["loss_nats"] / math.log(2), rel=1e-6)
    assert m["perplexity"] == pytest.approx(math.exp(m["loss_nats"]), rel=1e-6)
    run = load_run(lstm_run, which="best")
    V = run.tokenizer.vocab_size
    assert 0 < m["loss_nats"] < math.log(V) + 1.0  # 6 steps: not yet much better than uniform
    # oracle: the chain rule over the recorded test part, in windows of the run's block size
    test_text = run.split.apply(load_text(run.config.data)).test
    ids = torch.tensor(run.tokenizer.encode(test_text, errors="replace"))
    windows = list(ids.split(16))
    with torch.no_grad():
        nll = -sum(float(run.model.log_prob(w[None])) for w in windows)
    assert m["loss_nats"] == pytest.approx(nll / len(ids), rel=1e-5)
    plain = seqlab("eval", lstm_run)
    assert plain.code == 0 and "bits/token" in plain.out and "perplexity" in plain.out


def test_generate_sample_greedy_beam_stream(lstm_run, seqlab):
    a = seqlab("generate", lstm_run, "--prompt", "the ", "-n", "15", "--seed", "7")
    b = seqlab("generate", lstm_run, "--prompt", "the ", "-n", "15", "--seed", "7")
    assert a.code == 0 and a.out == b.out  # the seed makes sampling repeatable
    assert a.out.startswith("the ") and len(a.out.rstrip("\n")) == len("the ") + 15
    streamed = seqlab("generate", lstm_run, "--prompt", "the ", "-n", "15", "--seed", "7", "--stream")
    assert streamed.code == 0 and streamed.out == a.out  # streaming yields the same tokens
    greedy = seqlab("generate", lstm_run, "--prompt", "a ", "-n", "8", "--temperature", "0")
    one_beam = seqlab("generate", lstm_run, "--prompt", "a ", "-n", "8", "--beams", "1", "--temperature", "0")
    assert greedy.out == one_beam.out
    beams = seqlab("generate", lstm_run, "--prompt", "a ", "-n", "8", "--beams", "3")
    assert beams.code == 0 and beams.out.startswith("a ")


@pytest.mark.parametrize("argv, fragments", [
    (["--prompt", "the QX"], ["'Q'", "'X'"]),
    (["--prompt", "x", "-n", "ten"], ["-n", "'ten'"]),
    (["--prompt", "x", "--top-p", "1.5"], ["--top-p"]),
    (["--prompt", "x", "--temperature", "-1"], ["--temperature"]),
])
def test_generate_bad_input(lstm_run, seqlab, argv, fragments):
    assert_one_line_error(seqlab("generate", lstm_run, *argv), *fragments)


def test_not_a_run_folder(tmp_path, seqlab):
    (tmp_path / "notes.txt").write_text("hello")
    for command in (["eval", tmp_path], ["generate", tmp_path, "--prompt", "a"],
                    ["attention", tmp_path, "--text", "a"], ["eval", tmp_path / "missing"]):
        assert_one_line_error(seqlab(*command), str(tmp_path))


@pytest.mark.parametrize("argv, fragments", [
    (["--model", "hmm"], ["--model", "'hmm'"]),
    (["--model", "lstm", "--hidden-size", "wide"], ["--hidden-size", "'wide'"]),
    (["--model", "lstm", "--lr", "-3"], ["lr"]),
    (["--model", "lstm", "--data", "nokind:1"], ["unknown data spec"]),
    (["--model", "lstm", "--data", "file:/nonexistent.txt"], ["/nonexistent.txt"]),
    (["--model", "lstm", "--steps", "0"], ["steps"]),
    (["--model", "lstm", "--dropout", "2"], ["dropout"]),
])
def test_train_bad_input_leaves_no_folder(tmp_path, seqlab, corpus, argv, fragments):
    argv = list(argv)
    if "--data" not in argv:
        argv += ["--data", f"file:{corpus}"]
    result = seqlab("train", "--out", tmp_path / "run", "--steps", "2", "--no-progress", *argv)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_train_help_lists_model_options(seqlab):
    result = seqlab("train", "--model", "transformer", "--help")
    assert result.code == 0
    assert "--d-model" in result.out and "--n-head" in result.out and "--time-budget" in result.out
    assert "example" in result.out


def test_resume_continues_to_more_steps(tmp_path, seqlab, corpus):
    out = tmp_path / "run"
    common = ["--batch-size", "4", "--block-size", "8", "--eval-interval", "2", "--eval-tokens", "64",
              "--no-progress"]
    first = seqlab("train", "--model", "gru", "--data", f"file:{corpus}", "--out", out, "--steps", "2",
                   "--hidden-size", "8", "--embed-dim", "4", *common)
    assert first.code == 0, first
    assert json.loads((out / "result.json").read_text())["steps"] == 2
    again = seqlab("train", "--out", out, "--resume", "--steps", "4", "--no-progress")
    assert again.code == 0, again
    assert json.loads((out / "result.json").read_text())["steps"] == 4
    assert_one_line_error(seqlab("train", "--out", tmp_path / "none", "--resume"), "not a run folder")
    assert_one_line_error(seqlab("train", "--out", tmp_path / "new", "--data", "pydoc"), "--model is required")


def test_cli_generation_flags(lstm_run, seqlab, tmp_path):
    (tmp_path / "prompt.txt").write_text("the model\n")
    a = seqlab("generate", lstm_run, "--prompt-file", tmp_path / "prompt.txt", "-n", "10", "--seed", "1",
               "--num-samples", "2", "--repetition-penalty", "1.3")
    assert a.code == 0, a
    samples = re.split(r"--- sample \d of 2 ---\n", a.out)[1:]  # a sample may hold newlines itself
    assert len(samples) == 2 and all(s.startswith("the model") and len(s) == 9 + 10 + 1 for s in samples), a.out
    b = seqlab("generate", lstm_run, "--prompt", "the ", "-n", "10", "--beams", "3", "--no-repeat-ngram-size", "2")
    assert b.code == 0 and b.out.startswith("the "), b
    note = seqlab("generate", lstm_run, "--prompt", "the ", "-n", "5", "--top-k", "999", "--seed", "1")
    assert note.code == 0 and "note: top_k=999 is larger than the vocabulary" in note.err
    assert_one_line_error(seqlab("generate", lstm_run, "--beams", "4", "--temperature", "0.8"), "--beams 4",
                          "--temperature")
    assert_one_line_error(seqlab("generate", lstm_run, "--length-penalty", "2"), "beam search only")
    assert_one_line_error(seqlab("generate", lstm_run, "--prompt-file", tmp_path / "none.txt"), "prompt file not found")
    last = seqlab("eval", lstm_run, "--last", "--json")
    assert last.code == 0 and last.out.count("\n") == 1  # --json: the object alone on stdout
    plain = seqlab("eval", lstm_run)
    assert plain.out.splitlines()[-1].startswith(f"next: seqlab generate {lstm_run}")


def test_closed_form_models_refuse_training_options_they_would_ignore(tmp_path, seqlab, corpus):
    from tests.cli.conftest import assert_one_line_error

    result = seqlab("train", "--model", "markov", "--data", f"file:{corpus}", "--out", tmp_path / "m",
                    "--lr", "0.1", "--steps", "5", "--no-progress")
    assert_one_line_error(result, "closed form", "--lr", "--steps")
    assert not (tmp_path / "m").exists()
    ok = seqlab("train", "--model", "markov", "--data", f"file:{corpus}", "--out", tmp_path / "k",
                "--block-size", "32", "--order", "2", "--no-progress")
    assert ok.code == 0 and "nan" not in ok.out
