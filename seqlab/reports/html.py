"""One self-contained HTML page, built block by block: `HtmlReport`.

    report = HtmlReport("seqlab compare")
    report.paragraph("Reproduce with `seqlab compare --seed 0`.")
    report.table(["model", "bits/token"], [["lstm", 2.31], ["uniform guess", 6.0]],
                 row_classes=[None, "baseline"])
    report.image("leaderboard.png", alt="bits per token against parameters")
    report.side_by_side([("lstm", sample_a), ("gru", sample_b)])
    report.write("runs/compare/report.html")

What a page written by this module guarantees:

- One file, nothing fetched. Every figure is inlined as a `data:` URI (PNG, or SVG base64-encoded
  so it is shown as an image and cannot run anything). The page names no URL of any kind: no
  `http:`/`https:` link, no web font, no external style sheet. A Content-Security-Policy
  `<meta>` (`default-src 'none'`, images from `data:` only, inline style only) makes the browser
  refuse any fetch or script should one ever slip in.
- No JavaScript. The page holds no `<script>` and reads the same with JavaScript off; the layout
  is plain CSS (system fonts, a readable measure, zebra-striped tables, monospace samples).
- Everything escaped. Every string the caller passes (titles, cells, captions, alt text, model
  samples) goes through `html.escape`, so `<script>` in a sample is shown as text, never run.
- Figures checked when added. A PNG must have its signature, an IHDR first, intact chunk CRCs, a
  complete zlib stream of the size IHDR implies, and an IEND; an SVG must be well-formed XML with an
  `<svg>` root. Anything else raises `DataError` naming the image (its path, or its alt text), so a
  truncated plot fails at build time instead of showing as a broken image.
- Valid HTML5: doctype, `lang`, UTF-8 `charset`, viewport; every element closed.
- Written atomically: `write` writes a temporary file next to the target and renames it into
  place, so an interrupted run never leaves half a page.

Numbers in tables are formatted like the markdown tables (`seqlab.reports.tables.format_number`:
`digits` decimals, thousands separators, `-` for None) and right-aligned.
"""

from __future__ import annotations

import base64
import html
import numbers
import os
import re
import struct
import tempfile
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Iterable, Sequence

from seqlab.reports.tables import format_number
from seqlab.errors import DataError

__all__ = ["HtmlReport", "image_data_uri"]

# Row classes the style sheet knows; `table(row_classes=...)` accepts these or None.
ROW_CLASSES = ("baseline", "best", "muted")

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1b1f24;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1, h2, h3, h4, h5, h6 { line-height: 1.25; margin: 1.8em 0 0.6em; }
h1 { font-size: 1.9rem; margin-top: 0.5em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3em; }
h2 { font-size: 1.4rem; border-bottom: 1px solid #eaeef2; padding-bottom: 0.2em; }
p, ul { max-width: 48rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 0.9em; }
code { background: #f3f4f6; padding: 0.1em 0.3em; border-radius: 4px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.8em 1em;
  overflow-x: auto; line-height: 1.45; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.4em; }
th, td { border: 1px solid #d0d7de; padding: 0.35em 0.75em; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
tbody tr:nth-child(even) { background: #f6f8fa; }
th.num, td.num { text-align: right; }
tr.baseline td { font-style: italic; color: #57606a; }
tr.best td { font-weight: 600; }
tr.muted td { color: #8c959f; }
figure { margin: 1.2em 0; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: #57606a; font-size: 0.92em; margin-top: 0.4em; max-width: 48rem; }
.side-by-side { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
.side-by-side figure { margin: 0; min-width: 0; }
.side-by-side figcaption { font-weight: 600; color: #1b1f24; margin: 0 0 0.3em; }
.side-by-side pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; height: 100%;
  box-sizing: border-box; }
@media print { main { max-width: none; } pre { white-space: pre-wrap; } }
"""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_NUMBER = r"[-+\u2212]? [\d.,]+ (e[-+]?\d+)? %?"  # 1,234.5  -0.25  1e-3  12%
_NUMBERLIKE = re.compile(rf"^\s* ( {_NUMBER} (\s* \u00b1 \s* {_NUMBER})? | - | nan | inf ) \s*$",  # "3.2 ± 0.1"
                         re.IGNORECASE | re.VERBOSE)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape `text`, rendering `backtick spans` as <code>."""
    parts = re.split(r"`([^`\n]+)`", str(text))
    return "".join(f"<code>{_esc(p)}</code>" if i % 2 else _esc(p) for i, p in enumerate(parts))


def _check_png(data: bytes, name: str) -> None:
    """Raise DataError unless `data` is a complete, uncorrupted PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        raise DataError(f"{name}: not a PNG image (no PNG signature)")
    pos, first, idat, header = len(_PNG_SIGNATURE), True, [], None
    while True:
        if pos + 8 > len(data):
            raise DataError(f"{name}: truncated PNG image (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if pos + 12 + length > len(data):
            raise DataError(f"{name}: truncated PNG image (chunk {kind!r} cut short)")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise DataError(f"{name}: corrupt PNG image (bad CRC in chunk {kind!r})")
        if first:
            if kind != b"IHDR" or length != 13:
                raise DataError(f"{name}: corrupt PNG image (IHDR is not the first chunk)")
            header = struct.unpack(">IIBBBBB", body)
            first = False
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if width == 0 or height == 0 or colour not in _PNG_CHANNELS:
        raise DataError(f"{name}: corrupt PNG image (IHDR says {width}x{height}, colour type {colour})")
    stream = zlib.decompressobj()
    try:
        pixels = stream.decompress(b"".join(idat))
    except zlib.error as exc:
        raise DataError(f"{name}: corrupt PNG image (pixel data: {exc})") from None
    if not stream.eof:
        raise DataError(f"{name}: truncated PNG image (pixel data ends early)")
    if interlace == 0:  # Adam7 interlacing changes the size; non-interlaced rows are 1 filter byte + pixels
        row = (width * depth * _PNG_CHANNELS[colour] + 7) // 8
        if len(pixels) != height * (1 + row):
            raise DataError(f"{name}: corrupt PNG image ({len(pixels)} bytes of pixels, "
                            f"expected {height * (1 + row)} for {width}x{height})")


def _check_svg(text: str, name: str) -> None:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DataError(f"{name}: not a well-formed SVG image ({exc})") from None
    if root.tag.rsplit("}", 1)[-1] != "svg":
        raise DataError(f"{name}: not an SVG image (root element <{root.tag}>)")


def image_data_uri(source: bytes | str | os.PathLike, name: str = "image") -> str:
    """A `data:` URI for a PNG or SVG, checked to decode (DataError naming `name` or the path if not).

    `source` is PNG bytes, SVG text (str or bytes starting with `<`), or the path of a .png/.svg file.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith("<")):
        path = Path(source)
        name = str(path)
        try:
            source = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"image file not found: {path}") from None
        except OSError as exc:
            raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from None
    if isinstance(source, str):
        source = source.encode("utf-8")
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name}: image must be PNG bytes, SVG text or a path, not {type(source).__name__}")
    data = bytes(source)
    if data.startswith(_PNG_SIGNATURE):
        _check_png(data, name)
        mime = "image/png"
    elif data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"{name}: SVG image is not UTF-8 text") from None
        _check_svg(text, name)
        mime = "image/svg+xml"
    elif not data:
        raise DataError(f"{name}: empty image")
    else:
        raise DataError(f"{name}: not a PNG or SVG image")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(value, digits: int) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return format_number(int(value), digits)
    if isinstance(value, numbers.Real):  # numpy and torch scalars format like Python floats
        return format_number(float(value), digits)
    return format_number(value, digits)


def _is_numeric(value) -> bool:
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        return True
    return isinstance(value, str) and bool(_NUMBERLIKE.match(value))


class HtmlReport:
    """A self-contained HTML page built block by block; see the module docstring for the guarantees.

    Blocks appear in the order they are added; `title` is both the <title> and the page's <h1>.
    """

    def __init__(self, title: str):
        self.title = str(title)
        self._blocks: list[str] = []

    def heading(self, text: str, level: int = 2) -> "HtmlReport":
        """A section heading, <h2> by default (<h1> is the page title)."""
        if not isinstance(level, int) or not 1 <= level <= 6:
            raise ValueError(f"heading level must be 1..6, got {level!r}")
        self._blocks.append(f"<h{level}>{_inline(text)}</h{level}>")
        return self

    def paragraph(self, text: str) -> "HtmlReport":
        """A paragraph of escaped text; `backtick spans` become inline code."""
        self._blocks.append(f"<p>{_inline(text)}</p>")
        return self

    def bullets(self, items: Iterable[str]) -> "HtmlReport":
        """A bulleted list; each item is escaped text with `code` spans, like a paragraph."""
        lis = "".join(f"<li>{_inline(item)}</li>" for item in items)
        self._blocks.append(f"<ul>{lis}</ul>")
        return self

    def code_block(self, text: str) -> "HtmlReport":
        """Preformatted monospace text, e.g. the exact command that reproduces the report."""
        self._blocks.append(f"<pre><code>{_esc(text)}</code></pre>")
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence], digits: int = 3,
              caption: str | None = None, row_classes: Sequence[str | None] | None = None) -> "HtmlReport":
        """A table: one <tr> per row in <tbody>.

        Numbers are formatted like `format_number` (`digits` decimals, None as `-`); a column whose
        cells are all numbers, None or number-like text (`"3.21 ± 0.04"`, `"12%"`) is right-aligned.
        `row_classes` gives each row a style from ROW_CLASSES (`baseline` for a reference row such
        as the uniform guess, `best`, `muted`) or None.
        """
        headers = [str(h) for h in headers]
        rows = [list(r) for r in rows]
        for i, row in enumerate(rows):
            if len(row) != len(headers):
                raise ValueError(f"table row {i} has {len(row)} cells, expected {len(headers)}")
        if row_classes is None:
            row_classes = [None] * len(rows)
        if len(row_classes) != len(rows):
            raise ValueError(f"row_classes has {len(row_classes)} entries for {len(rows)} rows")
        for cls in row_classes:
            if cls is not None and cls not in ROW_CLASSES:
                raise ValueError(f"unknown row class {cls!r}; choose from {', '.join(ROW_CLASSES)}")
        numeric = [bool(rows) and all(_is_numeric(r[j]) for r in rows) for j in range(len(headers))]
        num = [' class="num"' if n else "" for n in numeric]
        head = "".join(f"<th scope=\"col\"{a}>{_esc(h)}</th>" for h, a in zip(headers, num))
        body = []
        for row, cls in zip(rows, row_classes):
            tds = "".join(f"<td{a}>{_esc(_cell(v, digits))}</td>" for v, a in zip(row, num))
            body.append(f"<tr class=\"{cls}\">{tds}</tr>" if cls else f"<tr>{tds}</tr>")
        cap = f"<caption>{_inline(caption)}</caption>" if caption else ""
        self._blocks.append(f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n"
                            + "\n".join(body) + "\n</tbody></table>")
        return self

    def image(self, source: bytes | str | os.PathLike, alt: str, caption: str | None = None) -> "HtmlReport":
        """A figure inlined as a data: URI: PNG bytes, SVG text, or a .png/.svg path.

        The image is checked now (see `image_data_uri`); a broken one raises DataError.
        """
        uri = image_data_uri(source, name=f"image {alt!r}")
        cap = f"<figcaption>{_inline(caption)}</figcaption>" if caption else ""
        self._blocks.append(f"<figure><img src=\"{uri}\" alt=\"{_esc(alt)}\">{cap}</figure>")
        return self

    def side_by_side(self, panels: Sequence[tuple[str, str]]) -> "HtmlReport":
        """Texts in columns (wrapping to rows on narrow screens), each under its title: samples to compare."""
        cells = "".join(f"<figure><figcaption>{_esc(title)}</figcaption><pre>{_esc(text)}</pre></figure>"
                        for title, text in panels)
        self._blocks.append(f"<div class=\"side-by-side\">{cells}</div>")
        return self

    def render(self) -> str:
        """The whole page as one HTML5 string."""
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html>\n"
            "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"generator\" content=\"seqlab\">\n"
            f"<title>{_esc(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n<main>\n<h1>{_esc(self.title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` atomically (temporary file + rename); return the path."""
        path = Path(path)
        text = self.render()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the page the usual mode
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return path
