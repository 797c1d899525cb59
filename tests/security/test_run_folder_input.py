"""A run folder is untrusted input. A data spec recorded in its config.json never downloads and
never says where files go (cache_dir); downloads land only in the cache under a name seqlab
chooses; every value read from config.json or tokenizer.json is checked, with one-line errors that
name the file. Files are served on 127.0.0.1 (no network)."""

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import seqlab.data.download as dl
from seqlab.cli.main import main
from seqlab.data import load_text
from seqlab.data.spec import recorded_spec
from seqlab.errors import DataError
from seqlab.train import RunConfig, TrainConfig, eval_run, load_run, train_run
from seqlab.train import integrity
from tests.cli.conftest import Result, assert_one_line_error
from tests.http_files import serve_files

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
TEXT = "".join(f"the {w} sat on the mat; a {w} ran. " for w in ["cat", "dog", "fox", "owl", "bee", "ant"] * 14)
PAYLOAD = "import pathlib; pathlib.Path('PWNED').write_text('code ran')\n"  # what a planted .pth would run
FILES = {"/corpus.txt": TEXT.encode(), "/evil.pth": PAYLOAD.encode(), "/a/..%2F..%2Fevil.pth": PAYLOAD.encode()}


@pytest.fixture()
def http_server():
    with serve_files(FILES) as served:
        yield served


@pytest.fixture()
def server(http_server):
    return http_server.url


def _rc(data: str) -> RunConfig:
    return RunConfig(model="gru", data=data, model_config={"embed_dim": 4, "hidden_size": 8},
                     train=TrainConfig(steps=2, batch_size=4, block_size=8, eval_interval=2, eval_tokens=64,
                                       warmup_steps=0))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny finished run on a local file (copied by each test that changes it)."""
    root = tmp_path_factory.mktemp("trained")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    train_run(_rc(f"file:{root / 'corpus.txt'}"), root / "run", progress=False)
    return root / "run"


def _plant(folder: Path, **changes) -> None:
    """Edit config.json as an attacker would, and rewrite manifest.json to vouch for it."""
    run = folder
    record = json.loads((run / "config.json").read_text())
    for dotted, value in changes.items():
        node, *path, last = [record] + dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    (run / "config.json").write_text(json.dumps(record))
    m = json.loads((run / "manifest.json").read_text())
    m["files"]["config.json"] = integrity.file_sha256(run / "config.json")
    (run / "manifest.json").write_text(json.dumps(m))


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every path under root (outside `skip`) with its size and mtime."""
    out = {}
    for p in root.rglob("*"):
        if not any(p == s or s in p.parents for s in skip):
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def _seqlab(*argv, cwd: Path, env: dict) -> Result:
    proc = subprocess.run([str(PYTHON), "-m", "seqlab", "--threads", "1", *map(str, argv)], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
                          timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_planted_run_folder_writes_nothing_outside_the_run_and_the_cache(http_server, tmp_path, trained, server):
    run = tmp_path / "received" / "run"
    shutil.copytree(trained, run)
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"  # where a .pth would run at start-up
    site.mkdir(parents=True)
    cache, home, cwd = tmp_path / "cache", tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {"SEQLAB_CACHE": str(cache), "HOME": str(home)}
    _plant(run, **{"run.data": f"url:{server}/evil.pth;cache_dir={site}"})
    before = _snapshot(tmp_path, skip=(run, cache))
    for argv in (["eval", run], ["train", "--out", run, "--resume", "--steps", "4", "--no-progress"]):
        result = _seqlab(*argv, cwd=cwd, env=env)
        assert_one_line_error(result, str(run / "config.json"), "cache_dir=", "--data SPEC")
    assert http_server.hits == []
    assert _snapshot(tmp_path, skip=(run, cache)) == before
    assert list(site.iterdir()) == [] and not list(tmp_path.rglob("*.pth")) and not list(tmp_path.rglob("PWNED"))

    _plant(run, **{"run.data": f"url:{server}/evil.pth"})  # no location: still no download
    result = _seqlab("eval", run, cwd=cwd, env=env)
    assert_one_line_error(result, str(run / "config.json"), "never downloads", "--data")
    assert http_server.hits == [] and not cache.exists()
    assert _snapshot(tmp_path, skip=(run, cache)) == before


def test_recorded_url_spec_reads_only_what_is_cached(http_server, tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    spec = f"url:{server}/corpus.txt"
    run = tmp_path / "run"
    train_run(_rc(spec), run, progress=False)  # the user asked for this download
    assert http_server.hits == ["/corpus.txt"]
    cached = eval_run(run)  # the recorded spec reads the cached file
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(DataError, match="never downloads: pass the spec with --data"):
        eval_run(run)
    with pytest.raises(DataError, match="never downloads"):
        train_run(None, run, resume=True, progress=False)
    code = main(["eval", str(run)])
    assert_one_line_error(Result(code, *capsys.readouterr()), str(run / "config.json"), "never downloads")
    assert http_server.hits == ["/corpus.txt"]
    assert eval_run(run, data_spec=spec).tokens > 0  # given on the command line: it may download
    assert train_run(None, run, resume=True, progress=False, data=spec).steps == 2
    assert http_server.hits == ["/corpus.txt", "/corpus.txt"]
    assert eval_run(run) == cached  # cached again, so the recorded spec reads it


def test_downloads_land_in_the_cache_under_a_name_seqlab_chooses(tmp_path, server):
    cache = tmp_path / "cache"
    for path in ("/evil.pth", "/a/..%2F..%2Fevil.pth"):
        got = dl.fetch(f"{server}{path}", cache_dir=cache)
        assert got.parent == cache and got.suffix == ".data" and "/" not in got.name
        assert got.read_bytes() == PAYLOAD.encode()
    names = sorted(p.name for p in cache.iterdir())
    assert all(n.endswith((".data", ".data.sha256")) for n in names), names
    assert not list(tmp_path.rglob("*.pth"))


@pytest.mark.parametrize("spec", ["url:{server}/corpus.txt;cache_dir={elsewhere}", "tinyshakespeare;cache_dir={elsewhere}"])
def test_a_recorded_spec_may_not_choose_a_location(http_server, tmp_path, server, spec):
    spec = spec.format(server=server, elsewhere=tmp_path / "elsewhere")
    with recorded_spec(tmp_path / "config.json"):
        with pytest.raises(DataError, match=r"config.json: the recorded data spec .* sets cache_dir="):
            load_text(spec)
    assert http_server.hits == [] and not (tmp_path / "elsewhere").exists()
    assert load_text(f"url:{server}/corpus.txt;cache_dir={tmp_path / 'elsewhere'}") == TEXT  # the user may


BAD_VALUES = [
    ({"run.train.lr": "fast"}, "run.train.lr: expected a number, got 'fast'"),
    ({"run.train.steps": 2.5}, "run.train.steps: expected an integer, got 2.5"),
    ({"run.train.batch_size": 0}, "train option batch_size must be a positive integer"),
    ({"run.train.amp": "yes"}, "run.train.amp: expected true or false"),
    ({"run.train.warp": 9}, "unknown train option(s) warp"),
    ({"run.split": "abc"}, "run.split: expected a list of numbers"),
    ({"run.data": 7}, "run.data: expected a string, got 7"),
    ({"run.model": "lstm"}, "run.model 'lstm' differs from model.name 'gru'"),
    ({"run": []}, "run: expected a JSON object"),
    ({"run.train": [1]}, "run.train: expected a JSON object"),
    ({"model.config": None}, "model: expected a name (string) and a config (JSON object)"),
    ({"model.name": "nonesuch", "run.model": "nonesuch"}, "nonesuch"),
    ({"model.config.hidden_size": "big"}, "model.config.hidden_size: expected an integer, got 'big'"),
    ({"data_kind": 5}, "data_kind: expected one of"),
    ({"tokenizer": 7}, "tokenizer: expected a string or null"),
    ({"split": {"boundaries": "x"}}, "not a recorded split"),
    ({"split": [1, 2]}, "split: expected a JSON object"),
    ({"version": "2"}, "version: expected a positive integer"),
    ({"version": 99}, "written by a newer seqlab"),
]


@pytest.mark.parametrize("changes,fragment", BAD_VALUES, ids=[next(iter(c)) + "=" + repr(next(iter(c.values())))
                                                               for c, _ in BAD_VALUES])
def test_malformed_config_values_are_one_line_errors_naming_the_file(tmp_path, trained, capsys, changes, fragment):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    _plant(run, **changes)
    for argv in (["eval", run], ["generate", run, "-n", "3"], ["train", "--out", run, "--resume"]):
        code = main([str(a) for a in argv])
        assert_one_line_error(Result(code, *capsys.readouterr()), str(run / "config.json"), fragment)


@pytest.mark.parametrize("tokenizer,fragment", [
    ("not json", "tokenizer.json: not a tokenizer JSON file"),
    ({"kind": "word", "itos": []}, "a word tokenizer, but config.json records 'char'"),
    ({"kind": "char", "itos": [1, 2, 3], "unk": None}, "holds a symbol that is not a string"),
    ({"kind": "char", "itos": ["a", "b"], "unk": None}, "2 symbols, but the model was built for"),
])
def test_malformed_tokenizer_is_one_line_error_naming_the_file(tmp_path, trained, capsys, tokenizer, fragment):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "tokenizer.json").write_text(tokenizer if isinstance(tokenizer, str) else json.dumps(tokenizer))
    m = json.loads((run / "manifest.json").read_text())
    m["files"]["tokenizer.json"] = integrity.file_sha256(run / "tokenizer.json")
    (run / "manifest.json").write_text(json.dumps(m))
    code = main(["eval", str(run)])
    assert_one_line_error(Result(code, *capsys.readouterr()), "tokenizer.json", fragment)


def test_a_valid_run_still_loads_after_the_checks(trained):
    run = load_run(trained)
    assert run.config == RunConfig.from_dict(copy.deepcopy(run.record["run"]))
    integrity.verify_files(trained)
