"""seqlab.reports.html: a self-contained page that a real browser shows as intended.

The browser tests load pages in headless Chromium through tests/browser.py (skipped, saying so, when
chromium is not installed; `make test` installs it as root). The rest is pure Python.
"""

import base64
import io
import os
import re
import zlib
from html.parser import HTMLParser

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from browser import render  # noqa: E402  (tests/browser.py; tests/ is on sys.path via tests/conftest.py)
from seqlab.reports.tables import format_number  # noqa: E402
from seqlab.errors import DataError  # noqa: E402
from seqlab.reports import HtmlReport  # noqa: E402

INJECTED = "<script>alert(1)</script> & friends"


def _figure(kind: str, fmt: str) -> bytes:
    fig, ax = plt.subplots(figsize=(3, 2))
    if kind == "line":
        ax.plot([0, 1, 2], [3.0, 2.5, 2.4], marker="o")
    else:
        ax.bar(["a", "b", "c"], [1, 3, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=60)
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture(scope="module")
def pngs():
    return _figure("line", "png"), _figure("bar", "png")


def _page(pngs) -> HtmlReport:
    report = HtmlReport("Compare <all> families")
    report.heading("Setup")
    report.paragraph("Reproduce with `seqlab compare --seed 0` on the default corpus.")
    report.code_block("seqlab compare --seed 0 --out runs/compare && echo done")
    report.table(["model", "params", "test bits/token"],
                 [["lstm", 12_345, 2.3149], ["transformer", 20_001, 2.4001], ["uniform guess", 0, 6.0]],
                 caption="Ranked on test", row_classes=["best", None, "baseline"])
    report.image(pngs[0], alt="frontier", caption="bits/token against parameters")
    report.image(pngs[1], alt="bars")
    report.heading("Samples")
    report.side_by_side([("lstm", INJECTED), ("transformer", "plain sample\nline two")])
    return report


def test_report_renders_in_chromium(tmp_path, pngs):
    path = _page(pngs).write(tmp_path / "report.html")
    seen = render(path)
    assert seen.title == "Compare <all> families"
    assert seen.images == 2 and seen.images_decoded == 2
    assert seen.table_rows == [3]
    assert seen.external_urls == []
    assert seen.csp_violations == []
    # The sample's markup is shown as text, never run: no script element, no dialog.
    assert seen.scripts == 0 and seen.dialogs == []
    assert INJECTED in seen.text
    assert "seqlab compare --seed 0 --out runs/compare && echo done" in seen.text
    assert "default-src 'none'" in seen.csp  # the policy stayed in force while the page was checked


def test_browser_check_catches_a_broken_page(tmp_path, pngs):
    """The harness can fail: a non-data image, a live script and a corrupt image are all reported."""
    bad_png = base64.b64encode(pngs[0][:30]).decode()
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bad</title></head>'
                    "<body>"
                    '<img src="http://127.0.0.1:9/x.png" alt="x">'
                    f'<img src="data:image/png;base64,{bad_png}" alt="y">'
                    "<script>alert(1)</script><table><tr><td>1</td></tr></table></body></html>")
    seen = render(page)
    assert seen.images == 2 and seen.images_decoded == 0
    assert "img[src]=http://127.0.0.1:9/x.png" in seen.external_urls
    assert seen.scripts == 1 and seen.dialogs == ["alert: 1"]
    assert seen.table_rows == [1] and seen.csp is None


class _Balance(HTMLParser):
    """Checks that every non-void element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_page_is_self_contained_valid_and_escaped(pngs):
    text = _page(pngs).render()
    low = text.lower()
    assert "http://" not in low and "https://" not in low and "<script" not in low
    assert "url(" not in low and "@import" not in low and "@font-face" not in low
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta charset="utf-8">' in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in text
    assert "<title>Compare &lt;all&gt; families</title>" in text
    assert "<p>Reproduce with <code>seqlab compare --seed 0</code> on the default corpus.</p>" in text
    parser = _Balance()
    parser.feed(text)
    parser.close()
    assert parser.stack == []
    srcs = [attrs["src"] for tag, attrs in parser.tags if tag == "img"]
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == pngs[0]


def test_table_formats_like_the_cli_and_right_aligns_numbers():
    rows = [["a", 0.123456, 1234.5, "3.21 ± 0.04", None], ["b<", 7, float("nan"), "12%", 2.0]]
    text = HtmlReport("t").table(["name", "x", "y", "z", "w"], rows, digits=2,
                                 row_classes=[None, "baseline"]).render()
    body = re.search(r"<tbody>(.*)</tbody>", text, re.DOTALL).group(1)
    cells = re.findall(r"<td( class=\"num\")?>(.*?)</td>", body)
    expected = [format_number(v, 2) if not isinstance(v, str) else v for row in rows for v in row]
    assert [c for _, c in cells] == [e.replace("<", "&lt;") for e in expected]
    assert [bool(a) for a, _ in cells[:5]] == [False, True, True, True, True]
    assert '<th scope="col" class="num">x</th>' in text and '<th scope="col">name</th>' in text
    assert body.count("<tr>") == 1 and body.count('<tr class="baseline">') == 1
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        HtmlReport("t").table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="unknown row class"):
        HtmlReport("t").table(["a"], [[1]], row_classes=["red"])


def _corrupt_crc(png: bytes) -> bytes:
    i = png.index(b"IDAT") + 10  # a byte inside the first IDAT's data
    return png[:i] + bytes([png[i] ^ 0xFF]) + png[i + 1:]


def _short_pixels(png: bytes) -> bytes:
    """A well-formed PNG (valid CRCs, complete zlib stream) whose pixel data is one row short."""
    ihdr = png[8:33]
    width, height = int.from_bytes(ihdr[8:12], "big"), int.from_bytes(ihdr[12:16], "big")
    idat = zlib.compress(b"\x00" * ((height - 1) * (1 + width * 4)))

    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    rgba_ihdr = ihdr[8:16] + bytes([8, 6, 0, 0, 0])
    return png[:8] + chunk(b"IHDR", rgba_ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("broken, message", [
    (lambda p: p[: len(p) // 2], r"image 'fig': truncated PNG image"),
    (_corrupt_crc, r"image 'fig': corrupt PNG image \(bad CRC in chunk b'IDAT'\)"),
    (_short_pixels, r"image 'fig': corrupt PNG image \(\d+ bytes of pixels, expected \d+"),
    (lambda p: b"GIF89a...", r"image 'fig': not a PNG or SVG image"),
    (lambda p: b"", r"image 'fig': empty image"),
    (lambda p: "<svg><g></svg>", r"image 'fig': not a well-formed SVG image"),
    (lambda p: "<html></html>", r"image 'fig': not an SVG image \(root element <html>\)"),
])
def test_broken_image_raises_a_clear_error_and_adds_nothing(pngs, broken, message):
    report = HtmlReport("t")
    before = report.render()
    with pytest.raises(DataError, match=message) as err:
        report.image(broken(pngs[0]), alt="fig")
    assert "\n" not in str(err.value)
    assert report.render() == before


def test_images_from_paths_and_svg(tmp_path, pngs):
    png_path = tmp_path / "frontier.png"
    png_path.write_bytes(pngs[0])
    svg_path = tmp_path / "frontier.svg"
    svg_path.write_bytes(_figure("line", "svg"))
    report = HtmlReport("t").image(png_path, "p").image(str(svg_path), "s").image(svg_path.read_text(), "t")
    text = report.render()
    uris = re.findall(r'<img src="(data:[^"]*)"', text)
    assert [u.split(";")[0] for u in uris] == ["data:image/png", "data:image/svg+xml", "data:image/svg+xml"]
    assert base64.b64decode(uris[1].split(",", 1)[1]) == svg_path.read_bytes()
    assert "http://" not in text  # the SVG's xmlns is inside the base64 payload
    with pytest.raises(DataError, match=r"^image file not found: .*missing\.png$"):
        HtmlReport("t").image(tmp_path / "missing.png", "m")
    (tmp_path / "half.png").write_bytes(pngs[0][:100])
    with pytest.raises(DataError, match=r"half\.png: truncated PNG image"):
        HtmlReport("t").image(tmp_path / "half.png", "h")


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out" / "report.html"
    report = HtmlReport("first").paragraph("one")
    assert report.write(target) == target
    assert target.read_text(encoding="utf-8") == report.render()
    assert os.listdir(target.parent) == ["report.html"]

    def fail(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        HtmlReport("second").write(target)
    assert target.read_text(encoding="utf-8") == report.render()  # the old page is intact
    assert os.listdir(target.parent) == ["report.html"]  # and no temporary file is left
