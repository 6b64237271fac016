"""The source harbor_db: the Harbor 1.2 schema and its seed data. No root, no daemons."""

from __future__ import annotations

from harborlab.sourcedb import SAMPLE_REPOSITORIES, access_log_lines, sample_sql, schema_sql


def test_schema_declares_fifteen_tables_and_alembic_without_key():
    sql = schema_sql()
    assert sql.count("CREATE TABLE ") == 15
    alembic = sql.split("CREATE TABLE alembic_version")[1].split(";")[0]
    assert "PRIMARY KEY" not in alembic.upper()
    assert "CHARACTER SET utf8" in sql


def test_access_log_lines_are_deterministic_and_well_formed():
    first = list(access_log_lines(50))
    assert first == list(access_log_lines(50))
    assert all(line.count("\t") == 6 and line.endswith("\n") for line in first)
    projects = {str(pid) for _, pid in SAMPLE_REPOSITORIES}
    assert {line.split("\t")[1] for line in first} <= projects


def test_sample_sql_is_static():
    assert sample_sql() == sample_sql() and "NOW()" not in sample_sql()
