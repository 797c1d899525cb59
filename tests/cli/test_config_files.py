"""Config files (`--config`, `--print-config`, `--from`), help lines from the dataclass field docs,
progress lines when piped, "next:" lines, the default --out, and the files' modes."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Literal

import pytest
import yaml

from seqlab.cli.config_file import read_config_file
from seqlab.cli.main import build_parser
from tests.cli.conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "gru", "steps": 4, "batch_size": 4, "block_size": 16, "eval_interval": 2, "eval_tokens": 128,
        "hidden_size": 8, "embed_dim": 4, "split": [0.8, 0.1, 0.1]}


def _write(path: Path, values: dict) -> Path:
    if path.suffix == ".toml":
        lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]  # JSON scalars/lists are TOML too
        path.write_text("\n".join(lines) + "\n")
    elif path.suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_config_file_round_trips_through_print_config(tmp_path, corpus, seqlab, suffix):
    cfg = _write(tmp_path / f"run{suffix}", {**TINY, "data": f"file:{corpus}"})
    first = seqlab("train", "--config", cfg, "--print-config")
    assert first.code == 0, first
    printed = tomllib.loads(first.out)
    for key, value in {**TINY, "data": f"file:{corpus}"}.items():
        assert printed[key] == value, key
    assert printed["lr"] == 3e-3 and printed["num_layers"] == 1  # defaults resolved too
    again = tmp_path / "printed.toml"
    again.write_text(first.out)
    assert seqlab("train", "--config", again, "--print-config").out == first.out  # a fixed point
    as_json = seqlab("train", "--config", again, "--print-config", "json")
    assert json.loads(as_json.out) == printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["printed.toml", f"run{suffix}"]  # nothing trained


def test_flags_override_the_file_and_training_uses_it(tmp_path, corpus, seqlab):
    cfg = _write(tmp_path / "run.toml", {**TINY, "data": f"file:{corpus}"})
    out = tmp_path / "run"
    result = seqlab("train", "--config", cfg, "--steps", "2", "--out", out, "--no-progress")
    assert result.code == 0, result
    run = json.loads((out / "config.json").read_text())["run"]
    assert run["train"]["steps"] == 2 and run["train"]["batch_size"] == 4  # flag wins, file fills in
    assert run["model_config"]["hidden_size"] == 8 and run["split"] == [0.8, 0.1, 0.1]


@pytest.mark.parametrize("values, fragments", [
    ({"hidden_size": "big"}, ["run.toml", "hidden_size", "expected an integer, got 'big'"]),
    ({"steps": 2.5}, ["run.toml", "steps", "expected an integer"]),
    ({"positions": 3}, ["run.toml", "unknown key 'positions'"]),
    ({"hiden_size": 8}, ["run.toml", "unknown key 'hiden_size'", "did you mean 'hidden_size'"]),
    ({"tokenizer": "morse"}, ["run.toml", "tokenizer", "invalid choice"]),
    ({"amp": "maybe"}, ["run.toml", "amp", "expected true or false"]),
    ({"config": "other.toml"}, ["run.toml", "only on the command line"]),
])
def test_bad_keys_and_types_are_one_line_errors_naming_the_file(tmp_path, corpus, seqlab, values, fragments):
    cfg = _write(tmp_path / "run.toml", {**TINY, "data": f"file:{corpus}", **values})
    assert_one_line_error(seqlab("train", "--config", cfg, "--out", tmp_path / "out"), *fragments)
    assert not (tmp_path / "out").exists()


def test_unreadable_config_files_are_one_line_errors(tmp_path, seqlab):
    (tmp_path / "bad.toml").write_text("steps = = 3\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "run.ini").write_text("")
    assert_one_line_error(seqlab("train", "--config", tmp_path / "bad.toml"), "bad.toml", "not valid TOML")
    assert_one_line_error(seqlab("train", "--config", tmp_path / "list.json"), "list.json", "expected a mapping")
    assert_one_line_error(seqlab("train", "--config", tmp_path / "run.ini"), "run.ini", ".toml, .json, .yaml")
    assert_one_line_error(seqlab("train", "--config", tmp_path / "none.toml"), "config file not found")
    assert read_config_file(_write(tmp_path / "ok.yaml", {"steps": 3})) == {"steps": 3}


def test_from_reruns_a_recorded_run(tmp_path, lstm_run, seqlab):
    recorded = json.loads((lstm_run / "config.json").read_text())["run"]
    printed = tomllib.loads(seqlab("train", "--from", lstm_run, "--print-config").out)
    assert printed["model"] == "lstm" and printed["data"] == recorded["data"]
    assert {k: printed[k] for k in recorded["train"] if recorded["train"][k] is not None} == \
        {k: v for k, v in recorded["train"].items() if v is not None}
    assert printed["hidden_size"] == recorded["model_config"]["hidden_size"]
    out = tmp_path / "again"
    result = seqlab("train", "--from", lstm_run, "--seed", "1", "--out", out, "--no-progress")
    assert result.code == 0, result
    again = json.loads((out / "config.json").read_text())["run"]
    assert again["train"] == {**recorded["train"], "seed": 1} and again["model_config"] == recorded["model_config"]
    assert_one_line_error(seqlab("train", "--from", tmp_path / "nothing"), "run folder not found")


def test_compare_from_rebuilds_the_setup_and_checks_every_value(tmp_path, seqlab):
    folder = tmp_path / "cmp"
    folder.mkdir()
    setup = {"data": "pydoc", "models": ["markov", "lstm"], "seeds": 2, "budgets": [2e9], "size": "tiny",
             "sample_tokens": 5, "jobs": 2, "threads": 1, "run_root": None, "prompt": None}
    (folder / "setup.json").write_text(json.dumps({"setup": setup}))
    argv = ["compare", "--from", str(folder), "--seeds", "3"]
    args = build_parser(argv).parse_args(argv)
    assert (args.models, args.budget, args.size, args.sample_tokens) == (["markov", "lstm"], 2e9, "tiny", 5)
    assert args.budgets is None  # one recorded budget is --budget's default, so a --budget given overrides it
    assert args.seeds == 3  # the flag overrides the record
    for bad, fragment in [({"seeds": "two"}, "seeds: expected an integer, got 'two'"),
                          ({"size": "huge"}, "size: invalid choice"),
                          ({"modells": ["lstm"]}, "unknown key 'modells'")]:
        (folder / "setup.json").write_text(json.dumps({"setup": {**setup, **bad}}))
        assert_one_line_error(seqlab("compare", "--from", folder), "setup.json", fragment)
    assert_one_line_error(seqlab("compare", "--from", tmp_path), "has no setup.json")


def test_help_lines_say_what_unit_and_default(seqlab):
    from seqlab.cli.options import add_dataclass_options, field_docs
    from seqlab.train.config import TrainConfig

    docs = field_docs(TrainConfig)
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= set(docs)  # every field documented
    parser = build_parser(["train"])
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    helps = {a.dest: a.help for a in train._actions}
    assert helps["train_time_budget"].startswith("seconds of training") and helps["train_time_budget"].endswith(
        "(default: none)")
    assert helps["train_lr"].endswith("(default: 0.003)") and "learning rate" in helps["train_lr"]

    @dataclasses.dataclass
    class Demo:
        positions: Literal["sinusoidal", "learned"] = "sinusoidal"  # how positions are encoded
        cell: str = dataclasses.field(default="lstm", metadata={"choices": ("rnn", "lstm"), "help": "the cell"})
        rate: float = 0.5  # dropout, 50% at most

    import argparse

    p = argparse.ArgumentParser()
    add_dataclass_options(p, Demo)
    text = p.format_help()
    assert "--positions {sinusoidal,learned}" in text and "how positions are encoded (default: sinusoidal)" in text
    assert "--cell {rnn,lstm}" in text and "the cell (default: lstm)" in text
    assert "dropout, 50% at most (default: 0.5)" in text
    assert "loss_curve.png" in seqlab("train", "--help").out and "loss.png" not in seqlab("train", "--help").out


def test_piped_train_prints_periodic_progress_lines_and_next(tmp_path, corpus):
    env = {**os.environ, "SEQLAB_PROGRESS_SECONDS": "0"}  # a line at every log point instead of every 10 s
    proc = subprocess.run([sys.executable, "-m", "seqlab", "--threads", "1", "train", "--model", "gru", "--data",
                           f"file:{corpus}", "--steps", "6", "--log-interval", "2", "--batch-size", "4",
                           "--block-size", "16", "--eval-interval", "3", "--eval-tokens", "128", "--hidden-size",
                           "8", "--embed-dim", "4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("train: ")]
    assert len(lines) >= 3, proc.stderr
    assert re.match(r"train: step 2/6 \(33%\)  loss [\d.]+  lr [\d.e-]+  tokens/s [\d,]+  elapsed \d+:\d\d  ETA \d+:\d\d$",
                    lines[0]), lines[0]
    assert lines[-1].startswith("train: step 6/6 (100%)") and "\r" not in proc.stderr
    runs = list((tmp_path / "runs").glob("train-gru-*"))  # the default --out
    assert len(runs) == 1 and (runs[0] / "config.json").is_file()
    out = proc.stdout.splitlines()
    assert out[-1] == f"next: seqlab generate {Path('runs') / runs[0].name} -n 200 --temperature 0.8   or   " \
                      f"seqlab eval {Path('runs') / runs[0].name}"
    quiet = subprocess.run([sys.executable, "-m", "seqlab", "--threads", "1", "train", "--from", str(runs[0]),
                            "--out", "q"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and len([x for x in quiet.stderr.splitlines() if x.startswith("train: ")]) == 1


def test_run_folders_get_the_umask_and_name_no_temporary_folder(tmp_path, corpus, seqlab):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert seqlab("train", "--model", "gru", "--data", f"file:{corpus}", "--out", out, "--steps", "2",
                      "--batch-size", "4", "--block-size", "16", "--eval-interval", "2", "--hidden-size", "8",
                      "--no-progress").code == 0
    finally:
        os.umask(old)
    assert oct(out.stat().st_mode & 0o777) == oct(0o755) and oct((out / "best").stat().st_mode & 0o777) == oct(0o755)
    for p in out.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o644, p
            assert b".tmp-" not in p.read_bytes(), p  # no file names a staging folder that is gone
