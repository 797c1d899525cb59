"""Real-valued series: `csv:PATH`, statsmodels' shipped data sets, and synthetic `sine` and `ar:`.

Shapes: T time (series length), p AR order.

`load_series(spec)` returns a float64 numpy array of shape (T,). Non-finite values (NaN, inf, an
empty CSV cell) raise DataError naming the row, unless a `fill` strategy is chosen:

    ffill        x_t <- last finite value before t (leading gaps take the first finite value)
    interpolate  linear in t between the finite neighbours (ends held at the nearest finite value)
    drop         remove the rows
    zero         x_t <- 0

Synthetic series (T = length, all draws from `numpy.random.default_rng(seed)`):

    sine:  x_t = sin(freq * t) + eps_t,  eps_t ~ N(0, noise^2),  t = 1..T
           (defaults freq=0.01, noise=0.2, T=1000: the textbook experiment of d2l.ai, ch. 9.1)
    ar:phi_1,...,phi_p:  x_t = const + sum_{i=1..p} phi_i x_{t-i} + eps_t,  eps_t ~ N(0, sigma^2),
           started from zeros and run `burn_in` steps before the T returned ones. Only stationary
           processes are accepted: every root z of 1 - sum_i phi_i z^i must lie outside the unit
           circle (|z| > 1), else DataError naming the smallest |z| (a random walk, phi = 1, has z = 1).
"""

from __future__ import annotations

import csv
import importlib
import io
import math
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np

from seqlab.data.spec import Source, register_source, resolve
from seqlab.data.text import read_text_file
from seqlab.errors import DataError

FILLS = ("ffill", "interpolate", "drop", "zero")
DATE_COLUMN_NAMES = ("date", "time", "timestamp")  # csv columns taken as the index when no date_column is given
_MISSING = {"", "na", "nan", "n/a", "null", "none", "-", "?"}
INSTALL_HINT = "pip install seqlab[timeseries]"

# name -> (statsmodels.datasets module, default column, default fill, summary)
STATSMODELS_SETS = {
    "sunspots": ("sunspots", "SUNACTIVITY", None, "yearly sunspot numbers 1700-2008 (309 values)"),
    "co2": ("co2", "co2", "interpolate", "weekly Mauna Loa CO2 ppm 1958-2001 (2284 values; "
                                         "59 gaps interpolated unless `fill` says otherwise)"),
    "nile": ("nile", "volume", None, "yearly Nile flow at Aswan 1871-1970 (100 values)"),
    "elnino": ("elnino", None, None, "monthly El Nino sea-surface temperature 1950-2010 (732 values)"),
    "macrodata": ("macrodata", "realgdp", None, "quarterly US macro data 1959-2009 (203 values; "
                                                "`column` picks e.g. cpi, unemp, infl)"),
}


# ---------------------------------------------------------------------------------------------- fill
def fill_nonfinite(x: np.ndarray, fill: str | None, rows: list[str] | None = None,
                   name: str = "series") -> np.ndarray:
    """Apply a fill strategy (see module docstring); fill None raises DataError at the first bad row."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    if fill in (None, "none", "error"):
        t = int(np.argmax(bad))
        where = rows[t] if rows else f"row {t}"
        raise DataError(f"{name}: {where} is {x[t]} ({int(bad.sum())} non-finite values in all); "
                        f"choose fill= {'|'.join(FILLS)} (CLI: --fill)")
    if fill not in FILLS:
        raise DataError(f"unknown fill {fill!r}: expected one of {', '.join(FILLS)}")
    if fill == "drop":
        return x[~bad]
    if fill == "zero":
        return np.where(bad, 0.0, x)
    good = np.flatnonzero(~bad)
    if good.size == 0:
        raise DataError(f"{name}: every value is missing, nothing to {fill}")
    t = np.arange(x.size)
    if fill == "interpolate":
        return np.interp(t, good, x[good])
    # ffill: index of the last finite value at or before t; before the first one, the first one.
    last = np.maximum.accumulate(np.where(bad, -1, t))
    return x[np.where(last < 0, good[0], last)]


# ----------------------------------------------------------------------------------------------- csv
def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _find_column(want: str | int, names: list[str], what: str, spec: str) -> int:
    if isinstance(want, str) and want in names:
        return names.index(want)
    try:
        i = int(want)
    except (TypeError, ValueError):
        i = None
    if i is not None and -len(names) <= i < len(names):
        return i % len(names)
    raise DataError(f"{spec}: no {what} {want!r}; columns are {', '.join(names)}")


def _parse_date(cell: str) -> float:
    try:
        return float(cell)  # a year or a timestamp
    except ValueError:
        return datetime.fromisoformat(cell.strip()).timestamp()


def _load_csv(arg: str, column: str | None = None, date_column: str | None = None,
              delimiter: str | None = None) -> tuple[np.ndarray, list[str]]:
    """`csv:PATH`: one numeric column (header optional), rows ordered by `date_column` if given."""
    spec = f"csv:{arg}"
    if not Path(arg).expanduser().is_file():
        raise DataError(f"{spec}: no such file")
    text = read_text_file(arg)
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows, lines = [], []
    for row in reader:
        if row and any(c.strip() for c in row):
            rows.append([c.strip() for c in row])
            lines.append(reader.line_num)
    if not rows:
        raise DataError(f"{spec}: file is empty")
    width = len(rows[0])
    has_header = not any(_is_number(c) for c in rows[0])
    names = rows[0] if has_header else [str(i) for i in range(width)]
    body, lines = (rows[1:], lines[1:]) if has_header else (rows, lines)
    if not body:
        raise DataError(f"{spec}: no data rows")
    if date_column is None and has_header:  # a column named date/time/timestamp is the index, not a value
        auto = [i for i, n in enumerate(names) if n.strip().lower() in DATE_COLUMN_NAMES]
        date_column = auto[0] if auto else None
    date_i = None if date_column is None else _find_column(date_column, names, "date column", spec)
    if column is None:
        others = [i for i in range(width) if i != date_i]
        numeric = others if len(others) == 1 else [
            i for i in others if all(_is_number(r[i]) or r[i].lower() in _MISSING for r in body[:50] if i < len(r))]
        if len(numeric) != 1:
            found = ", ".join(names[i] for i in numeric) or "none"
            raise DataError(f"{spec}: choose a column with column=NAME (numeric columns: {found})")
        col = numeric[0]
    else:
        col = _find_column(column, names, "column", spec)
    values, dates, raw_dates = np.empty(len(body)), [], []
    for k, (r, line) in enumerate(zip(body, lines)):
        cell = r[col] if col < len(r) else ""
        if cell.lower() in _MISSING:
            values[k] = math.nan
        else:
            try:
                values[k] = float(cell)
            except ValueError:
                raise DataError(f"{spec} line {line}: column {names[col]!r} holds {cell!r}, not a number") from None
        if date_i is not None:
            try:
                raw_dates.append(r[date_i] if date_i < len(r) else "")
                dates.append(_parse_date(raw_dates[-1]))
            except ValueError:
                raise DataError(f"{spec} line {line}: date {r[date_i] if date_i < len(r) else ''!r} "
                                f"is not a number or an ISO date") from None
    labels = [f"line {line} of {arg}" for line in lines]
    index = None
    if date_i is not None:
        order = np.argsort(np.asarray(dates), kind="stable")
        values, labels = values[order], [labels[i] for i in order]
        index = _date_index([raw_dates[i] for i in order], np.asarray(dates)[order])
    return values, labels, index


def _date_index(cells: list[str], numbers: np.ndarray) -> np.ndarray:
    """A csv date column as datetime64 (ISO dates) or float64 (years or other numbers)."""
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return np.array([datetime.fromtimestamp(v).isoformat() for v in numbers], dtype="datetime64[s]")


# ----------------------------------------------------------------------------------------- synthetic
def sine(length: int = 1000, seed: int = 0, noise: float = 0.2, freq: float = 0.01) -> np.ndarray:
    """x_t = sin(freq * t) + N(0, noise^2) for t = 1..length."""
    if length < 1:
        raise DataError(f"sine length must be >= 1, got {length}")
    t = np.arange(1, length + 1, dtype=np.float64)                                  # (T,)
    return np.sin(freq * t) + np.random.default_rng(seed).normal(0.0, noise, length)  # (T,)


def ar_stationarity_root(phi: list[float]) -> float:
    """min |z| over the roots z of 1 - sum_i phi_i z^i (inf when there are none); > 1 iff stationary.

    Computed through the reciprocal roots w = 1/z, the roots of w^p - phi_1 w^(p-1) - ... - phi_p
    (the eigenvalues of the companion matrix): min |z| = 1 / max |w|.
    """
    w = np.roots(np.concatenate([[1.0], -np.asarray(phi, dtype=np.float64)]))  # (p,) or fewer
    largest = float(np.abs(w).max()) if w.size else 0.0
    return math.inf if largest == 0.0 else 1.0 / largest


def ar_process(phi: list[float], length: int = 1000, seed: int = 0, sigma: float = 1.0,
               burn_in: int = 200, const: float = 0.0) -> np.ndarray:
    """x_t = const + sum_i phi_i x_{t-i} + eps_t, eps_t ~ N(0, sigma^2); `burn_in` steps discarded.

    DataError unless the process is stationary (all roots of 1 - sum_i phi_i z^i outside |z| = 1).
    """
    if length < 1 or burn_in < 0:
        raise DataError(f"ar length must be >= 1 and burn_in >= 0, got {length}, {burn_in}")
    if not all(math.isfinite(c) for c in phi):
        raise DataError(f"ar:{','.join(map(str, phi))}: coefficients must be finite numbers")
    root = ar_stationarity_root(phi)
    if root <= 1.0 + 1e-9:
        raise DataError(f"ar:{','.join(map(str, phi))} is not stationary: 1 - sum_i phi_i z^i has a root "
                        f"with |z| = {root:.4g} <= 1 (all roots must lie outside the unit circle)")
    p = len(phi)
    eps = np.random.default_rng(seed).normal(0.0, sigma, burn_in + length)
    x = np.zeros(p + burn_in + length)
    coef = np.asarray(phi, dtype=np.float64)[::-1]                       # (p,) oldest lag first
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        for t in range(p, x.size):
            x[t] = const + coef @ x[t - p:t] + eps[t - p]
    out = x[p + burn_in:]
    if not np.isfinite(out).all():  # a stationary process near the boundary with huge sigma/const
        raise DataError(f"ar:{','.join(map(str, phi))} overflowed to inf; lower sigma or const")
    return out


def _load_sine(arg: None = None, length: int = 1000, seed: int = 0, noise: float = 0.2,
               freq: float = 0.01) -> tuple[np.ndarray, None]:
    return sine(length, seed, noise, freq), None


def _load_ar(arg: str, length: int = 1000, seed: int = 0, sigma: float = 1.0, burn_in: int = 200,
             const: float = 0.0) -> tuple[np.ndarray, None]:
    try:
        phi = [float(c) for c in arg.replace(" ", "").split(",") if c]
    except ValueError:
        raise DataError(f"ar:{arg}: coefficients must be numbers separated by commas, e.g. ar:0.5,-0.3") from None
    if not phi:
        raise DataError("ar: give at least one coefficient, e.g. ar:0.5,-0.3")
    return ar_process(phi, length, seed, sigma, burn_in, const), None


# --------------------------------------------------------------------------------------- statsmodels
def _load_statsmodels(name: str, arg: None = None, column: str | None = None) -> tuple[np.ndarray, list[str]]:
    """One of STATSMODELS_SETS as (values, row labels); DataError with the install hint if missing."""
    module, default_col, _, _ = STATSMODELS_SETS[name]
    try:
        datasets = importlib.import_module("statsmodels.datasets")
    except ImportError:
        raise DataError(f"'{name}' needs statsmodels: {INSTALL_HINT}") from None
    frame = getattr(datasets, module).load_pandas().data
    index = _statsmodels_index(name, frame)
    if name == "elnino" and column is None:  # 12 monthly columns per year -> one series
        months = frame.drop(columns=["YEAR"])
        labels = [f"{int(y)}-{m}" for y in frame["YEAR"] for m in months.columns]
        return months.to_numpy(dtype=np.float64).reshape(-1), labels, index
    col = column or default_col
    if col not in frame.columns:
        raise DataError(f"{name}: no column {col!r}; columns are {', '.join(map(str, frame.columns))}")
    labels = [f"row {i} ({idx})" for i, idx in enumerate(frame.index.astype(str))]
    if name == "elnino":
        index = np.array([f"{int(y):04d}" for y in frame["YEAR"]], dtype="datetime64[Y]")
    return frame[col].to_numpy(dtype=np.float64), labels, index


def _statsmodels_index(name: str, frame) -> np.ndarray:
    """The dates of a statsmodels data set's rows as numpy datetime64 (years, quarters, months, weeks)."""
    if name == "sunspots":
        return np.array([f"{int(y):04d}" for y in frame["YEAR"]], dtype="datetime64[Y]")
    if name == "nile":
        return np.array([f"{int(y):04d}" for y in frame["year"]], dtype="datetime64[Y]")
    if name == "macrodata":  # quarter q starts in month 3 (q - 1) + 1
        return np.array([f"{int(y):04d}-{3 * (int(q) - 1) + 1:02d}" for y, q in zip(frame["year"], frame["quarter"])],
                        dtype="datetime64[M]")
    if name == "elnino":  # one row per year, twelve monthly columns
        return np.array([f"{int(y):04d}-{m:02d}" for y in frame["YEAR"] for m in range(1, 13)], dtype="datetime64[M]")
    return np.asarray(frame.index.values, dtype="datetime64[D]")  # co2: weekly dates


# -------------------------------------------------------------------------------------------- public
def load_series(spec: str = "sine", column: str | int | None = None, date_column: str | int | None = None,
                fill: str | None = None, **options) -> np.ndarray:
    """Load the real-valued series named by `spec` as float64 (T,); see the module docstring."""
    return load_series_with_index(spec, column=column, date_column=date_column, fill=fill, **options)[0]


def load_series_with_index(spec: str = "sine", column: str | int | None = None,
                           date_column: str | int | None = None, fill: str | None = None,
                           **options) -> tuple[np.ndarray, np.ndarray | None]:
    """(values (T,) float64, index (T,) or None): the series and the dates of its values.

    The index is numpy datetime64 for statsmodels' sets (years for sunspots and nile, quarters for
    macrodata, months for elnino, weeks for co2) and for a csv date column holding ISO dates, float64
    for a csv date column of numbers (e.g. years), and None for synthetic series. A csv column
    named date, time or timestamp is the index when no `date_column` is given. `fill=drop` drops the
    same rows from both.
    """
    parsed, opts = resolve(spec, "series", column=column, date_column=date_column, fill=fill, **options)
    fill = opts.pop("fill", None)
    loaded = parsed.source.loader(parsed.arg, **opts)
    values, rows = loaded[0], loaded[1]
    index = loaded[2] if len(loaded) > 2 else None
    if fill is None and parsed.kind in STATSMODELS_SETS:
        fill = STATSMODELS_SETS[parsed.kind][2]
    out = fill_nonfinite(values, fill, rows, parsed.text)
    if index is not None and fill == "drop":
        index = index[np.isfinite(np.asarray(values, dtype=np.float64))]
    if out.size == 0:
        raise DataError(f"{parsed.text}: the series is empty")
    return out, index


_FILL = {"fill": str}
register_source(Source("csv", "series", _load_csv, arg="PATH", arg_required=True,
                       options={"column": str, "date_column": str, "delimiter": str, **_FILL},
                       summary="one numeric column of a CSV file (header optional, delimiter sniffed); "
                               "rows sorted by `date_column` if given"))
register_source(Source("sine", "series", _load_sine,
                       options={"length": int, "seed": int, "noise": float, "freq": float, **_FILL},
                       summary="sin(0.01 t) + N(0, 0.2^2), t = 1..1000 (d2l's textbook experiment)"))
register_source(Source("ar", "series", _load_ar, arg="PHI1,PHI2,...", arg_required=True,
                       options={"length": int, "seed": int, "sigma": float, "burn_in": int,
                                "const": float, **_FILL},
                       summary="AR(p) process x_t = sum_i phi_i x_{t-i} + N(0, sigma^2), T=1000"))
for _name, (_mod, _col, _fill, _summary) in STATSMODELS_SETS.items():
    register_source(Source(_name, "series", partial(_load_statsmodels, _name), options={"column": str, **_FILL},
                           summary=f"statsmodels data set: {_summary}; needs `seqlab[timeseries]`"))
