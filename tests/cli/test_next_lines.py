"""Every long command ends with a `next:` line naming a real follow-up, and shows progress lines
when its output is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CASES = {
    "forecast": ["forecast", "--model", "gru", "--data", "sine;length=300", "--horizon", "8", "--steps", "30",
                 "--hidden-size", "8", "--samples", "20", "--ks", "1,4"],
    "seq2seq": ["seq2seq", "--task", "copy;max_len=4", "--n", "200", "--steps", "30", "--batch-size", "16",
                "--hidden-size", "16", "--beams", "1", "--max-test", "20"],
    "probe": ["probe", "--task", "adding", "--lengths", "6", "--models", "rnn", "--steps", "20",
              "--hidden-size", "8", "--n-train", "64", "--n-test", "32"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_next_line_and_piped_progress(tmp_path, name):
    env = dict(os.environ, SEQLAB_PROGRESS_SECONDS="0")  # a plain progress line at every update
    argv = [sys.executable, "-m", "seqlab", "--threads", "1", *CASES[name], "--out", str(tmp_path / "out")]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("next: ") and "seqlab " in last
    assert "\r" not in proc.stderr  # piped: plain lines, no bar redraws
    assert any("ETA" in line for line in proc.stderr.splitlines()), proc.stderr[-500:]
