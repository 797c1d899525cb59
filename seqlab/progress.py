"""Progress of a long loop, for every command: a bar on a terminal, plain lines in a log.

    with Progress(total=1000, desc="train", unit="step") as bar:
        for step in range(1000):
            ...
            bar.update(1, loss=2.31, tok_s=12_345)

On a terminal (the stream is a tty) this is a tqdm bar. When the output is piped or logged it is
one plain line every `interval` seconds (default 10, or the environment variable
SEQLAB_PROGRESS_SECONDS) and one at the end, e.g.

    train: step 120/1000 (12%)  loss 2.31  tokens/s 12,345  elapsed 0:10  ETA 1:13

so a log shows that the run is alive and when it will end, without carriage-return clutter.
`enabled=None` chooses by the stream; True (or "bar") forces the bar, "lines" the lines; False
shows nothing (tests, non-main ranks). Lines go to stderr unless another stream is given, so stdout stays the
command's result.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Progress", "DEFAULT_INTERVAL"]

DEFAULT_INTERVAL = 10.0  # seconds between plain lines
_NAMES = {"tok_s": "tokens/s"}  # postfix keys shown under a longer name in plain lines


def _interval() -> float:
    text = os.environ.get("SEQLAB_PROGRESS_SECONDS")
    try:
        return max(0.0, float(text)) if text else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


class Progress:
    """Progress over `total` units (steps, runs, seconds) starting at `initial`; see the module doc.

    update(n, **postfix) advances by n and shows the postfix values (loss, lr, ...); write(text)
    prints a line without breaking the bar; close() ends the display (with a last plain line).
    """

    def __init__(self, total: float, initial: float = 0, enabled: bool | str | None = None,
                 desc: str = "train", unit: str = "step", interval: float | None = None,
                 stream: TextIO | None = None):
        self.total, self.n, self.initial = total, initial, initial
        self.desc, self.unit = desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = _interval() if interval is None else interval
        self.postfix: dict = {}
        self.bar, self.lines = None, False
        if enabled is False:
            return
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if enabled in (True, "bar") or (enabled is None and tty):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                            leave=True, file=self.stream)
        else:
            self.lines = True
        self.start = self.last = time.monotonic()
        self._shown_n = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1, **postfix) -> None:
        self.n += n
        self.postfix.update(postfix)
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v)
                                      for k, v in postfix.items()}, refresh=False)
        elif self.lines and time.monotonic() - self.last >= self.interval:
            self._line()

    def line(self) -> str:
        """The plain progress line for the current state."""
        elapsed = time.monotonic() - self.start
        if self.unit == "s":
            parts = [f"{_fmt(self.n)}/{_fmt(self.total)} s"]
        else:
            parts = [f"{self.unit} {_fmt(self.n)}/{_fmt(self.total)}"]
        if self.desc:
            parts[0] = f"{self.desc}: {parts[0]}"
        if self.total:
            parts[-1] += f" ({100 * self.n / self.total:.0f}%)"
        for key, value in self.postfix.items():
            if key != self.unit:
                parts.append(f"{_NAMES.get(key, key)} {_fmt(value)}")
        parts.append(f"elapsed {_clock(elapsed)}")
        done = self.n - self.initial
        if done > 0 and self.total and self.n < self.total:
            parts.append(f"ETA {_clock(elapsed / done * (self.total - self.n))}")
        return "  ".join(parts)

    def _line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self.last, self._shown_n = time.monotonic(), self.n

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif self.lines:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.lines:
            if self._shown_n != self.n:  # the end of the run, unless that line was just shown
                self._line()
            self.lines = False
