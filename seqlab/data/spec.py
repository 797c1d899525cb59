"""Data specs: one string syntax that names every data source seqlab can load.

Syntax::

    KIND                    e.g.  pydoc, sine, sunspots, copy
    KIND:ARG                e.g.  file:corpus.txt, csv:prices.csv, ar:0.5,-0.3, url:https://...
    KIND[:ARG];KEY=VALUE... e.g.  sine;length=500;seed=3   csv:prices.csv;column=close;fill=ffill

The part before the first `:` is the kind, the rest of the first `;`-segment is the argument.
Trailing `;KEY=VALUE` segments are options; they are parsed only when every trailing segment has
that shape, so a path that happens to contain `;` still works. An existing file path with no kind
is read by its suffix (`.csv` -> csv, `.tsv` -> tsv, anything else -> file).

Every source module registers its kinds here with `register_source`, so `parse_spec`,
`data_kind` and the docs table (`spec_table`) all read one registry. Options arriving as strings
(from a spec or a command line) are converted to the type the source declares.

Recorded specs are untrusted. A spec read back from a file (a run folder's config.json) is loaded
inside `recorded_spec(origin)`: there a spec may not carry a path option (`cache_dir`, which says
where files are written) and a `url:` source never downloads (only an already cached file is
read). The user allows either by passing the spec on the command line (`--data SPEC`).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import DataError

DATA_KINDS = ("text", "series", "pairs", "probe")

_OPTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Source:
    """One registered spec kind: what it yields, its argument and its typed options."""

    kind: str                                   # spec kind, e.g. "csv"
    data_kind: str                              # "text" | "series" | "pairs" | "probe"
    loader: Callable[..., Any]                  # loader(arg, **options) -> data
    arg: str | None = None                      # argument name shown in docs, e.g. "PATH"
    arg_required: bool = False
    options: dict[str, type] = field(default_factory=dict)
    summary: str = ""                           # one line for the spec table
    path_options: tuple[str, ...] = ()          # options naming where files go (never from a file)


@dataclass(frozen=True)
class Spec:
    """A parsed spec: `kind`, its `arg` (or None) and raw string `options`."""

    kind: str
    arg: str | None
    options: dict[str, str]
    text: str                                   # the spec as the user wrote it

    @property
    def source(self) -> Source:
        return _REGISTRY[self.kind]


_REGISTRY: dict[str, Source] = {}

# The file a spec being loaded was read from (None: the spec comes from the user or from code).
_RECORDED: contextvars.ContextVar[str | None] = contextvars.ContextVar("seqlab_recorded_spec", default=None)


@contextlib.contextmanager
def recorded_spec(origin: str | object) -> Iterator[None]:
    """Load specs read from the file `origin` (e.g. a run's config.json) as untrusted.

    Inside the block `resolve` refuses path options (`Source.path_options`) written in a spec and
    `url:` sources read only what is already cached (seqlab.data.download.fetch).
    """
    token = _RECORDED.set(str(origin))
    try:
        yield
    finally:
        _RECORDED.reset(token)


def recorded_origin() -> str | None:
    """The file the specs now being loaded were read from, or None when they come from the user."""
    return _RECORDED.get()


def register_source(source: Source) -> Source:
    """Add a kind to the registry (called once per kind by each source module at import)."""
    if source.data_kind not in DATA_KINDS:
        raise ValueError(f"data_kind must be one of {DATA_KINDS}, got {source.data_kind!r}")
    _REGISTRY[source.kind] = source
    return source


def sources() -> dict[str, Source]:
    """All registered kinds, in registration order."""
    return dict(_REGISTRY)


def _spec_usage(source: Source) -> str:
    if source.arg is None:
        return source.kind
    return f"{source.kind}:{source.arg}" if source.arg_required else f"{source.kind}[:{source.arg}]"


def parse_spec(spec: str) -> Spec:
    """Parse `KIND[:ARG][;KEY=VALUE...]`; unknown kinds and missing arguments raise DataError."""
    if not isinstance(spec, str) or not spec.strip():
        raise DataError("empty data spec: expected e.g. 'pydoc', 'file:PATH' or 'csv:PATH'")
    text = spec.strip()
    head, options = text, {}
    segments = text.split(";")
    if len(segments) > 1 and all(_OPTION.match(s.strip()) for s in segments[1:]):
        head = segments[0]
        for seg in segments[1:]:
            key, _, value = seg.strip().partition("=")
            options[key.replace("-", "_")] = value
    kind, sep, arg = head.partition(":")
    kind = kind.strip().lower()
    if kind not in _REGISTRY:
        return _infer_from_path(head, options, text)
    source = _REGISTRY[kind]
    arg = arg if sep else None
    if source.arg is None and arg is not None:
        raise DataError(f"data spec {text!r}: '{kind}' takes no argument (write '{kind}')")
    if source.arg_required and not arg:
        raise DataError(f"data spec {text!r}: '{kind}' needs an argument, as in '{_spec_usage(source)}'")
    return Spec(kind, arg or None, options, text)


def _infer_from_path(head: str, options: dict[str, str], text: str) -> Spec:
    path = Path(head).expanduser()
    if head and path.exists():
        suffix = path.suffix.lower()
        kind = "csv" if suffix == ".csv" else "tsv" if suffix == ".tsv" else "file"
        if kind in _REGISTRY:
            return Spec(kind, head, options, text)
    known = ", ".join(_spec_usage(s) for s in _REGISTRY.values())
    raise DataError(f"unknown data spec {text!r}: expected one of {known} (or an existing file path)")


def data_kind(spec: str) -> str:
    """What `spec` yields: "text", "series", "pairs" or "probe" (so a CLI can route any spec)."""
    return parse_spec(spec).source.data_kind


def coerce_option(name: str, value: Any, typ: type, spec: str) -> Any:
    """Convert a string option to `typ` (int, float, bool, str); other values pass through."""
    if not isinstance(value, str) or typ is str:
        return value
    try:
        if typ is bool:
            low = value.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(value)
        if typ is int:
            return int(value)
        if typ is float:
            return float(value)
    except ValueError:
        raise DataError(f"data spec {spec!r}: option {name}={value!r} is not a valid {typ.__name__}") from None
    return value


def resolve(spec: str, expected: str, **kwargs: Any) -> tuple[Spec, dict[str, Any]]:
    """Parse `spec`, check it yields `expected`, merge its options with `kwargs` and type them.

    Keyword arguments override spec options; a keyword set to None means "not given".
    """
    parsed = parse_spec(spec)
    source = parsed.source
    if source.data_kind != expected:
        raise DataError(f"data spec {parsed.text!r} gives {source.data_kind}, not {expected}")
    merged: dict[str, Any] = dict(parsed.options)
    merged.update({k: v for k, v in kwargs.items() if v is not None})
    unknown = sorted(set(merged) - set(source.options))
    if unknown:
        allowed = ", ".join(sorted(source.options)) or "none"
        raise DataError(f"data spec {parsed.text!r}: unknown option {unknown[0]!r} (options: {allowed})")
    origin = recorded_origin()
    placed = [k for k in source.path_options if k in parsed.options]
    if origin is not None and placed:
        raise DataError(f"{origin}: the recorded data spec {parsed.text!r} sets {placed[0]}=, a location, "
                        f"and a file may not choose where seqlab writes: pass --data SPEC on the "
                        f"command line to use it")
    typed = {k: coerce_option(k, v, source.options[k], parsed.text) for k, v in merged.items()}
    return parsed, typed


def load(spec: str, **kwargs: Any) -> Any:
    """Load any spec through the loader of what it gives: load_text / load_series / load_pairs / load_probe."""
    from seqlab import data  # the loaders import this module, so import them lazily

    loaders = {"text": data.load_text, "series": data.load_series, "pairs": data.load_pairs,
               "probe": data.load_probe}
    return loaders[data_kind(spec)](spec, **kwargs)


def spec_table() -> str:
    """The Markdown table of every spec (docs/data.md and the README carry a copy of it)."""
    rows = ["| spec | gives | what it loads | options |", "|---|---|---|---|"]
    for s in _REGISTRY.values():
        opts = ", ".join(f"`{k}`" for k in s.options) or "-"
        rows.append(f"| `{_spec_usage(s)}` | {s.data_kind} | {s.summary} | {opts} |")
    return "\n".join(rows)
