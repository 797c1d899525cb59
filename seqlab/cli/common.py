"""Helpers shared by the commands: output folders written atomically and run-folder checks.

No partial output: a command that writes a folder writes it under a hidden temporary sibling
(`.NAME.tmp-XXXX` next to the target, so the final rename stays on one file system) and renames it
to the target only when everything succeeded. On any error or Ctrl-C the temporary folder is
removed, so the target either does not exist or is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from seqlab.errors import CheckpointError, ConfigError

__all__ = [
    "atomic_output_dir",
    "default_out_dir",
    "check_new_out_dir",
    "check_run_dir",
]


def default_out_dir(prefix: str) -> Path:
    """`runs/<prefix>-YYYYmmdd-HHMMSS` (a suffix is added if that exists already)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{prefix}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{prefix}-{stamp}-{n}"
    return path


def check_new_out_dir(path: Path) -> Path:
    """Refuse to overwrite: the target must not exist, or be an empty folder."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"output folder already exists and is not empty: {path}")
    return path


@contextlib.contextmanager
def atomic_output_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes `target`, on failure it is removed."""
    target = check_new_out_dir(Path(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; the final folder gets the usual mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():  # an empty folder the user made in advance
        target.rmdir()
    os.replace(tmp, target)


def check_run_dir(path: str | os.PathLike) -> Path:
    """A run folder must exist and hold config.json (the seqlab run marker)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"run folder not found: {path}")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise CheckpointError(f"not a seqlab run folder (no config.json): {path}")
    return path
