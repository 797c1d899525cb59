"""Render an HTML page in headless Chromium (Debian's `chromium`) and report what the browser saw.

A helper for tests, not a test file. `render(path)` copies the page to a temporary folder and adds
two small scripts to the COPY (the page itself is not touched and, for seqlab reports, has none):

- in <head>, a trap that records any alert/confirm/prompt call and any Content-Security-Policy
  violation (a blocked fetch or script);
- before </body>, a check that runs at `load` (when every <img> has loaded or failed) and writes a
  JSON summary into the DOM: image count, how many decoded (complete with naturalWidth > 0),
  the body row count of each <table>, every resource URL that is not a
  `data:` URI (attributes, inline CSS `url(...)`, and what the browser actually fetched), the
  number of other <script> elements, and the visible text.

If the page carries a CSP <meta> (seqlab reports do: no script, images from data: only), the copy
keeps it and gains only `script-src` hashes of those two scripts, so the rest of the policy is in
force while the page is checked. `chromium --dump-dom` prints the DOM and the summary is parsed back.

When chromium is not installed the calling test is skipped with a message that says so and how to
install it (`make test` installs it when run as root on Debian/Ubuntu; see scripts/ensure-chromium.sh).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["BrowserResult", "find_chromium", "render", "screenshot"]

SUMMARY_ID = "seqlab-browser-check"

_TRAP = """
window.__seqlab = {dialogs: [], violations: []};
["alert", "confirm", "prompt"].forEach(function (name) {
  window[name] = function (message) {
    window.__seqlab.dialogs.push(name + ": " + String(message));
    return null;
  };
});
document.addEventListener("securitypolicyviolation", function (e) {
  window.__seqlab.violations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""

_CHECK = """
(function () {
  var mine = {"seqlab-browser-trap": 1, "seqlab-browser-script": 1};
  var attrs = ["src", "href", "srcset", "poster", "data", "action", "formaction", "background", "xlink:href"];
  function cssUrls(text, where, out) {
    var re = /url\\(\\s*['"]?([^'")]*)|@import\\s+['"]([^'"]*)/gi, m;
    while ((m = re.exec(text)) !== null) {
      var u = (m[1] || m[2] || "").trim();
      if (!/^data:/i.test(u)) out.push(where + " css " + u);
    }
  }
  function summarise(decoded) {
    var external = [];
    document.querySelectorAll("*").forEach(function (el) {
      if (mine[el.id]) return;
      var tag = el.tagName.toLowerCase();
      attrs.forEach(function (a) {
        var v = el.getAttribute(a);
        if (v !== null && !/^\\s*(data:|#)/i.test(v)) external.push(tag + "[" + a + "]=" + v);
      });
      if (el.hasAttribute("style")) cssUrls(el.getAttribute("style"), tag + "[style]", external);
      if (tag === "style") cssUrls(el.textContent, "style", external);
    });
    performance.getEntriesByType("resource").forEach(function (e) {
      if (!/^data:/i.test(e.name)) external.push("fetched " + e.name);
    });
    var scripts = Array.prototype.filter.call(document.scripts, function (s) { return !mine[s.id]; });
    return {
      title: document.title,
      images: decoded.length,
      images_decoded: decoded.filter(Boolean).length,
      table_rows: Array.prototype.map.call(document.querySelectorAll("table"), function (t) {
        return Array.prototype.reduce.call(t.tBodies, function (n, b) { return n + b.rows.length; }, 0);
      }),
      external_urls: external,
      scripts: scripts.length,
      dialogs: window.__seqlab ? window.__seqlab.dialogs : [],
      csp_violations: window.__seqlab ? window.__seqlab.violations : [],
      text: document.body.innerText
    };
  }
  function check() {
    // synchronous at `load`: every <img> has loaded or failed by then, and a decoded image has its
    // natural size (awaiting img.decode() let --dump-dom fire first on pages with large figures)
    var decoded = Array.prototype.map.call(document.images, function (img) {
      return img.complete && img.naturalWidth > 0;
    });
    var pre = document.createElement("pre");
    pre.id = "%s";
    pre.textContent = JSON.stringify(summarise(decoded));
    document.body.appendChild(pre);
  }
  if (document.readyState === "complete") check(); else window.addEventListener("load", check);
})();
""" % SUMMARY_ID

_CSP_META = re.compile(r"""(<meta\s+http-equiv=["']?content-security-policy["']?\s+content=")([^"]*)(")""",
                       re.IGNORECASE)


@dataclasses.dataclass
class BrowserResult:
    """What headless Chromium saw on the page (see the module docstring)."""

    title: str
    images: int               # <img> elements
    images_decoded: int       # of those, complete with naturalWidth > 0 and decode() resolved
    table_rows: list          # body rows of each <table>, in document order
    external_urls: list       # every non-data: resource reference or fetch, described
    scripts: int              # <script> elements other than the two the check added
    dialogs: list             # alert/confirm/prompt calls ("alert: 1")
    csp_violations: list      # what the page's Content-Security-Policy blocked
    text: str                 # document.body.innerText (before the summary was added)
    csp: str | None           # the page's own CSP <meta> content, None if it has none
    dom: str                  # the DOM chromium dumped (of the checked copy)


def find_chromium() -> str | None:
    """Debian's chromium: on PATH or at /usr/bin/chromium; None when it is not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _require_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed, so the HTML report was not checked in a browser; "
                    "install it with `apt-get install -y chromium` (`make test` does this when run as root)")
    return exe


def _run_chromium(exe: str, args: list, work: Path, timeout: float) -> subprocess.CompletedProcess:
    profile = work / "profile"
    env = dict(os.environ, HOME=str(work), XDG_CONFIG_HOME=str(work / "config"),
               XDG_CACHE_HOME=str(work / "cache"))  # keep chromium's files out of the real home
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {timeout:.0f} s: {' '.join(cmd)}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        pytest.fail(f"chromium exited with code {proc.returncode}: {' '.join(cmd)}\n{tail}")
    return proc


def _sha256(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _instrument(page: str) -> tuple[str, str | None]:
    """The page with the trap and check scripts added, and the page's own CSP (None if none)."""
    csp = None
    match = _CSP_META.search(page)
    if match:
        csp = html.unescape(match.group(2))
        allow = f"; script-src {_sha256(_TRAP)} {_sha256(_CHECK)}"
        page = page[:match.end(2)] + html.escape(allow, quote=True) + page[match.end(2):]
    trap = f'<script id="seqlab-browser-trap">{_TRAP}</script>'
    check = f'<script id="seqlab-browser-script">{_CHECK}</script>'
    head_end = re.search(r"</head\s*>", page, re.IGNORECASE)
    page = page[:head_end.start()] + trap + page[head_end.start():] if head_end else trap + page
    body_ends = list(re.finditer(r"</body\s*>", page, re.IGNORECASE))
    page = page[:body_ends[-1].start()] + check + page[body_ends[-1].start():] if body_ends else page + check
    return page, csp


def render(html_path: str | os.PathLike, timeout: float = 60.0) -> BrowserResult:
    """Load a copy of the page in headless chromium and return what the browser saw."""
    exe = _require_chromium()
    page = Path(html_path).read_text(encoding="utf-8")
    checked, csp = _instrument(page)
    with tempfile.TemporaryDirectory(prefix="seqlab-browser-") as tmp:
        work = Path(tmp)
        copy = work / "page.html"
        copy.write_text(checked, encoding="utf-8")
        proc = _run_chromium(exe, ["--virtual-time-budget=5000", "--dump-dom", copy.as_uri()], work, timeout)
    dom = proc.stdout
    found = re.search(rf'<pre id="{SUMMARY_ID}">(.*?)</pre>', dom, re.DOTALL)
    if found is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        pytest.fail(f"the check script left no summary in the DOM of {html_path} "
                    f"(blocked, failed, or the page never finished loading)\n{tail}")
    summary = json.loads(html.unescape(found.group(1)))
    return BrowserResult(csp=csp, dom=dom, **summary)


def screenshot(html_path: str | os.PathLike, png_path: str | os.PathLike, width: int = 1280,
               height: int = 2000, timeout: float = 60.0) -> Path:
    """A PNG screenshot of the page as it is (nothing added), for looking at a report by eye."""
    exe = _require_chromium()
    png_path = Path(png_path).resolve()
    with tempfile.TemporaryDirectory(prefix="seqlab-browser-") as tmp:
        args = [f"--screenshot={png_path}", f"--window-size={width},{height}", "--virtual-time-budget=5000",
                Path(html_path).resolve().as_uri()]
        _run_chromium(exe, args, Path(tmp), timeout)
    if not png_path.is_file() or png_path.stat().st_size == 0:
        pytest.fail(f"chromium wrote no screenshot to {png_path}")
    return png_path
