"""The real services of the lab, probed the way a runbook would reach them."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
import uuid

import pymysql
import pytest
import redis
from click.testing import CliRunner

from harborlab import cli, procs
from harborlab.ceph import CEPHFS_TYPES
from harborlab.component import DOWN, OK, REPAIRED, RUNNING
from harborlab.galera import ADMIN_USER, nodes_from
from harborlab.lab import Lab
from tests.leakscan import find_leaks

from .conftest import ACCESS_LOG_ROWS

pytestmark = pytest.mark.lab

# The Harbor 1.2 `registry` database, from the reference (written independently of the schema file).
REFERENCE_TABLES = {
    "access", "access_log", "alembic_version", "clair_vuln_timestamp", "img_scan_job", "img_scan_overview",
    "project", "project_member", "properties", "replication_job", "replication_policy", "replication_target",
    "repository", "role", "user",
}


def query(lab: Lab, port: int, user: str, secret: str, sql: str, database: str | None = None, **extra):
    conn = pymysql.connect(host=lab.host, port=port, user=user, password=lab.secret_value(secret),
                           database=database, connect_timeout=5, **extra)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def source(lab: Lab, sql: str):
    return query(lab, lab.ports["harbor-db"], "harbor_src", "harbor-db-password", sql, "registry")


def wait_until(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


# -- the whole lab ----------------------------------------------------------------------


def test_every_row_is_healthy_after_up(lab):
    rows = lab.status()
    assert {r.component for r in rows} >= {"ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-fuse",
                                            "galera-1", "galera-2", "galera-3", "harbor-db", "redis"}
    assert [r for r in rows if r.health != OK] == []
    daemons = [r for r in rows if not r.component.startswith("node-")]  # node roots are mounts, not processes
    assert all(r.pid and procs.alive(r.pid) for r in daemons)


def test_up_again_is_idempotent(lab, fresh_lab):
    pids = {r.component: r.pid for r in lab.status()}
    results = fresh_lab.up()
    assert set(results.values()) == {RUNNING}
    assert {r.component: r.pid for r in fresh_lab.status()} == pids


def test_status_cli_prints_the_table(lab):
    result = CliRunner().invoke(cli.lab, ["status", "--state", str(lab.state)])
    assert result.exit_code == 0, result.output
    assert "galera-3" in result.output and "wsrep_cluster_size=3 Synced" in result.output
    assert "PONG" in result.output and "HEALTH_OK" in result.output


def test_lab_json_and_secret_files(lab):
    details = json.loads((lab.state / "lab.json").read_text())
    assert details["galera"]["user"] == ADMIN_USER
    assert [n["port"] for n in details["galera"]["nodes"]] == [n.port for n in nodes_from(lab.ports)]
    assert details["harbor-db"]["database"] == "registry" and details["redis"]["port"] == lab.ports["redis"]
    assert details["ceph"]["mountpoint"] == str(lab.state / "cephfs")
    assert stat.S_IMODE((lab.state / "secrets").stat().st_mode) == 0o700
    for name in ("galera-admin-password", "harbor-db-password", "redis-password", "ceph-admin-key",
                 "harbor-admin-password", "harbor-db-user-password"):
        assert stat.S_IMODE(lab.secret(name).stat().st_mode) == 0o600
    assert stat.S_IMODE((lab.state / "ceph" / "ceph.client.admin.keyring").stat().st_mode) == 0o600


def test_no_secret_value_outside_its_file(lab):
    names = ("galera-admin-password", "harbor-db-password", "redis-password", "harbor-admin-password",
             "harbor-db-user-password")
    values = {name: lab.secret_value(name) for name in names}
    # Not the mounts: CephFS, and the node roots (which bind the host's /proc and /usr).
    folders = [p for p in lab.state.iterdir() if p.name not in ("secrets", "cephfs", "nodes") and p.is_dir()]
    leaks = find_leaks(values, folders, {"lab.json": (lab.state / "lab.json").read_text()})
    assert leaks == []


# -- galera -------------------------------------------------------------------------------


def test_row_written_on_node_1_is_read_on_node_3(lab):
    first, _, third = nodes_from(lab.ports)
    marker = uuid.uuid4().hex
    query(lab, first.port, ADMIN_USER, "galera-admin-password",
          "CREATE DATABASE IF NOT EXISTS labtest")
    query(lab, first.port, ADMIN_USER, "galera-admin-password",
          "CREATE TABLE IF NOT EXISTS labtest.t (id varchar(32) PRIMARY KEY)")
    query(lab, first.port, ADMIN_USER, "galera-admin-password", f"INSERT INTO labtest.t VALUES ('{marker}')")
    # wsrep_sync_wait=1: the read waits until node 3 has applied everything committed before it.
    rows = query(lab, third.port, ADMIN_USER, "galera-admin-password",
                 f"SELECT id FROM labtest.t WHERE id = '{marker}'", init_command="SET SESSION wsrep_sync_wait=1")
    assert rows == ((marker,),)


def test_killed_node_shows_down_and_up_rejoins_it(lab, fresh_lab):
    nodes = nodes_from(lab.ports)
    victim = nodes[1].name
    others = {n.name: lab.pid(n.name) for n in nodes if n.name != victim}
    os.kill(lab.pid(victim), signal.SIGKILL)
    assert wait_until(lambda: lab.pid(victim) is None, 10)
    row = next(r for r in lab.status() if r.component == victim)
    assert row.health == DOWN and row.pid is None
    results = fresh_lab.up()
    assert results["galera"] == REPAIRED
    assert all(v == RUNNING for k, v in results.items() if k != "galera")
    assert {name: lab.pid(name) for name in others} == others  # the survivors were not touched
    assert wait_until(lambda: all(r.health == OK for r in lab.status() if r.component.startswith("galera-")), 30)


# -- source harbor_db ---------------------------------------------------------------------------


def test_source_db_has_exactly_the_reference_tables(lab):
    tables = {name for (name,) in source(lab, "SHOW TABLES")}
    assert tables == REFERENCE_TABLES


def test_source_db_every_table_has_a_primary_key_but_alembic_version(lab):
    keyed = {name for (name,) in source(lab, (
        "SELECT table_name FROM information_schema.table_constraints "
        "WHERE table_schema='registry' AND constraint_type='PRIMARY KEY'"))}
    assert REFERENCE_TABLES - keyed == {"alembic_version"}


def test_source_db_is_utf8(lab):
    charsets = {cs for (cs,) in source(lab, (
        "SELECT DISTINCT c.character_set_name FROM information_schema.tables t "
        "JOIN information_schema.collation_character_set_applicability c ON c.collation_name = t.table_collation "
        "WHERE t.table_schema='registry'"))}
    assert charsets == {"utf8mb3"}
    assert source(lab, "SELECT default_character_set_name FROM information_schema.schemata "
                       "WHERE schema_name='registry'") == (("utf8mb3",),)


def test_source_db_seed_rows(lab):
    assert source(lab, "SELECT access_code FROM access ORDER BY access_id") == (("M",), ("R",), ("W",), ("D",), ("S",))
    assert source(lab, "SELECT role_id, role_code, name FROM role ORDER BY role_id") == (
        (1, "MDRWS", "projectAdmin"), (2, "RWS", "developer"), (3, "RS", "guest"))
    assert source(lab, "SELECT user_id, username, deleted, sysadmin_flag FROM user WHERE user_id <= 2") == (
        (1, "admin", 0, 1), (2, "anonymous", 1, 0))
    assert source(lab, "SELECT project_id, owner_id, name, public FROM project WHERE project_id = 1") == (
        (1, 1, "library", 1),)
    assert source(lab, "SELECT project_id, user_id, role FROM project_member WHERE project_id = 1") == ((1, 1, 1),)
    assert source(lab, "SELECT version_num FROM alembic_version") == (("1.2.0",),)


def test_source_db_sample_load(lab):
    assert source(lab, "SELECT COUNT(*) FROM access_log") == ((ACCESS_LOG_ROWS,),)
    assert source(lab, "SELECT COUNT(*) FROM project")[0][0] > 1
    assert source(lab, "SELECT COUNT(*) FROM repository")[0][0] > 1
    assert source(lab, "SELECT COUNT(*) FROM access_log a LEFT JOIN project p USING (project_id) "
                       "WHERE p.project_id IS NULL") == ((0,),)
    index = source(lab, "SHOW INDEX FROM access_log WHERE Key_name = 'pid_optime'")
    assert [row[4] for row in index] == ["project_id", "op_time"]


# -- redis ---------------------------------------------------------------------------------------


def test_redis_answers_pong_only_with_the_password(lab):
    good = redis.Redis(host=lab.host, port=lab.ports["redis"], password=lab.secret_value("redis-password"))
    bad = redis.Redis(host=lab.host, port=lab.ports["redis"])
    try:
        assert good.ping() is True
        with pytest.raises(redis.AuthenticationError):
            bad.ping()
    finally:
        good.close()
        bad.close()


# -- cephfs ----------------------------------------------------------------------------------------


def test_cephfs_is_mounted_writable_and_reported_as_cephfs(lab):
    point = lab.state / "cephfs"
    assert procs.mount_type(point) in CEPHFS_TYPES
    folder = point / "apps" / "harbor-k8s" / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(1 << 20)
    (folder / "blob").write_bytes(payload)
    assert (folder / "blob").read_bytes() == payload
    assert os.statvfs(point).f_blocks > 0


def test_killed_ceph_fuse_is_remounted_by_up_with_the_data_intact(lab, fresh_lab):
    point = lab.state / "cephfs"
    # Only synced data survives a killed client: ceph-fuse buffers writes, and
    # evicting its dead session drops what it never flushed (as on a real crash).
    with open(point / "kept.txt", "w") as handle:
        handle.write("still here")
        handle.flush()
        os.fsync(handle.fileno())
    os.kill(lab.pid("ceph-fuse"), signal.SIGKILL)
    assert wait_until(lambda: lab.pid("ceph-fuse") is None, 10)
    row = next(r for r in lab.status() if r.component == "ceph-fuse")
    assert row.health == DOWN
    assert fresh_lab.up()["ceph"] == REPAIRED
    assert procs.mount_type(point) in CEPHFS_TYPES
    assert (point / "kept.txt").read_text() == "still here"
