"""`url:URL` and named presets: download once into a cache folder, check sha256, write atomically.

Cache layout: `<cache_dir>/<sha256(url)[:16]>-<label>.data` plus a `.sha256` sidecar holding the
digest of the bytes as first downloaded. seqlab chooses the name: `label` is the URL's basename
reduced to letters, digits, `_` and `-` (dots become `_`), and the extension is always `.data`,
so a download never lands as `.pth`, `.py`, `.so` or any other file something would execute.
Every later load re-hashes the cached file and compares it with the expected digest (the
preset's, the `sha256=` option, or the sidecar); a cached file that no longer matches is fetched
again, a fresh download that does not match `sha256=` is an error. Downloads stream into a
temporary file in the cache folder and are moved into place with `os.replace`, so an
interrupted download never leaves a half-written corpus behind.

The cache folder is `cache_dir=` if given, else `$SEQLAB_CACHE`, else `~/.cache/seqlab`. A spec
read from a run folder (seqlab.data.spec.recorded_spec) may not set `cache_dir=` and never
downloads: it reads the cached file or fails, telling the user to pass the spec with `--data`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from seqlab.data.spec import Source, recorded_origin, register_source
from seqlab.data.text import decode_utf8
from seqlab.errors import DataError

# Karpathy's char-rnn Tiny Shakespeare: 1,115,394 bytes, 40,000 lines.
TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

PRESETS: dict[str, tuple[str, str]] = {  # name -> (url, sha256)
    "tinyshakespeare": (TINYSHAKESPEARE_URL, TINYSHAKESPEARE_SHA256),
}

_CHUNK = 1 << 16


def default_cache_dir() -> Path:
    """`$SEQLAB_CACHE`, else `~/.cache/seqlab`."""
    return Path(os.environ.get("SEQLAB_CACHE") or Path.home() / ".cache" / "seqlab").expanduser()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_path(url: str, cache_dir: str | Path | None = None) -> Path:
    """Where `url` is (or will be) cached: a name seqlab chooses, always ending in `.data`."""
    label = os.path.basename(urllib.parse.urlparse(url).path) or "index"
    label = re.sub(r"[^A-Za-z0-9_-]", "_", label)[:48]
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir or default_cache_dir()).expanduser() / f"{key}-{label}.data"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _download(url: str, dest: Path, timeout: float) -> str:
    """Stream `url` into a temp file next to `dest`, move it into place; return its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
        os.replace(tmp, dest)
    except urllib.error.HTTPError as e:
        raise DataError(f"url:{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(f"url:{url}: download failed ({reason})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return h.hexdigest()


def fetch(url: str, cache_dir: str | Path | None = None, sha256: str | None = None,
          timeout: float = 60.0) -> Path:
    """Return the cached file for `url`, downloading it first if needed (see module docstring)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise DataError(f"url:{url}: only http:// and https:// URLs are supported")
    path = cache_path(url, cache_dir)
    sidecar = path.with_name(path.name + ".sha256")
    expected = sha256.lower() if sha256 else None
    if path.exists():
        recorded = sidecar.read_text().strip() if sidecar.exists() else None
        if file_sha256(path) == (expected or recorded):
            return path
    origin = recorded_origin()
    if origin is not None:
        raise DataError(f"{origin}: the recorded data spec needs a download of {url} (not in the "
                        f"cache {path.parent}); a spec read from a run folder never downloads: "
                        f"pass the spec with --data on the command line to allow it")
    digest = _download(url, path, timeout)
    if expected and digest != expected:
        path.unlink()
        raise DataError(f"url:{url}: sha256 mismatch (got {digest}, expected {expected})")
    _atomic_write_text(sidecar, digest + "\n")
    return path


def _load_url(arg: str, errors: str = "strict", cache_dir: str | None = None,
              sha256: str | None = None, timeout: float = 60.0) -> str:
    """`url:URL`: the UTF-8 text at URL, downloaded once."""
    path = fetch(arg, cache_dir, sha256, timeout)
    return decode_utf8(path.read_bytes(), f"url:{arg} (cached at {path})", errors)


def _load_preset(name: str, errors: str = "strict", cache_dir: str | None = None,
                 timeout: float = 60.0) -> str:
    url, digest = PRESETS[name]
    return _load_url(url, errors=errors, cache_dir=cache_dir, sha256=digest, timeout=timeout)


def _load_tinyshakespeare(arg: None = None, **kw) -> str:
    return _load_preset("tinyshakespeare", **kw)


_URL_OPTIONS = {"errors": str, "cache_dir": str, "sha256": str, "timeout": float}
register_source(Source("url", "text", _load_url, arg="URL", arg_required=True, options=_URL_OPTIONS,
                       path_options=("cache_dir",),
                       summary="UTF-8 text at an http(s) URL, downloaded once into the cache "
                               "(`$SEQLAB_CACHE` or `~/.cache/seqlab`), sha256-checked"))
register_source(Source("tinyshakespeare", "text", _load_tinyshakespeare,
                       options={"errors": str, "cache_dir": str, "timeout": float},
                       path_options=("cache_dir",),
                       summary="preset for `url:` Karpathy's char-rnn Tiny Shakespeare (1.1 MB, "
                               "pinned sha256)"))
