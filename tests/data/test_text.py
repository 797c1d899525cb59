"""Text sources: file:PATH (file or folder), pydoc, stdlib, UTF-8 errors with offsets."""

import pydoc_data.topics

import pytest

from seqlab.data import load_text
from seqlab.errors import DataError


def test_file_reads_exact_bytes(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("héllo\r\nwörld\n".encode())
    assert load_text(f"file:{p}") == "héllo\r\nwörld\n"
    assert load_text(str(p)) == "héllo\r\nwörld\n"  # bare path works too


def test_folder_concatenates_sorted_txt_files_recursively(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("third")
    (tmp_path / "skip.md").write_text("not text")
    assert load_text(f"file:{tmp_path}") == "first\nsecond\nthird\n"


def test_empty_folder_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="no .txt files"):
        load_text(f"file:{tmp_path}")
    with pytest.raises(DataError, match="no such file"):
        load_text(f"file:{tmp_path / 'nope.txt'}")


def test_bad_utf8_names_file_and_byte_offset(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"abc\xe9def")
    with pytest.raises(DataError) as e:
        load_text(f"file:{p}")
    msg = str(e.value)
    assert str(p) in msg and "byte offset 3" in msg and "\n" not in msg
    assert load_text(f"file:{p}", errors="replace") == "abc\ufffddef"
    assert load_text(f"file:{p};errors=replace") == "abc\ufffddef"


def test_bad_utf8_inside_a_folder_names_the_file(tmp_path):
    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "zz.txt").write_bytes(b"\xff")
    with pytest.raises(DataError, match=r"zz\.txt: not UTF-8 at byte offset 0"):
        load_text(f"file:{tmp_path}")


def test_pydoc_is_the_python_reference_manual():
    text = load_text("pydoc")
    assert 400_000 < len(text) < 600_000
    assert text == load_text()  # the default corpus
    topics = pydoc_data.topics.topics
    assert text.startswith(topics[sorted(topics)[0]].strip("\n"))
    assert "The \"with\" statement" in text


def test_stdlib_is_python_source_and_can_be_capped():
    text = load_text("stdlib;max_bytes=20000")
    assert len(text) == 20000
    assert "def " in text and "import " in text
