"""The spec syntax: parsing, options, routing by data kind, errors, and the docs table."""

from pathlib import Path

import pytest

import seqlab.data as D
from seqlab.data.spec import parse_spec
from seqlab.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def test_kind_arg_and_options():
    s = parse_spec("csv:data/x.csv;column=close;fill=ffill")
    assert (s.kind, s.arg, s.options) == ("csv", "data/x.csv", {"column": "close", "fill": "ffill"})
    assert parse_spec("ar:0.5,-0.3").arg == "0.5,-0.3"
    assert parse_spec("url:https://h/a.txt?x=1").arg == "https://h/a.txt?x=1"
    assert parse_spec("  PYDOC ").kind == "pydoc"
    assert parse_spec("copy-memory").arg is None


def test_semicolon_inside_a_path_is_not_an_option():
    s = parse_spec("file:a;b.txt")
    assert (s.arg, s.options) == ("a;b.txt", {})


def test_existing_path_without_kind_is_inferred(tmp_path):
    for name, kind in (("a.csv", "csv"), ("b.tsv", "tsv"), ("c.txt", "file"), ("d", "file")):
        p = tmp_path / name
        p.write_text("x")
        s = parse_spec(str(p))
        assert (s.kind, s.arg) == (kind, str(p))


@pytest.mark.parametrize("bad", ["nonsense", "", "   ", "file:", "csv", "pydoc:extra", "./missing.txt"])
def test_bad_specs_raise_one_line_data_error(bad):
    with pytest.raises(DataError) as e:
        parse_spec(bad)
    assert "\n" not in str(e.value) and str(e.value)


def test_unknown_spec_lists_the_known_kinds():
    with pytest.raises(DataError, match=r"unknown data spec 'nonsense'.*pydoc.*csv:PATH"):
        D.data_kind("nonsense")


def test_options_are_typed_and_checked():
    assert len(D.load_series("sine;length=7")) == 7
    with pytest.raises(DataError, match="option length='x' is not a valid int"):
        D.load_series("sine;length=x")
    with pytest.raises(DataError, match="unknown option 'colour'"):
        D.load_series("sine;colour=red")
    with pytest.raises(DataError, match="unknown option 'column'"):
        D.load_series("sine", column="x")


def test_keyword_arguments_override_spec_options():
    assert len(D.load_series("sine;length=7", length=9)) == 9


@pytest.mark.parametrize("spec,kind", [("pydoc", "text"), ("file:x", "text"), ("url:https://a/b", "text"),
                                       ("tinyshakespeare", "text"), ("stdlib", "text"), ("sine", "series"),
                                       ("ar:0.5", "series"), ("sunspots", "series"), ("csv:x", "series"),
                                       ("copy", "pairs"), ("addition", "pairs"), ("tsv:x", "pairs"),
                                       ("copy-memory:5", "probe"), ("adding-problem", "probe")])
def test_data_kind_routes_every_spec(spec, kind):
    assert D.data_kind(spec) == kind


def test_loader_refuses_a_spec_of_another_kind():
    with pytest.raises(DataError, match="gives series, not text"):
        D.load_text("sine")
    with pytest.raises(DataError, match="gives text, not pairs"):
        D.load_pairs("pydoc")


def test_generic_load_dispatches_by_kind():
    assert isinstance(D.load("pydoc"), str)
    assert D.load("sine;length=5").shape == (5,)
    assert D.load("reverse", n=3, seed=0)[0][1] == D.load_pairs("reverse", n=3, seed=0)[0][1]
    assert D.load("copy-memory:3", n=2).x.shape == (2, 23)


def test_docs_page_lists_every_spec():
    page = (ROOT / "docs" / "data.md").read_text()
    for src in D.sources().values():
        assert f"`{src.kind}" in page, src.kind
    assert D.spec_table() in page  # the table in the docs is the generated one, not a drifting copy
