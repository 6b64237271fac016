"""The reader's plain-statement shortcut ends every statement where the full scanner does."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harborbook.sqldump import DumpError
from harborbook.sqldump.reader import reader_for_bytes

FIXTURES = Path(__file__).parent / "fixtures"

# Bytes that matter to the grammar, and plain ones: every way a ';' can hide.
PIECES = [b"'", b"''", b'"', b"`", b"\\", b"\\'", b";", b"-- ", b"--", b"#", b"/*", b"*/", b"/*!40101 ",
          b"\n", b" ", b"a", b"1", b",", b"(", b")", b"INSERT INTO `t` VALUES ", b"DELIMITER ;;\n", b";;"]


def _read(data: bytes, fast: bool):
    reader = reader_for_bytes(data, require_trailer=False)
    reader.fast = fast
    try:
        return [(s.sql, s.line, s.delimiter) for s in reader], None
    except DumpError as exc:
        return None, (exc.message, exc.line)


@settings(max_examples=int(os.environ.get("HB_FAST_EXAMPLES", "3000")), deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_shortcut_agrees_with_the_full_scanner(pieces):
    data = b"SELECT 1;\n" + b"".join(pieces) + b";\n"
    assert _read(data, fast=True) == _read(data, fast=False)


def test_shortcut_agrees_on_the_fixture_and_takes_mysqldump_lines():
    data = (FIXTURES / "harbor-mini.sql").read_bytes()
    assert _read(data, fast=True) == _read(data, fast=False)
    line = b"INSERT INTO `access_log` VALUES (1,'a;b',2,'it''s'),(2,'x',3,'y');\nSELECT 1;\n"
    reader = reader_for_bytes(line, require_trailer=False)
    assert [s.sql for s in reader] == [line.split(b";\n")[0], b"SELECT 1"]


def test_shortcut_declines_what_it_cannot_prove():
    # A ';' inside a string: the quotes before it are odd in number, so the full scanner decides.
    reader = reader_for_bytes(b"INSERT INTO t VALUES ('a;b');\n", require_trailer=False)
    reader._fill()
    reader._skip_between()
    assert reader._plain_statement(1) is None
    assert reader._scan_statement().sql == b"INSERT INTO t VALUES ('a;b')"


def test_a_string_closing_in_the_last_bytes_of_the_stream_is_not_truncated():
    # Found by the comparison above: the full scanner searched a string's end only up to the
    # window's margin, so a last string closing within 16 bytes of EOF was called truncated.
    data = b"SELECT 1;\n'''''''/*!40101 INSERT INTO `t` VALUES ';\n"
    assert _read(data, fast=False) == _read(data, fast=True)
    assert _read(data, fast=False)[0][1][0] == data.split(b";\n")[1]
    cut = b"SELECT 1;\nINSERT INTO t VALUES ('never closed);\n"
    assert "ends inside a quoted string" in _read(cut, fast=False)[1][0]
