"""Shared fixtures for the CLI tests: a tiny corpus, a trained tiny run, and a runner that
captures exit status, stdout and stderr of `seqlab.cli.main.main` in-process."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest

from seqlab.cli.main import main

WORDS = ("the model reads the past and predicts the next token ; a recurrent state "
         "summarises the history while attention looks back at every step").split()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """~12k characters of word salad over a small fixed alphabet (deterministic)."""
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) for _ in range(260)]
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"Result(code={self.code}, err={self.err!r})"


@pytest.fixture
def seqlab(capsys):
    """seqlab(*argv) -> Result(code, out, err), running main() in this process."""

    def run(*argv) -> Result:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def lstm_run(tmp_path_factory, corpus) -> Path:
    """A tiny LSTM run folder trained by `seqlab train` (shared by eval/generate tests)."""
    out = tmp_path_factory.mktemp("runs") / "lstm"
    code = main(["train", "--model", "lstm", "--data", f"file:{corpus}", "--out", str(out),
                 "--steps", "6", "--batch-size", "4", "--block-size", "16", "--eval-interval", "3",
                 "--eval-tokens", "256", "--hidden-size", "16", "--embed-dim", "8", "--no-progress"])
    assert code == 0
    return out


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG after checking its signature and IHDR CRC."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29]) & 0xFFFFFFFF
    return struct.unpack(">II", data[16:24])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, exactly one stderr line `seqlab: error: ...` naming the problem."""
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("seqlab: error: "), lines[0]
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
