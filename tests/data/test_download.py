"""url: specs against a local HTTP server on 127.0.0.1 (tests never touch the network)."""

import hashlib

import pytest

import seqlab.data.download as dl
from seqlab.data import load_text
from seqlab.errors import DataError
from tests.http_files import serve_files

FILES = {"/corpus.txt": "To be, or not to be\n".encode(), "/bad.txt": b"ok\n\xc3("}


@pytest.fixture()
def http_server():
    with serve_files(FILES) as served:
        yield served


@pytest.fixture()
def server(http_server):
    return http_server.url


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_downloads_once_then_reads_the_cache(server, http_server, tmp_path):
    url = f"{server}/corpus.txt"
    assert load_text(f"url:{url}", cache_dir=tmp_path) == "To be, or not to be\n"
    assert load_text(f"url:{url}", cache_dir=tmp_path) == "To be, or not to be\n"
    assert http_server.hits.count("/corpus.txt") == 1
    cached = dl.cache_path(url, tmp_path)
    assert cached.read_bytes() == FILES["/corpus.txt"]
    assert cached.with_name(cached.name + ".sha256").read_text().strip() == _sha(FILES["/corpus.txt"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_cache_dir_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "env-cache"))
    load_text(f"url:{server}/corpus.txt")
    assert dl.cache_path(f"{server}/corpus.txt").parent == tmp_path / "env-cache"
    assert dl.cache_path(f"{server}/corpus.txt").exists()


def test_expected_sha256_is_checked(server, tmp_path):
    url = f"{server}/corpus.txt"
    good = _sha(FILES["/corpus.txt"])
    assert load_text(f"url:{url};sha256={good}", cache_dir=tmp_path).startswith("To be")
    wrong = "0" * 64
    other = tmp_path / "other"
    with pytest.raises(DataError, match="sha256 mismatch"):
        load_text(f"url:{url};sha256={wrong}", cache_dir=other)
    assert not dl.cache_path(url, other).exists()  # a bad download is not kept


def test_corrupted_cache_is_fetched_again(server, http_server, tmp_path):
    url = f"{server}/corpus.txt"
    load_text(f"url:{url}", cache_dir=tmp_path)
    dl.cache_path(url, tmp_path).write_bytes(b"truncated")
    assert load_text(f"url:{url}", cache_dir=tmp_path) == "To be, or not to be\n"
    assert http_server.hits.count("/corpus.txt") == 2


def test_http_error_and_bad_scheme_are_data_errors(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404"):
        load_text(f"url:{server}/missing.txt", cache_dir=tmp_path)
    with pytest.raises(DataError, match="only http"):
        load_text("url:ftp://example.org/a.txt", cache_dir=tmp_path)
    with pytest.raises(DataError, match="download failed"):
        load_text("url:http://127.0.0.1:1/x.txt", cache_dir=tmp_path, timeout=2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_bad_utf8_from_url_names_url_and_offset(server, tmp_path):
    with pytest.raises(DataError, match=r"bad\.txt.*byte offset 3"):
        load_text(f"url:{server}/bad.txt", cache_dir=tmp_path)
    assert load_text(f"url:{server}/bad.txt", cache_dir=tmp_path, errors="replace") == "ok\n\ufffd("


# sha256 of Karpathy's char-rnn data/tinyshakespeare/input.txt (1,115,394 bytes), written out here
# (not read from seqlab) so that a changed pin fails this test; the same value is published by
# independent copies of the file
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def test_tinyshakespeare_preset_uses_its_pinned_hash(server, tmp_path, monkeypatch):
    url, digest = dl.PRESETS["tinyshakespeare"]
    assert digest == TINYSHAKESPEARE_SHA256
    assert url == "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    # the preset's real pin is enforced: a body that is not Tiny Shakespeare is refused and not cached
    monkeypatch.setitem(dl.PRESETS, "tinyshakespeare", (f"{server}/corpus.txt", digest))
    with pytest.raises(DataError, match=f"sha256 mismatch .*expected {digest}"):
        load_text("tinyshakespeare", cache_dir=tmp_path / "refused")
    assert not dl.cache_path(f"{server}/corpus.txt", tmp_path / "refused").exists()
    # and a body that matches the preset's pin is read
    body = FILES["/corpus.txt"]
    monkeypatch.setitem(dl.PRESETS, "tinyshakespeare", (f"{server}/corpus.txt", _sha(body)))
    assert load_text("tinyshakespeare", cache_dir=tmp_path) == body.decode()
