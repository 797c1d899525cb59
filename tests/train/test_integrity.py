"""Run-folder integrity: every file is recorded with its sha256 in manifest.json and checked when
loaded; NaN/inf weights are refused; --resume applies or refuses every option, holds a lock,
survives a torn metrics line, cleans what a killed run left; SIGTERM is handled like Ctrl-C; a
full disk or a read-only folder is one line with the last good checkpoint intact."""

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqlab.cli.main import main
from seqlab.errors import CheckpointError, ConfigError, DataError
from seqlab.train import RunConfig, TrainConfig, eval_run, load_run, train_run
from seqlab.train import checkpoint as ckpt
from seqlab.train import integrity
from seqlab.train.engine import Trainer
from tests.cli.conftest import Result, assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["cat", "dog", "fox", "owl", "bee", "ant", "elk", "yak"]
TEXT = "".join(f"the {w} sat on the mat; a {w} ran. " for w in WORDS * 12)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return f"file:{path}"


def _rc(data, steps=8, **train):
    t = dict(steps=steps, batch_size=4, block_size=16, eval_interval=4, log_interval=2, warmup_steps=2)
    t.update(train)
    return RunConfig(model="gru", data=data, model_config={"embed_dim": 8, "hidden_size": 12},
                     train=TrainConfig(**t))


@pytest.fixture
def run(tmp_path, corpus):
    """A finished 8-step GRU run."""
    out = tmp_path / "run"
    train_run(_rc(corpus), out, progress=False)
    return out


def _flip_byte(path: Path, offset_from_end: int = 9) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _replant(folder: Path, *names: str) -> None:
    """Rewrite manifest.json as a forger would, so it vouches for the files as they are now."""
    m = json.loads((folder / integrity.MANIFEST).read_text())
    for name in names:
        m["files"][name] = integrity.file_sha256(folder / name)
    (folder / integrity.MANIFEST).write_text(json.dumps(m))


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return Result(code, out, err)


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp-" in p.name)


# ------------------------------------------------------------------ manifest
def test_manifest_lists_every_loadable_file_with_its_sha256(run):
    m = json.loads((run / "manifest.json").read_text())
    assert set(m["files"]) == {"config.json", "tokenizer.json", "model.safetensors", "trainer_state.safetensors",
                               "best/model.safetensors", "best/info.json", "result.json"}
    for name, digest in m["files"].items():
        assert integrity.file_sha256(run / name) == digest, name
    assert "pending" not in m  # no checkpoint half-way
    integrity.verify_files(run)


def test_flipped_byte_in_weights_is_caught_at_load(run, capsys):
    target = run / "best" / "model.safetensors"
    _flip_byte(target)
    flipped = load_file(str(target))  # the file is still valid safetensors: only the hash can tell
    assert all(torch.isfinite(v).all() for v in flipped.values())
    with pytest.raises(CheckpointError, match=r"best/model\.safetensors: sha256 differs"):
        load_run(run, which="best")
    load_run(run, which="last")  # only the files a load reads are checked
    assert_one_line_error(_cli(capsys, "eval", run), "best/model.safetensors", "sha256 differs")


def test_tokenizer_from_another_run_is_refused(tmp_path, run):
    wide = tmp_path / "wide.txt"  # another alphabet: many more symbols than the run's
    wide.write_text("".join(chr(c) for c in range(0x20, 0x250)) * 3 + TEXT, encoding="utf-8")
    other = tmp_path / "other"
    train_run(_rc(f"file:{wide}", steps=2, eval_interval=2), other, progress=False)
    theirs, ours = load_run(other).tokenizer.vocab_size, load_run(run).tokenizer.vocab_size
    assert theirs > 500 and ours < 40
    (run / "tokenizer.json").write_bytes((other / "tokenizer.json").read_bytes())
    with pytest.raises(CheckpointError, match="tokenizer.json: sha256 differs"):
        eval_run(run)
    _replant(run, "tokenizer.json")  # a consistent forgery still does not fit the model
    with pytest.raises(CheckpointError, match=f"tokenizer.json: {theirs} symbols, but the model was built for {ours}"):
        eval_run(run)


def test_nan_or_inf_weights_are_refused_at_load(run):
    model = load_run(run).model
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    integrity.write_files(run, {"model.safetensors": ckpt.weights_writer(model)})  # manifest agrees
    integrity.verify_files(run)
    with pytest.raises(CheckpointError, match="model.safetensors: tensor .* holds NaN or infinite"):
        load_run(run, which="last")
    state = ckpt.load_trainer_state(run / "trainer_state.safetensors")
    integrity.write_files(run, {"trainer_state.safetensors": ckpt.trainer_state_writer(model, None, state["state"])})
    with pytest.raises(CheckpointError, match="trainer_state.safetensors: tensor .* holds NaN"):
        train_run(None, run, resume=True, progress=False)


def test_a_file_missing_or_not_in_the_manifest_is_refused(run):
    (run / "best" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"best/model\.safetensors: missing"):
        train_run(None, run, resume=True, progress=False)
    m = json.loads((run / "manifest.json").read_text())
    m["files"]["../outside"] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="manifest.json: 'files' must map file names inside the run"):
        load_run(run)


def test_crash_between_renames_leaves_a_folder_the_manifest_accepts(run, corpus, monkeypatch):
    before = ckpt.load_trainer_state(run / "trainer_state.safetensors")["state"]["step"]
    real_replace, calls = os.replace, []

    def die_on_second(src, dst):
        if str(dst).endswith(".safetensors"):
            calls.append(dst)
            if len(calls) == 2:
                raise KeyboardInterrupt  # killed after one file of the checkpoint was renamed
        return real_replace(src, dst)

    monkeypatch.setattr(integrity.os, "replace", die_on_second)
    with pytest.raises(KeyboardInterrupt):
        train_run(_rc(corpus, steps=12), run, resume=True, progress=False)
    monkeypatch.undo()
    assert "pending" in json.loads((run / "manifest.json").read_text())
    integrity.verify_files(run)  # old and new files both vouched for
    assert _leftovers(run) == []
    assert ckpt.load_trainer_state(run / "trainer_state.safetensors")["state"]["step"] in (before, 12)
    assert train_run(None, run, resume=True, progress=False).steps == 12
    assert "pending" not in json.loads((run / "manifest.json").read_text())


# ------------------------------------------------------------------ resume
def test_resume_of_a_finished_run_with_corrupt_weights_fails(run, capsys):
    _flip_byte(run / "model.safetensors")
    result = _cli(capsys, "train", "--out", run, "--resume", "--no-progress")
    assert_one_line_error(result, "model.safetensors: sha256 differs")
    assert "resumed" not in result.out


def test_resume_applies_or_refuses_every_option(run, corpus, capsys):
    config = (run / "config.json").read_text()
    for argv, fragment in [(["--lr", "0.1"], "cannot change train option lr"),
                           (["--batch-size", "8"], "cannot change train option batch_size"),
                           (["--model", "lstm"], "cannot change model"),
                           (["--tokenizer", "word"], "cannot change tokenizer"),
                           (["--split", "0.8,0.1,0.1"], "cannot change split"),
                           (["--model", "gru", "--hidden-size", "64"], "cannot change model_config")]:
        assert_one_line_error(_cli(capsys, "train", "--out", run, "--resume", "--no-progress", *argv), fragment)
    assert (run / "config.json").read_text() == config  # nothing was touched
    ok = _cli(capsys, "train", "--out", run, "--resume", "--no-progress", "--steps", "10", "--eval-interval", "5",
              "--model", "gru")
    assert ok.code == 0 and ok.out.startswith("resumed"), ok
    train = json.loads((run / "config.json").read_text())["run"]["train"]
    assert (train["steps"], train["eval_interval"]) == (10, 5)
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if r["val_loss"] is not None] == [4, 8, 10]
    with pytest.raises(ConfigError, match="cannot change data .* pass the spec as data="):
        train_run(_rc("pydoc", steps=10), run, resume=True, progress=False)


def test_resume_with_data_reads_that_spec_and_checks_it_is_the_same_data(tmp_path, run, capsys):
    moved = tmp_path / "moved.txt"
    moved.write_text(TEXT, encoding="utf-8")
    (tmp_path / "corpus.txt").unlink()
    assert_one_line_error(_cli(capsys, "train", "--out", run, "--resume", "--steps", "10"), "corpus.txt")
    changed = tmp_path / "changed.txt"
    changed.write_text(TEXT.replace("cat", "cow"), encoding="utf-8")
    assert_one_line_error(_cli(capsys, "train", "--out", run, "--resume", "--steps", "10", "--data",
                               f"file:{changed}"), "the data changed")
    ok = _cli(capsys, "train", "--out", run, "--resume", "--steps", "10", "--data", f"file:{moved}", "--no-progress")
    assert ok.code == 0, ok
    assert json.loads((run / "config.json").read_text())["run"]["data"] == f"file:{moved}"


def test_second_process_resuming_one_folder_is_refused(run, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(run / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        assert_one_line_error(_cli(capsys, "train", "--out", run, "--resume", "--steps", "12"),
                              "is in use by another seqlab process")
        with pytest.raises(CheckpointError, match="in use"):  # the Trainer itself checks too
            Trainer(load_run(run).model, None, load_run(run).config.train, run_dir=run, resume=True)
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    finally:
        holder.kill()
        holder.wait()
    assert train_run(None, run, resume=True, progress=False).steps == 8  # free again


def test_torn_last_metrics_line_does_not_block_resume(tmp_path, corpus, monkeypatch):
    straight = tmp_path / "straight"
    train_run(_rc(corpus), straight, progress=False)
    cut = tmp_path / "cut"
    original = Trainer._train_step

    def die_at_6(self, *a):
        if self.step == 6:
            raise KeyboardInterrupt
        return original(self, *a)

    monkeypatch.setattr(Trainer, "_train_step", die_at_6)
    with pytest.raises(KeyboardInterrupt):
        train_run(_rc(corpus), cut, progress=False)
    monkeypatch.undo()
    with open(cut / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "elapsed_s": 0.4, "tok')  # the crash hit mid-append
    assert train_run(None, cut, resume=True, progress=False).steps == 8
    rows = [json.loads(line) for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [json.loads(x)["step"] for x in
                                         (straight / "metrics.jsonl").read_text().splitlines()]
    lines = (cut / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, "garbage")
    (cut / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointError, match=r"metrics.jsonl: line 2 is not a metrics row"):
        train_run(_rc(corpus, steps=10), cut, resume=True, progress=False)


def test_leftovers_of_a_killed_run_are_cleaned_by_the_next(tmp_path, run, corpus):
    (run / ".model.safetensors.tmp-k1ll").write_bytes(b"half")
    (run / "best" / ".info.json.tmp-k1ll").write_text("{")
    (run / ".tmp-abc.json").write_text("{")  # a tokenizer's temporary file
    dead = tmp_path / ".run.tmp-dead"
    dead.mkdir()
    (dead / ".lock").touch()
    (dead / "model.safetensors").write_bytes(b"x")
    old_unlocked = tmp_path / ".run.tmp-old"
    old_unlocked.mkdir()
    os.utime(old_unlocked, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / ".run.tmp-live"
    live.mkdir()
    fd = os.open(live / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a stage another process is writing right now
    try:
        train_run(None, run, resume=True, progress=False)
        assert _leftovers(run) == []
        assert not dead.exists() and not old_unlocked.exists() and live.exists()
        (tmp_path / ".new.tmp-dead").mkdir()
        (tmp_path / ".new.tmp-dead" / ".lock").touch()
        train_run(_rc(corpus, steps=2, eval_interval=2), tmp_path / "new", progress=False)
        assert not (tmp_path / ".new.tmp-dead").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == [".run.tmp-live", "corpus.txt", "new", "run"]
    finally:
        os.close(fd)


@pytest.mark.parametrize("when", ["staged", "published"])
def test_sigterm_is_handled_like_ctrl_c(tmp_path, corpus, when):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "seqlab", "--threads", "1", "train", "--model", "gru", "--data", corpus,
            "--out", str(out), "--steps", "100000", "--batch-size", "4", "--block-size", "16",
            "--eval-tokens", "64", "--hidden-size", "8", "--embed-dim", "4", "--no-progress",
            "--eval-interval", "100000" if when == "staged" else "5"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = (lambda: list(tmp_path.glob(".out.tmp-*"))) if when == "staged" else \
        (lambda: (out / "metrics.jsonl").exists() and (out / "manifest.json").exists())
    deadline = time.time() + 60
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ready(), proc.communicate()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines() == ["seqlab: terminated"]
    assert _leftovers(tmp_path) == []
    if when == "staged":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]
    else:
        integrity.verify_files(out)
        assert load_run(out).model is not None


# ------------------------------------------------------------------ full disk, read-only folder
def test_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(run, corpus, capsys, monkeypatch):
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.suffix != ".jsonl" and p.suffix != ".csv"}

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full)
    result = _cli(capsys, "train", "--out", run, "--resume", "--steps", "12", "--no-progress")
    assert_one_line_error(result, "cannot write", "No space left on device", "safetensors")
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in files} == files  # every file of the checkpoint as it was
    assert _leftovers(run) == []
    integrity.verify_files(run)
    assert train_run(None, run, resume=True, progress=False).steps == 8
    assert train_run(_rc(corpus, steps=12), run, resume=True, progress=False).steps == 12


def test_full_disk_on_a_new_run_leaves_nothing(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setattr(integrity.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    result = _cli(capsys, "train", "--model", "gru", "--data", corpus, "--out", tmp_path / "new", "--steps", "2",
                  "--batch-size", "4", "--block-size", "8", "--eval-interval", "2", "--no-progress")
    assert_one_line_error(result, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_read_only_run_folder_is_one_line_and_changes_nothing(run, capsys, monkeypatch):
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    os.chmod(run, 0o500)
    try:
        probe = run / "probe"
        try:  # root ignores the mode bits: then make the folder refuse writes the way a read-only mount does
            probe.touch()
            probe.unlink()
            real = integrity.os.open

            def refuse(path, flags, *a, **k):  # creating a file in the run folder fails as on a read-only mount
                if flags & os.O_CREAT and Path(path).parent.resolve() == run.resolve():
                    raise OSError(errno.EROFS, "Read-only file system")
                return real(path, flags, *a, **k)

            monkeypatch.setattr(integrity.os, "open", refuse)
        except PermissionError:
            pass
        result = _cli(capsys, "train", "--out", run, "--resume", "--steps", "12", "--no-progress")
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result
        assert "Traceback" not in result.err and str(run) in result.err
    finally:
        os.chmod(run, 0o755)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == \
        {p: b for p, b in before.items() if p.name != ".lock"}


# ------------------------------------------------------------------ values read back
def test_malformed_trainer_state_values_are_one_line(run):
    state = ckpt.load_trainer_state(run / "trainer_state.safetensors")
    model = load_run(run).model
    bad = dict(state["state"], step="eight")
    integrity.write_files(run, {"trainer_state.safetensors": ckpt.trainer_state_writer(model, None, bad)})
    with pytest.raises(CheckpointError, match="trainer_state.safetensors: state step = 'eight' is not an integer"):
        train_run(None, run, resume=True, progress=False)
    missing = {k: v for k, v in state["state"].items() if k != "best_val"}
    integrity.write_files(run, {"trainer_state.safetensors": ckpt.trainer_state_writer(model, None, missing)})
    with pytest.raises(CheckpointError, match="no 'best_val' in its state"):
        train_run(None, run, resume=True, progress=False)


def test_a_pre_manifest_run_folder_still_loads(run):
    record = json.loads((run / "config.json").read_text())
    record["version"] = 1
    (run / "config.json").write_text(json.dumps(record))
    (run / "manifest.json").unlink()
    assert load_run(run).tokenizer is not None
    record["version"] = 2
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="no manifest.json"):
        load_run(run)


def test_eval_of_changed_data_is_a_data_error_not_a_wrong_number(run, tmp_path):
    (tmp_path / "corpus.txt").write_text(TEXT.replace("dog", "hog"), encoding="utf-8")
    with pytest.raises(DataError, match="the data changed"):
        eval_run(run)
