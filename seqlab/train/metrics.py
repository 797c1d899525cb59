"""Metrics files and the progress bar of a training run.

Every logged point is one row with the columns `COLUMNS` (a value that does not apply is null in
JSON, empty in CSV). Rows go to `metrics.jsonl` (one JSON object per line) and `metrics.csv` in
the run folder, appended and flushed as they happen. On resume, `MetricsLog.truncate(step)` drops
rows logged after the checkpoint being resumed (they describe steps that will be redone), so the
files read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

from seqlab.train.checkpoint import atomic_write_text

__all__ = ["COLUMNS", "MetricsLog", "Progress", "read_metrics"]

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
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            path = self.folder / "metrics.csv"
            new = not path.exists() or path.stat().st_size == 0
            with open(path, "a", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                if new:
                    w.writerow(COLUMNS)
                w.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
        return row

    def truncate(self, step: int) -> None:
        """Keep rows with step <= `step` (in memory and, atomically, on disk)."""
        if self.folder is not None and (self.folder / "metrics.jsonl").exists():
            self.rows = read_metrics(self.folder)
        self.rows = [r for r in self.rows if r["step"] <= step]
        if self.folder is None:
            return
        atomic_write_text(self.folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.rows))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for r in self.rows:
            w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
        atomic_write_text(self.folder / "metrics.csv", buf.getvalue())


def read_metrics(folder: str | Path) -> list[dict]:
    """Rows of a run folder's metrics.jsonl (an empty list if there is none)."""
    path = Path(folder) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Progress:
    """tqdm bar showing loss, lr and tokens/s; ETA is tqdm's own.

    total/initial count `unit`s: optimiser steps, or seconds for a time-budgeted run.
    enabled=None shows it only when stderr is a terminal; False (tests, non-main ranks) hides it.
    """

    def __init__(self, total: float, initial: float = 0, enabled: bool | None = None, desc: str = "train",
                 unit: str = "step"):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                            leave=True)

    def update(self, n: float = 1, **postfix) -> None:
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v)
                                      for k, v in postfix.items()}, refresh=False)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
