"""The server dies mid-import: the target is untouched, and a re-run completes."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from harborbook.db import DumpFile, SourceServer, first_healthy, migrate
from harborbook.errors import HarborbookError, TransportError

from .bigdump import write_big_dump
from .test_lab_migrate import MINI, drop, tables

pytestmark = [pytest.mark.lab, pytest.mark.slow]
NOW = datetime(2024, 5, 1, 12, 0, 0)


def test_killed_server_mid_import_leaves_target_untouched(mariadb, admin, endpoint, tmp_path):
    drop(mariadb, "t_k8s", "t_k8s__staging")
    dump = write_big_dump(tmp_path / "big.sql", 300_000)
    conn, _, _ = first_healthy([endpoint], admin)
    first = migrate(DumpFile(MINI), conn, endpoint=str(endpoint), target="t_k8s", now=NOW)
    assert first.status == "changed"
    before = tables(conn, "t_k8s")
    conn.close()

    conn, _, _ = first_healthy([endpoint], admin)
    seen: list[int] = []
    killed = threading.Event()

    def progress(done: int) -> None:
        seen.append(done)
        if done > 5_000_000 and not killed.is_set():
            killed.set()
            threading.Thread(target=mariadb.kill).start()

    with pytest.raises(TransportError) as err:
        migrate(DumpFile(dump), conn, endpoint=str(endpoint), target="t_k8s", now=NOW,
                replace=True, progress=progress)
    assert killed.is_set() and "re-run" in (err.value.hint or "")
    mariadb.start()
    check = mariadb.connect()
    assert tables(check, "t_k8s") == before
    with check.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM t_k8s.access_log")
        assert cur.fetchone()[0] == 4  # the old content, not a partial import
        cur.execute("DROP TRIGGER IF EXISTS t_k8s.user_touch")
    conn, _, _ = first_healthy([endpoint], admin)
    done = migrate(DumpFile(dump), conn, endpoint=str(endpoint), target="t_k8s", now=NOW,
                   replace=True)
    assert done.status == "changed" and all(c.ok for c in done.checks)
    with check.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM t_k8s.access_log")
        assert cur.fetchone()[0] == 300_004
    conn.close()
    check.close()
    drop(mariadb, "t_k8s", "t_k8s__staging")


def test_server_source_with_checksums(mariadb, admin, endpoint):
    drop(mariadb, "registry", "t_k8s", "t_k8s__staging")
    conn, _, _ = first_healthy([endpoint], admin)
    # Load the fixture as the "source" Harbor database under its own name.
    from harborbook.sqldump import DumpReader
    with conn.cursor() as cur, DumpReader.open(MINI) as reader:
        for stmt in reader:
            cur.execute(stmt.sql)
    src = SourceServer(endpoint, admin, "registry")
    res = migrate(src, conn, endpoint=str(endpoint), target="t_k8s", now=NOW)
    assert res.status == "changed"
    assert {c.table for c in res.checks if c.checksum_source is not None} == {
        "access_log", "alembic_version", "project", "properties", "replication_target", "user"}
    assert all(c.ok for c in res.checks), res.table()
    with conn.cursor() as cur:
        cur.execute("UPDATE registry.project SET public=0")
    # The source changed after the dump is impossible to fake here; a missing seed is not.
    with conn.cursor() as cur:
        cur.execute("DELETE FROM registry.project")
    with pytest.raises(HarborbookError, match="seed row project.name=library missing"):
        migrate(src, conn, endpoint=str(endpoint), target="t_k8s", now=NOW, replace=True)
    conn.close()
    drop(mariadb, "registry", "t_k8s", "t_k8s__staging")
