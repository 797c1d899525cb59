"""The command-line framework: help with examples, one-line errors, exit codes, the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli.main import COMMANDS
from tests.cli.conftest import assert_one_line_error

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(seqlab, command):
    result = seqlab(command, "--help")
    assert result.code == 0
    assert f"usage: seqlab {command}" in result.out
    assert "example" in result.out and f"seqlab {command}" in result.out.split("example", 1)[1]


def test_no_command_prints_help_and_exits_2(seqlab):
    result = seqlab()
    assert result.code == 2 and "compare" in result.out


def test_unknown_command(seqlab):
    assert_one_line_error(seqlab("fly"), "invalid choice: 'fly'")


def test_keyboard_interrupt_exits_130(seqlab, monkeypatch):
    from seqlab.cli import eval as eval_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval_cmd, "run", interrupted)
    result = seqlab("eval", "somewhere")
    assert result.code == 130 and result.err.strip() == "seqlab: interrupted"


def test_missing_file_is_one_line(seqlab, monkeypatch):
    from seqlab.cli import eval as eval_cmd

    def missing(args):
        open("/nonexistent/file.txt")

    monkeypatch.setattr(eval_cmd, "run", missing)
    assert_one_line_error(seqlab("eval", "x"), "file not found: /nonexistent/file.txt")


def _console(*argv, cwd):
    """The installed console script if present, else `python -m seqlab` (same entry point)."""
    script = Path(sys.executable).parent / "seqlab"
    cmd = [str(script), *argv] if script.exists() else [sys.executable, "-m", "seqlab", *argv]
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_console_script_end_to_end(tmp_path, corpus):
    bad = _console("compare", "--budget", "later", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "seqlab: error: argument --budget: expected a number, got 'later' (see 'seqlab compare --help')"]
    ok = _console("compare", "--data", f"file:{corpus}", "--models", "markov", "--size", "tiny",
                  "--budget", "1", "--block-size", "16", "--val-tokens", "160", "--max-order", "2",
                  cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "| rank | model" in ok.stdout
    boards = list((tmp_path / "runs").glob("compare-*"))  # the default out folder
    assert len(boards) == 1 and (boards[0] / "leaderboard.csv").is_file()
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]
