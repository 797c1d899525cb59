"""Text corpora: `file:PATH`, `pydoc` (the embedded default), `stdlib`; `url:` lives in download.py.

`load_text(spec)` returns one Python `str`. Files are read as bytes and decoded as UTF-8 so a bad
byte is reported with its file and byte offset (or replaced by U+FFFD with `errors="replace"`);
line endings are kept exactly as stored.

- `pydoc`: the English prose of the Python reference manual that ships inside every CPython as
  `pydoc_data.topics` (~465 KB), topics joined in sorted key order, so it is identical on every
  machine running the same Python minor version and needs no download.
- `stdlib`: the running interpreter's standard-library `.py` source (~11 MB on CPython 3.11),
  without tests, `site-packages`, `idlelib`, `lib2to3` and `turtledemo`, files in sorted path order.
"""

from __future__ import annotations

import os
import sysconfig
import tokenize
from pathlib import Path

from seqlab.data.spec import Source, parse_spec, register_source, resolve
from seqlab.errors import DataError

_STDLIB_SKIP = {"test", "tests", "site-packages", "dist-packages", "idlelib", "lib2to3", "turtledemo"}


def decode_utf8(data: bytes, name: str, errors: str = "strict") -> str:
    """Decode UTF-8 bytes (a leading BOM is dropped); a bad byte raises DataError with its offset."""
    if errors not in ("strict", "replace"):
        raise DataError(f"errors must be 'strict' or 'replace', got {errors!r}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{name}: not UTF-8 at byte offset {e.start} (byte 0x{data[e.start]:02x}); "
            f"use errors='replace' (CLI: --errors replace) to substitute U+FFFD"
        ) from None


def read_text_file(path: str | Path, errors: str = "strict") -> str:
    """One UTF-8 file as a str; missing or unreadable files raise DataError."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    return decode_utf8(data, str(path), errors)


def _load_file(arg: str, errors: str = "strict") -> str:
    """`file:PATH`: a file, or every `*.txt` under a folder (sorted, recursive), newline-joined."""
    path = Path(arg).expanduser()
    if not path.exists():
        raise DataError(f"file:{arg}: no such file or folder")
    if not path.is_dir():
        return read_text_file(path, errors)
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise DataError(f"file:{arg}: folder holds no .txt files")
    parts = [read_text_file(p, errors) for p in files]
    # Each document ends with a newline so that the last line of one never runs into the next.
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def _load_pydoc(arg: None = None) -> str:
    """`pydoc`: the reference-manual topics bundled with CPython (`pydoc_data.topics`)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distro builds strip pydoc_data
        raise DataError("pydoc: this Python has no pydoc_data module; use file:PATH instead") from None
    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"


def stdlib_files() -> list[Path]:
    """The standard-library `.py` files that make up the `stdlib` corpus, in sorted order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _STDLIB_SKIP]  # prune, never descend into site-packages
        files += [Path(folder) / n for n in names if n.endswith(".py")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _load_stdlib(arg: None = None, max_bytes: int = 0) -> str:
    """`stdlib`: the interpreter's own Python source; `max_bytes > 0` stops after that many chars."""
    parts, total = [], 0
    for path in stdlib_files():
        with tokenize.open(path) as f:  # honours PEP 263 coding cookies
            try:
                src = f.read()
            except (UnicodeDecodeError, SyntaxError):
                continue
        src = src if src.endswith("\n") else src + "\n"
        parts.append(src)
        total += len(src)
        if max_bytes and total >= max_bytes:
            break
    text = "".join(parts)
    return text[:max_bytes] if max_bytes else text


def load_text(spec: str = "pydoc", errors: str | None = None, cache_dir: str | Path | None = None,
              **options) -> str:
    """Load the text corpus named by `spec` (`file:PATH`, `pydoc`, `stdlib`, `url:URL`, `tinyshakespeare`).

    errors: "strict" (default: bad UTF-8 raises DataError naming file and byte offset) or
        "replace" (U+FFFD); ignored by sources that are always valid UTF-8 (pydoc, stdlib).
    cache_dir: where `url:` downloads are kept (default `$SEQLAB_CACHE` or `~/.cache/seqlab`).
    options: the source's own options (see `spec_table()`), e.g. `max_bytes` for stdlib.
    """
    accepted = parse_spec(spec).source.options
    ambient = {k: v for k, v in (("errors", errors), ("cache_dir", cache_dir)) if k in accepted}
    parsed, opts = resolve(spec, "text", **ambient, **options)
    return parsed.source.loader(parsed.arg, **opts)


register_source(Source("file", "text", _load_file, arg="PATH", arg_required=True,
                       options={"errors": str},
                       summary="a UTF-8 text file, or every `*.txt` under a folder (sorted, recursive)"))
register_source(Source("pydoc", "text", _load_pydoc,
                       summary="default corpus: Python reference-manual prose bundled with CPython "
                               "(`pydoc_data.topics`, ~465 KB, no download)"))
register_source(Source("stdlib", "text", _load_stdlib, options={"max_bytes": int},
                       summary="the running interpreter's standard-library Python source (~11 MB), "
                               "a code corpus"))
