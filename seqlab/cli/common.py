"""Helpers shared by the commands: output folders written atomically, tables, run-folder checks.

No partial output: a command that writes a folder writes it under a hidden temporary sibling
(`.NAME.tmp-XXXX` next to the target, so the final rename stays on one file system) and renames it
to the target only when everything succeeded. On any error or Ctrl-C the temporary folder is
removed, so the target either does not exist or is complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from seqlab.errors import CheckpointError, ConfigError

__all__ = [
    "atomic_output_dir",
    "default_out_dir",
    "check_new_out_dir",
    "check_run_dir",
    "markdown_table",
    "csv_text",
    "format_number",
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


def format_number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], digits: int = 3) -> str:
    """A GitHub-markdown table; numbers right-aligned and formatted with `digits` decimals."""
    cells = [[format_number(v, digits) if not isinstance(v, str) else v for v in row] for row in rows]
    cells = [[c.replace("|", "\\|").replace("\n", "\\n") for c in row] for row in cells]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(not isinstance(row[i], str) for row in rows) if rows else False
               for i in range(len(headers))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|"
    body = ["| " + " | ".join(c.rjust(w) if num else c.ljust(w)
                              for c, w, num in zip(r, widths, numeric)) + " |" for r in cells]
    return "\n".join([line, rule, *body]) + "\n"


def csv_text(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()
