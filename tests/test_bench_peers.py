"""Smoke test of benchmarks/bench_peers.py: every row runs in --quick mode and its tables have the
promised shape (timings are not checked: speed is measured by `make bench`, never by tests)."""

import importlib.util
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "benchmarks" / "bench_peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tables(text):
    """{title: rows (lists of cells)} of the '#### title' Markdown tables in text."""
    out, title = {}, None
    for line in text.splitlines():
        if line.startswith("#### "):
            title = line[5:]
            out[title] = []
        elif line.startswith("|") and title is not None:
            out[title].append([c.strip() for c in line.strip("|").split("|")])
    return out


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)  # the benchmark sets its own thread count


def test_quick_run_writes_every_row(tmp_path, capsys, keep_threads):
    bench = load_bench()
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\nbefore\n{bench.BEGIN}\nold table\n{bench.END}\nafter\n")
    bench.main(["--quick", "--rounds", "1", "--steps", "3", "--write", str(doc)])
    printed = capsys.readouterr().out
    written = doc.read_text()
    assert written.startswith("# Benchmarks\nbefore\n") and written.endswith(f"{bench.END}\nafter\n")
    assert "old table" not in written and printed.strip() in written
    found = tables(printed)
    expected = ["Transformer LM training step", "Recurrent LM training step", "Markov trigram",
                "LinearAR fit", "Decoding", "Peak memory"]
    assert [next(t for t in found if t.startswith(e)) for e in expected]  # each row has its table
    assert len(found) == len(expected)
    for title, rows in found.items():
        assert len(rows) >= 3, title  # header, separator, at least one result
        assert all(len(r) == len(rows[0]) for r in rows), title  # rectangular
        assert all(re.fullmatch(r":?-+:?", c) for c in rows[1]), title
    train = next(rows for t, rows in found.items() if t.startswith("Transformer"))
    assert [(r[0], r[1]) for r in train[2:]] == [("eager", "torch GPT"), ("eager", "seqlab"),
                                                 ("bound", "the step's GEMMs alone")]
    assert all(r[4].endswith("x") and r[5].endswith("%") for r in train[2:])
    markov = next(rows for t, rows in found.items() if t.startswith("Markov"))
    assert markov[2][3] == markov[3][3]  # the same perplexity under nltk's conventions
    decode = next(rows for t, rows in found.items() if t.startswith("Decoding"))
    names = [r[0] for r in decode[2:-1]]
    assert names[:6] == ["transformer", "lstm", "gru", "rnn", "neural-ar", "markov"]
    assert set(names[6:]) <= {"mingru", "minlstm", "retnet", "mamba"}  # registered recurrent families
    assert decode[-1][0].startswith("transformer: one full recompute")


def test_write_refuses_a_file_without_markers(tmp_path, capsys):
    bench = load_bench()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# no markers here\n")
    with pytest.raises(SystemExit) as exit_info:
        bench.write_between_markers(str(doc), "table")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bench_peers:begin" in err and str(doc) in err
    assert doc.read_text() == "# no markers here\n"
    with pytest.raises(SystemExit) as exit_info:  # a missing file is refused before anything runs
        bench.main(["--quick", "--write", str(tmp_path / "missing.md")])
    assert exit_info.value.code == 2 and "no such file" in capsys.readouterr().err
