"""Run-folder integrity: atomic file writes, the sha256 manifest, the lock and leftovers.

seqlab.train.checkpoint decides what a run folder holds; this module decides how its files reach
the disk and how a reader knows they are the ones written (docs/training.md):

- Atomic writes: every file is written to a temporary sibling `.NAME.tmp-*`, flushed, given the
  mode a new file gets under the user's umask, and renamed over the target (`os.replace` is atomic
  on POSIX), so a crash mid-save leaves the previous file.
- Manifest: `write_files` writes the files of one checkpoint as one transaction. All are staged
  and hashed, manifest.json ({"format": "seqlab-manifest", "files": {name: sha256}}) then lists
  each file's old and new digest ("pending"), the files are renamed into place, and the manifest
  is rewritten with the new digests only. A crash or a full disk at any point leaves every file
  matching the manifest; `verify_files` refuses a flipped byte, a truncated file or a file from
  another run with the file's name.
- Lock: `acquire_lock` / `run_lock` hold an advisory flock on FOLDER/.lock while a process trains
  the run, so a second process is refused; `clean_stale` removes what a killed process left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seqlab.errors import CheckpointError

__all__ = ["Writer", "atomic_write", "text_writer", "json_writer", "read_json", "atomic_write_text",
           "atomic_write_json", "umask", "file_sha256", "read_manifest", "write_files", "verify_files", "acquire_lock",
           "release_lock", "run_lock", "clean_stale", "MANIFEST", "LOCK"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "seqlab-manifest"
LOCK = ".lock"
_CHUNK = 1 << 20

Writer = Callable[[str], None]   # writes one file's content to the path it is given


# ------------------------------------------------------------------ atomic writes
def _temp_sibling(path: Path, made: list) -> str:
    """Create an empty temporary sibling `.NAME.tmp-XXXXXXXX` of `path` and return its name.

    The name is appended to `made` *before* the file is created, so an interrupt at any point (a
    SIGTERM raised as KeyboardInterrupt between the creation and the return) still leaves the
    caller the name to remove; a name another process created first is never listed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}")
        made.append(tmp)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return tmp
        except FileExistsError:
            made.pop()
    raise OSError(f"no free temporary name next to {path}")


def umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _settle(path: str) -> None:
    """Give a written temporary file the mode a new file gets (mkstemp makes it 0600, which would
    keep a colleague or a web server from reading the run) and flush it to disk."""
    os.chmod(path, 0o666 & ~umask())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Writer) -> Path:
    """Call write(tmp_path) on a temporary sibling of `path`, then rename it over `path`; on any
    error (an OSError from a full disk, Ctrl-C) the temporary file is removed and `path` is
    untouched. write_files turns an OSError into a one-line CheckpointError."""
    path = Path(path)
    made: list[str] = []
    try:
        tmp = _temp_sibling(path, made)
        write(tmp)
        _settle(tmp)
        os.replace(tmp, path)
    finally:
        for tmp in made:
            if os.path.exists(tmp):
                os.remove(tmp)
    return path


def text_writer(text: str) -> Writer:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return write


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, text_writer(text))


def _finite(obj: Any) -> Any:
    """NaN / ±inf -> None, so the file is strict JSON."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_writer(obj: Any) -> Writer:
    """Strict JSON (non-finite numbers written as null)."""
    return text_writer(json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def read_json(path, error: type = CheckpointError) -> Any:
    """The JSON value in the file at `path`; a file that cannot be read as UTF-8 JSON -> `error`
    naming it (a missing file raises FileNotFoundError, for the caller to say what was expected)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise error(f"{path}: not valid JSON") from None


def atomic_write_json(path, obj: Any) -> Path:
    """Strict JSON (non-finite numbers written as null), atomically."""
    return atomic_write(path, json_writer(obj))


# ------------------------------------------------------------------ manifest (sha256 per file)
def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_name(name: Any) -> bool:
    """A manifest entry must name a file inside the run folder."""
    return (isinstance(name, str) and bool(name) and not os.path.isabs(name)
            and ".." not in Path(name).parts)


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def read_manifest(folder) -> dict[str, dict[str, str]] | None:
    """{"files": {name: sha256}, "pending": {name: sha256}} of a run folder, None if it has none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{path}: not a seqlab manifest (no 'format: {MANIFEST_FORMAT}')")
    out = {}
    for key in ("files", "pending"):
        entries = m.get(key, {})
        if not isinstance(entries, dict) or not all(_safe_name(k) and _is_digest(v) for k, v in entries.items()):
            raise CheckpointError(f"{path}: '{key}' must map file names inside the run folder to sha256 digests")
        out[key] = dict(entries)
    return out


def _manifest(files: dict[str, str], pending: dict[str, str] | None = None) -> dict:
    m = {"format": MANIFEST_FORMAT, "files": dict(sorted(files.items()))}
    if pending:
        m["pending"] = dict(sorted(pending.items()))
    return m


def write_files(folder, files: dict[str, Writer]) -> None:
    """Write `files` ({name relative to folder: writer}) as one checkpoint, recorded in the manifest.

    Every file is staged as a temporary sibling and hashed; the manifest then accepts the old and
    the new digest of each, the files are renamed into place and the manifest keeps the new
    digests only. A crash anywhere leaves every file matching the manifest; an OSError (full
    disk, read-only folder) is a CheckpointError naming the file, with nothing renamed if it
    happened while staging.
    """
    folder = Path(folder)
    bad = [name for name in files if not _safe_name(name) or name == MANIFEST]
    if bad:
        raise ValueError(f"not a run-folder file name: {bad[0]!r}")
    m = read_manifest(folder) or {"files": {}, "pending": {}}
    recorded = dict(m["files"])
    for name, digest in m["pending"].items():  # a checkpoint interrupted after some renames
        p = folder / name
        if p.is_file() and file_sha256(p) == digest:
            recorded[name] = digest
    staged: dict[str, str] = {}
    made: list[str] = []  # every temporary name, listed before its file exists
    current = folder
    try:
        for name, write in files.items():
            current = folder / name
            staged[name] = _temp_sibling(current, made)
            write(staged[name])
            _settle(staged[name])
        digests = {name: file_sha256(tmp) for name, tmp in staged.items()}
        current = folder / MANIFEST
        atomic_write(current, json_writer(_manifest(recorded, digests)))
        for name, tmp in staged.items():
            current = folder / name
            os.replace(tmp, current)
        recorded.update(digests)
        current = folder / MANIFEST
        atomic_write(current, json_writer(_manifest(recorded)))
    except OSError as e:
        raise CheckpointError(f"cannot write {current}: {e.strerror or e} (the run folder keeps its "
                              f"earlier checkpoint files)") from None
    finally:
        for tmp in made:
            if os.path.exists(tmp):
                os.remove(tmp)


def verify_files(folder, names=None) -> None:
    """Check files of a run folder against its manifest; names None: every file it lists.

    A file that is missing, not listed, or whose sha256 differs (flipped bytes, a truncated copy,
    a file from another run) -> CheckpointError naming it. A folder written before manifests
    existed (config.json version 1) has nothing to check.
    """
    folder = Path(folder)
    m = read_manifest(folder)
    if m is None:
        from seqlab.train.checkpoint import read_config  # the layer above: what config.json holds

        if read_config(folder).get("version", 1) < 2:
            return
        raise CheckpointError(f"incomplete run folder (no {MANIFEST}): {folder}")
    names = sorted(set(m["files"]) | set(m["pending"])) if names is None else names
    for name in names:
        path = folder / name
        accepted = {d for d in (m["files"].get(name), m["pending"].get(name)) if d is not None}
        if not accepted:
            raise CheckpointError(f"{path}: not listed in {folder / MANIFEST}, so it does not belong "
                                  f"to this run")
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (listed in {folder / MANIFEST})")
        if file_sha256(path) not in accepted:
            raise CheckpointError(f"{path}: sha256 differs from {folder / MANIFEST}: the file is "
                                  f"corrupt or comes from another run")


# ------------------------------------------------------------------ lock and leftovers
try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks
    fcntl = None

_HELD: dict[tuple[int, int], list] = {}  # (st_dev, st_ino) of a locked folder -> [fd, depth]


def acquire_lock(folder) -> tuple[int, int] | None:
    """Lock a run folder for this process (flock on FOLDER/.lock); re-entrant within a process.

    Another process holding it -> CheckpointError. Keyed by the folder's inode, so the lock
    survives renaming the folder (a staged run being published). Returns the key for release_lock.
    """
    if fcntl is None:
        return None
    folder = Path(folder)
    st = folder.stat()
    key = (st.st_dev, st.st_ino)
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CheckpointError(f"cannot create the lock file {folder / LOCK}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CheckpointError(f"run folder {folder} is in use by another seqlab process (it holds "
                              f"{folder / LOCK}); wait for it to finish") from None
    _HELD[key] = [fd, 1]
    return key


def release_lock(key: tuple[int, int] | None) -> None:
    entry = _HELD.get(key) if key is not None else None
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _HELD[key]
        os.close(entry[0])  # closing the descriptor releases the flock


@contextlib.contextmanager
def run_lock(folder) -> Iterator[None]:
    """Hold the run folder's lock for the block (see acquire_lock)."""
    key = acquire_lock(folder)
    try:
        yield
    finally:
        release_lock(key)


def _unlocked(folder: Path, min_age: float) -> bool:
    """True when no process holds `folder`'s lock (a folder with no lock file must be min_age s old)."""
    lock = folder / LOCK
    if not lock.exists():
        return time.time() - folder.stat().st_mtime > min_age
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def clean_stale(folder, stages: bool = True, files: bool = True) -> list[Path]:
    """Remove what a killed process left behind; returns what was removed.

    files: temporary files `.NAME.tmp-*` / `.tmp-*` inside the run folder and best/ (call only
        while holding the folder's lock). stages: staging folders `.FOLDER.tmp-*` next to it
        whose lock no process holds (one with no lock file yet only when older than a minute).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if files:
        for d in (folder, folder / "best"):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.name.startswith(".") and ".tmp-" in p.name and p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(p)
    if stages and folder.parent.is_dir():
        prefix = f".{folder.name}.tmp-"
        for p in folder.parent.iterdir():
            if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink() and _unlocked(p, 60.0):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed
