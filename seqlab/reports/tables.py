"""Tables as people read them: markdown (terminal and .md files) and CSV, with one number format.

    format_number(2.0312)          -> "2.031"      (digits decimals; thousands separators; "nan"; "-" for None)
    markdown_table(headers, rows)  -> a GitHub-markdown table, numeric columns right-aligned
    csv_text(headers, rows)        -> CSV text (one header line, \n line ends)
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

__all__ = ["format_number", "markdown_table", "csv_text"]


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
