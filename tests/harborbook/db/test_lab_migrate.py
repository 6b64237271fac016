"""Against a private mariadbd: account, staged import, verify, swap, idempotency, replace,
an interrupted import. Marked `lab`: needs root and the MariaDB server binaries."""

from __future__ import annotations

import gzip
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pymysql
import pytest

from harborbook.db import (DumpFile, Endpoint, Login, SourceServer, TargetNotEmptyError,
                           ensure_account, first_healthy, migrate)
from harborbook.errors import TransportError
from harborbook.sqldump import DumpError, SchemaError

from .conftest import FIXTURES

pytestmark = pytest.mark.lab
NOW = datetime(2024, 5, 1, 12, 0, 0)
MINI = FIXTURES / "harbor-mini.sql"


def tables(conn, db):
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                    "AND TABLE_TYPE='BASE TABLE' ORDER BY 1", (db,))
        return [r[0] for r in cur.fetchall()]


def drop(mariadb, *dbs):
    conn = mariadb.connect()
    with conn.cursor() as cur:
        for db in dbs:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        cur.execute("SHOW DATABASES LIKE '%%\\_\\_bak\\_%%'")
        for (db,) in cur.fetchall():
            cur.execute(f"DROP DATABASE `{db}`")
    conn.close()


@pytest.fixture
def target(mariadb, admin, endpoint):
    conn, info, probed = first_healthy([Endpoint("127.0.0.1", 1), endpoint], admin)
    assert info.kind == "plain" and info.healthy
    assert probed[0].kind == "unreachable"
    drop(mariadb, "t_k8s", "t_k8s__staging")
    try:
        yield conn
    finally:
        conn.close()
        drop(mariadb, "t_k8s", "t_k8s__staging")


def test_wrong_password_is_a_transport_error_naming_the_field(endpoint):
    login = Login("hbtest_admin", "not-the-password-xyz", "database.target.admin_password")
    with pytest.raises(TransportError) as err:
        first_healthy([endpoint], login)
    text = err.value.render()
    assert "database.target.admin_password" in text
    assert "not-the-password-xyz" not in text + repr(err.value.__cause__)


def test_account_created_then_unchanged(target, endpoint, mariadb):
    first = ensure_account(target, endpoint, database="t_k8s", user="hb_user",
                           password="pw-Secret-1", host="127.0.0.1")
    assert first.status == "changed" and not first.warnings
    assert all("pw-Secret-1" not in a for a in first.actions)
    again = ensure_account(target, endpoint, database="t_k8s", user="hb_user",
                           password="pw-Secret-1", host="127.0.0.1")
    assert again.status == "unchanged", again.actions
    with target.cursor() as cur:
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'hb_user'@'127.0.0.1' WITH GRANT OPTION")
    wide = ensure_account(target, endpoint, database="t_k8s", user="hb_user",
                          password="pw-Secret-1", host="127.0.0.1", dry_run=True)
    assert wide.warnings and wide.revoke[0].startswith("REVOKE ALL PRIVILEGES ON *.*")
    with target.cursor() as cur:
        cur.execute("DROP USER 'hb_user'@'127.0.0.1'")


def test_migrate_dumpfile_then_unchanged_then_refuse_then_replace(target, tmp_path, mariadb):
    src = DumpFile(MINI)
    dry = migrate(src, target, endpoint="x", target="t_k8s", now=NOW, dry_run=True)
    assert dry.status == "planned" and tables(target, "t_k8s") == []
    artifact = tmp_path / "import.sql.gz"
    res = migrate(src, target, endpoint="x", target="t_k8s", now=NOW, artifact=artifact)
    assert res.status == "changed" and res.action == "move"
    assert all(c.ok for c in res.checks) and len(res.checks) == 6
    assert tables(target, "t_k8s") == ["access_log", "alembic_version", "project", "properties",
                                       "replication_target", "user"]
    assert tables(target, "t_k8s__staging") == []
    with target.cursor() as cur:
        cur.execute("SELECT repo_name FROM t_k8s.access_log ORDER BY log_id")
        assert cur.fetchall()[2][0] == 'library/"quoted" registry.registry'
        cur.execute("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA='t_k8s' "
                    "AND TABLE_NAME='properties'")
        assert cur.fetchone()[0] == "InnoDB"
        cur.execute("SHOW KEYS FROM t_k8s.alembic_version WHERE Key_name='PRIMARY'")
        assert cur.fetchone() is not None
        cur.execute("SELECT COUNT(*) FROM t_k8s.public_projects")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA='t_k8s'")
        assert "`t_k8s`.`project`" in cur.fetchone()[0]
    assert any("alembic_version" in w for w in res.warnings)
    # The artifact restores the target with the mysql client.
    with gzip.open(artifact, "rb") as fh:
        body = fh.read()
    assert b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `t_k8s`" in body
    again = migrate(src, target, endpoint="x", target="t_k8s", now=NOW)
    assert again.status == "unchanged"
    with target.cursor() as cur:
        cur.execute("UPDATE t_k8s.project SET public=0")
    with pytest.raises(TargetNotEmptyError):
        migrate(src, target, endpoint="x", target="t_k8s", now=NOW)
    with target.cursor() as cur:
        cur.execute("SELECT public FROM t_k8s.project")
        assert cur.fetchone()[0] == 0  # refused: untouched
        cur.execute("DROP TRIGGER t_k8s.user_touch")  # RENAME TABLE cannot move triggers
    replaced = migrate(src, target, endpoint="x", target="t_k8s", now=NOW, replace=True)
    assert replaced.action == "replace" and replaced.backup == "t_k8s__bak_20240501120000"
    assert len(tables(target, replaced.backup)) == 6


def test_restore_artifact_with_mysql_client(target, tmp_path, mariadb):
    artifact = tmp_path / "a.sql.gz"
    migrate(DumpFile(MINI), target, endpoint="x", target="t_k8s", now=NOW, artifact=artifact)
    drop(mariadb, "t_k8s")
    with gzip.open(artifact) as fh:
        subprocess.run(["mariadb", "-h127.0.0.1", f"-P{mariadb.port}", "-uhbtest_admin",
                        f"-p{mariadb.password}"], input=fh.read(), check=True,
                       capture_output=True)
    assert len(tables(target, "t_k8s")) == 6


def test_bad_dumps_leave_target_untouched(target, tmp_path):
    cases = {"truncated": MINI.read_bytes()[:2500], "empty": b"",
             "notsql": b"hello world, this is a text file\n"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DumpError):
            migrate(DumpFile(path), target, endpoint="x", target="t_k8s", now=NOW)
        assert tables(target, "t_k8s") == []
    wrong = tmp_path / "wrong"
    wrong.write_bytes(MINI.read_bytes().replace(b"`registry`;", b"`other`;"))
    with pytest.raises(DumpError, match="expected 'registry'"):
        migrate(DumpFile(wrong), target, endpoint="x", target="t_k8s", now=NOW)


def test_no_derivable_key_fails_naming_table(target, tmp_path):
    bad = tmp_path / "nopk.sql"
    bad.write_bytes(b"CREATE TABLE `loose` (`a` int, `b` int);\n-- Dump completed\n")
    with pytest.raises(SchemaError, match="loose"):
        migrate(DumpFile(bad, require_trailer=True), target, endpoint="x", target="t_k8s",
                now=NOW)
