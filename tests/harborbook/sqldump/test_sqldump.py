"""Unit tests: the streaming reader, the rename and the schema rules on tricky dumps."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from harborbook.sqldump import (DumpError, DumpReader, DumpTransform, Kind, SchemaError,
                                classify, decide, parse_create_table, reader_for_bytes,
                                rename_database)

FIXTURES = Path(__file__).parent / "fixtures"

T = b"\n-- Dump completed on 2024-01-01\n"


def sqls(data: bytes, **kw) -> list[bytes]:
    return [s.sql for s in reader_for_bytes(data, "t.sql", **kw)]


@pytest.mark.parametrize("data, expected", [
    (b"SELECT 1;" + T, [b"SELECT 1"]),
    (b"INSERT INTO t VALUES ('a;b');" + T, [b"INSERT INTO t VALUES ('a;b')"]),
    (b"INSERT INTO t VALUES ('it\\'s;');" + T, [b"INSERT INTO t VALUES ('it\\'s;')"]),
    (b"INSERT INTO t VALUES ('it''s;');" + T, [b"INSERT INTO t VALUES ('it''s;')"]),
    (b'INSERT INTO t VALUES ("a\\";b");' + T, [b'INSERT INTO t VALUES ("a\\";b")']),
    (b"CREATE TABLE `a;b` (x int);" + T, [b"CREATE TABLE `a;b` (x int)"]),
    (b"CREATE TABLE `a``;b` (x int);" + T, [b"CREATE TABLE `a``;b` (x int)"]),
    (b"-- c;\n# d;\n/* e; */ SELECT 1;" + T, [b"SELECT 1"]),
    (b"SELECT 1 /* ; */ ;" + T, [b"SELECT 1 /* ; */"]),
    (b"SELECT 5--3;" + T, [b"SELECT 5--3"]),
    (b"/*!40101 SET NAMES utf8 */;" + T, [b"/*!40101 SET NAMES utf8 */"]),
    (b"/*!50003 CREATE PROCEDURE p() BEGIN SELECT 1; END */;" + T,
     [b"/*!50003 CREATE PROCEDURE p() BEGIN SELECT 1; END */"]),
    (b"DELIMITER ;;\nCREATE TRIGGER x BEGIN SET a=1; SET b=2; END ;;\nDELIMITER ;\nSELECT 2;" + T,
     [b"CREATE TRIGGER x BEGIN SET a=1; SET b=2; END", b"SELECT 2"]),
    (b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\nSELECT 1;" + T,
     [b"SELECT 1"]),
], ids=["plain", "semicolon-in-string", "backslash-quote", "doubled-quote", "double-quoted",
        "backtick", "doubled-backtick", "comments", "inline-comment", "minus-minus-not-comment",
        "conditional", "conditional-with-semicolons", "delimiter-block", "sandbox-line"])
def test_reader_splits_statements(data, expected):
    assert sqls(data) == expected


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 17, 64, 1 << 20], ids=lambda c: f"chunk{c}")
def test_fixture_same_at_every_chunk_size(chunk):
    data = (FIXTURES / "harbor-mini.sql").read_bytes()
    whole = [s.sql for s in reader_for_bytes(data)]
    split = [s.sql for s in reader_for_bytes(data, chunk_size=chunk)]
    assert split == whole and len(whole) > 30


def test_reader_reports_lines_header_and_sandbox():
    reader = reader_for_bytes((FIXTURES / "harbor-mini.sql").read_bytes())
    stmts = list(reader)
    assert reader.sandbox and reader.completed and reader.header.startswith("MariaDB dump")
    use = next(s for s in stmts if s.sql.startswith(b"USE"))
    assert use.line == 18


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"-- only a comment\n", "no SQL statement"),
    (b"\x00\x01binary\x00", "not a SQL dump"),
    (b"SELECT 1;\nINSERT INTO t VALUES (1", "no terminating"),
    (b"SELECT 1;\nINSERT INTO t VALUES ('abc", "inside a quoted string"),
    (b"SELECT 1;\n/* never closed", "inside a /\\* comment"),
    (b"SELECT 1;\n", "no '-- Dump completed' trailer"),
], ids=["empty", "whitespace", "comment-only", "binary", "unterminated-statement",
        "unterminated-string", "unterminated-comment", "no-trailer"])
def test_reader_refuses_bad_dumps(data, match):
    with pytest.raises(DumpError, match=match) as err:
        sqls(data)
    assert "t.sql" in err.value.message


def test_truncated_error_names_line():
    with pytest.raises(DumpError) as err:
        sqls(b"SELECT 1;\n\nINSERT INTO t VALUES ('x',\n1")
    assert err.value.line == 3 and "t.sql:3" in err.value.message


def test_no_trailer_allowed_when_asked():
    assert sqls(b"SELECT 1;\n", require_trailer=False) == [b"SELECT 1"]


def test_gzip_detected_by_magic(tmp_path):
    path = tmp_path / "dump.sql"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(b"SELECT 1;" + T))
    with DumpReader.open(path) as reader:
        assert [s.sql for s in reader] == [b"SELECT 1"]


def test_other_compression_named(tmp_path):
    path = tmp_path / "dump.sql.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"x" * 20)
    with pytest.raises(DumpError, match="zstd"):
        DumpReader.open(path)


def test_not_sql_text_refused():
    reader = reader_for_bytes(b"hello world; this is prose;" + T, "notes.txt")
    with pytest.raises(DumpError, match="not a SQL dump"):
        list(DumpTransform(reader, database="registry", staging="s", target="t"))


def test_gigantic_single_line_is_linear():
    row = b"(1,'" + b"x\\'y" * 50 + b"')"
    small = b"INSERT INTO t VALUES " + b",".join([row] * 2_000) + b";" + T
    big = b"INSERT INTO t VALUES " + b",".join([row] * 100_000) + b";" + T  # ~21 MB, one line
    start = time.perf_counter()
    assert len(sqls(small, chunk_size=65536)) == 1
    t_small = time.perf_counter() - start
    start = time.perf_counter()
    out = sqls(big, chunk_size=65536)
    t_big = time.perf_counter() - start
    assert len(out) == 1 and len(out[0]) == len(big) - len(T) - 1
    assert t_big < 50 * t_small * 3 + 1.0  # 50x the data: linear, not quadratic


# ----------------------------------------------------------------------------- rename
@pytest.mark.parametrize("sql, expected", [
    (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `registry` /*!40100 DEFAULT CHARACTER SET utf8 */",
     b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `new` /*!40100 DEFAULT CHARACTER SET utf8 */"),
    (b"USE `registry`", b"USE `new`"),
    (b"USE registry", b"USE `new`"),
    (b"DROP DATABASE IF EXISTS registry", b"DROP DATABASE IF EXISTS `new`"),
    (b"INSERT INTO `registry`.`t` VALUES ('registry.t')", b"INSERT INTO `new`.`t` VALUES ('registry.t')"),
    (b"INSERT INTO t VALUES ('library/registry', 'registry.x')",
     b"INSERT INTO t VALUES ('library/registry', 'registry.x')"),
    (b"CREATE TABLE t (`registry_url` int, `registry` int, replication_target int)",
     b"CREATE TABLE t (`registry_url` int, `registry` int, replication_target int)"),
    (b"SELECT t.registry, registry.t.c FROM registry.t", b"SELECT t.registry, `new`.t.c FROM `new`.t"),
    (b"SELECT `registry` . `t` FROM x", b"SELECT `new` . `t` FROM x"),
    (b"/*!50003 TRIGGER x BEGIN SET @n=(SELECT 1 FROM `registry`.`p` -- registry.q\n); END */",
     b"/*!50003 TRIGGER x BEGIN SET @n=(SELECT 1 FROM `new`.`p` -- registry.q\n); END */"),
    (b"SELECT registry_k8s.t, xregistry.t, `Registry`.t FROM z",
     b"SELECT registry_k8s.t, xregistry.t, `Registry`.t FROM z"),
], ids=["create-database", "use-quoted", "use-bare", "drop-database", "insert-head",
        "data-untouched", "lookalike-identifiers", "qualified-not-column", "spaced-dot",
        "trigger-body-not-comment", "case-and-prefix"])
def test_rename(sql, expected):
    assert rename_database(sql, "registry", "new", classify(sql)).sql == expected


def test_rename_reports_declared_database():
    got = rename_database(b"USE `other`", "registry", "new", Kind.USE)
    assert got.declared == ["other"] and got.sql == b"USE `other`"


def test_transform_refuses_wrong_database():
    reader = reader_for_bytes(b"CREATE DATABASE `harbor`;\nUSE `harbor`;" + T, "d.sql")
    with pytest.raises(DumpError, match="database 'harbor', expected 'registry'") as err:
        list(DumpTransform(reader, database="registry", staging="s", target="t"))
    assert err.value.line == 1


# ----------------------------------------------------------------------------- schema
@pytest.mark.parametrize("sql, add_pk, convert, error", [
    (b"CREATE TABLE a (id int NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB", None, None, False),
    (b"CREATE TABLE a (id int NOT NULL PRIMARY KEY)", None, None, False),
    (b"CREATE TABLE a (`version_num` varchar(32) NOT NULL) ENGINE=InnoDB", "version_num", None,
     False),
    (b"CREATE TABLE a (k int NOT NULL, v text, UNIQUE KEY kk (k)) ENGINE=InnoDB", "k", None,
     False),
    (b"CREATE TABLE a (k int, v int)", None, None, True),
    (b"CREATE TABLE a (k int NOT NULL, v int NOT NULL)", None, None, True),
    (b"CREATE TABLE a (k text NOT NULL)", None, None, True),
    (b"CREATE TABLE a (id int NOT NULL, PRIMARY KEY (id)) ENGINE=MyISAM", None, "MyISAM", False),
    (b"CREATE TABLE a (v varchar(9) NOT NULL) ENGINE=Aria", "v", "Aria", False),
], ids=["has-pk", "inline-pk", "alembic-single-not-null", "unique-not-null", "nullable-only",
        "two-not-null", "text-unkeyable", "myisam", "aria-and-no-pk"])
def test_schema_policy(sql, add_pk, convert, error):
    plan = decide(parse_create_table(sql))
    assert plan.add_primary_key == add_pk
    assert plan.convert_engine == convert
    assert bool(plan.error) == error
    if error:
        assert "`a`" in plan.hint and "primary key" in plan.error
    if add_pk:
        assert any("Galera" in w for w in plan.warnings)


def test_schema_error_raised_before_data():
    reader = reader_for_bytes(b"CREATE TABLE `loose` (a int, b int);\nINSERT INTO loose VALUES (1,2);"
                              + T, "d.sql")
    seen = []
    with pytest.raises(SchemaError, match="loose"):
        for item in DumpTransform(reader, database="registry", staging="s", target="t"):
            seen.append(item)
    assert seen == []
