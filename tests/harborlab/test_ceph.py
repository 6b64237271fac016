"""The single-host Ceph: health, config, keys, placement groups, stale sessions. No root, no daemons."""

from __future__ import annotations

import pytest

from harborlab.ceph import (
    CEPH_SETTINGS,
    ceph_conf,
    classify_health,
    fsid_of,
    is_cephfs,
    key_from_keyring,
    pgs_clean,
    stale_sessions,
)
from harborlab.component import DEGRADED, DOWN, OK
from harborlab.lab import LabError


@pytest.mark.parametrize(
    ("fstype", "expected"),
    [("ceph", True), ("fuse.ceph-fuse", True), ("ext4", False), ("fuse", False), (None, False)],
    ids=["kernel", "fuse-client", "ext4", "other-fuse", "not-mounted"],
)
def test_is_cephfs(fstype, expected):
    assert is_cephfs(fstype) is expected


@pytest.mark.parametrize(
    ("output", "health"),
    [("HEALTH_OK\n", OK), ("HEALTH_WARN 1 pool(s) have no replicas configured\n", DEGRADED), (None, DOWN), ("", DEGRADED)],
    ids=["ok", "warn", "no-answer", "empty"],
)
def test_classify_ceph_health(output, health):
    assert classify_health(output)[0] == health


def test_ceph_conf_has_the_single_host_settings(tmp_path):
    text = ceph_conf(fsid="f", host="127.0.0.1", mon_v2=13300, mon_v1=16789, ms_min=16800, ms_max=16900, root=tmp_path)
    assert "mon host = [v2:127.0.0.1:13300,v1:127.0.0.1:16789]" in text
    for key, value in CEPH_SETTINGS.items():
        assert f"{key} = {value}" in text
    assert "$pid" in text.split("[client]")[1]  # per-process client admin sockets


def test_key_from_keyring():
    assert key_from_keyring("[client.admin]\n\tkey = QUJD==\n\tcaps mon = \"allow *\"\n") == "QUJD=="
    with pytest.raises(LabError):
        key_from_keyring("[client.admin]\n")


def test_fsid_of_reads_the_conf_and_refuses_a_conf_without_one(tmp_path):
    text = ceph_conf(fsid="abc-1", host="127.0.0.1", mon_v2=1, mon_v1=2, ms_min=3, ms_max=4, root=tmp_path)
    assert fsid_of(text) == "abc-1"
    with pytest.raises(LabError):
        fsid_of("[global]\n")


def _pg_stat(*states):
    return {"pg_summary": {"num_pgs": sum(n for _, n in states),
                           "num_pg_by_state": [{"name": name, "num": n} for name, n in states]}}


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        (_pg_stat(("active+clean", 33)), True),
        (_pg_stat(("stale+active+clean", 33)), False),
        (_pg_stat(("active+clean", 32), ("creating+peering", 1)), False),
        ({"pg_summary": {"num_pgs": 0, "num_pg_by_state": []}}, False),
    ],
    ids=["all-clean", "stale-after-osd-lost-its-data", "one-still-peering", "no-pools-yet"],
)
def test_pgs_clean(stat, expected):
    assert pgs_clean(stat) is expected


def _session(sid, point, pid):
    return {"id": sid, "client_metadata": {"mount_point": point, "pid": str(pid), "entity_id": "admin"}}


@pytest.mark.parametrize(
    ("sessions", "dead", "expected"),
    [
        ([_session(7, "/lab/cephfs", 100)], {100}, [7]),
        ([_session(7, "/lab/cephfs", 100)], set(), []),
        ([_session(7, "/other", 100)], {100}, []),
        ([{"id": 3, "client_metadata": {"entity_id": "x", "pid": "5"}}], {5}, []),
    ],
    ids=["dead-client-on-our-mount", "live-client", "other-mount", "mgr-session-without-mount"],
)
def test_stale_sessions(sessions, dead, expected):
    assert stale_sessions(sessions, "/lab/cephfs", lambda pid: pid not in dead) == expected
