"""Metrics files of a training run (its progress display is seqlab.progress.Progress).

Every logged point is one row with the columns `COLUMNS` (a value that does not apply is null in
JSON, empty in CSV). Rows go to `metrics.jsonl` (one JSON object per line) and `metrics.csv` in
the run folder, appended and flushed as they happen. On resume, `MetricsLog.truncate(step)` drops
rows logged after the checkpoint being resumed (they describe steps that will be redone), so the
files read as one uninterrupted run.

A process killed mid-append leaves a torn last line in metrics.jsonl: `read_metrics` skips it and
the next `truncate` rewrites both files without it. A malformed line anywhere else, or a row
without an integer step, is a CheckpointError naming the file and line. A write that fails (full
disk, read-only folder) is a CheckpointError naming the file, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from seqlab.errors import CheckpointError
from seqlab.train.integrity import atomic_write_text

__all__ = ["COLUMNS", "MetricsLog", "read_metrics"]

COLUMNS = ("step", "elapsed_s", "tokens", "lr", "train_loss", "val_loss", "tokens_per_s")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsLog:
    """Collects rows in memory (`rows`) and, when `folder` is set, appends them to both files."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = None if folder is None else Path(folder)
        self.rows: list[dict] = []

    def move(self, folder: str | Path) -> None:
        """The files now live in `folder` (the run folder was renamed)."""
        self.folder = Path(folder)

    def append(self, **values) -> dict:
        row = {c: _clean(values.get(c)) for c in COLUMNS}
        self.rows.append(row)
        if self.folder is not None:
            path = self.folder / "metrics.jsonl"
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                path = self.folder / "metrics.csv"
                new = not path.exists() or path.stat().st_size == 0
                with open(path, "a", encoding="utf-8", newline="") as f:
                    w = csv.writer(f)
                    if new:
                        w.writerow(COLUMNS)
                    w.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
            except OSError as e:
                raise CheckpointError(f"cannot write {path}: {e.strerror or e}") from None
        return row

    def truncate(self, step: int) -> None:
        """Keep rows with step <= `step` (in memory and, atomically, on disk)."""
        if self.folder is not None and (self.folder / "metrics.jsonl").exists():
            self.rows = read_metrics(self.folder)
        self.rows = [r for r in self.rows if r["step"] <= step]
        if self.folder is None:
            return
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for r in self.rows:
            w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
        for name, text in (("metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.rows)),
                           ("metrics.csv", buf.getvalue())):
            try:
                atomic_write_text(self.folder / name, text)
            except OSError as e:
                raise CheckpointError(f"cannot write {self.folder / name}: {e.strerror or e}") from None


def _row(line: str) -> dict | None:
    """The row on one line of metrics.jsonl, or None if it is not one."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    if isinstance(step, bool) or not isinstance(step, int):
        return None
    return {c: row.get(c) for c in COLUMNS}


def read_metrics(folder: str | Path) -> list[dict]:
    """Rows of a run folder's metrics.jsonl (an empty list if there is none).

    A torn last line (a crash mid-append) is skipped; any other malformed line -> CheckpointError.
    """
    path = Path(folder) / "metrics.jsonl"
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    rows = []
    for k, (number, line) in enumerate(numbered):
        row = _row(line)
        if row is None:
            if k == len(numbered) - 1:  # torn by a crash mid-append: dropped
                break
            raise CheckpointError(f"{path}: line {number} is not a metrics row: {line[:60]!r}")
        rows.append(row)
    return rows
