"""Unit tests of the lab core and service modules: no root, no daemons needed."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
from importlib import resources

import pytest
from click.testing import CliRunner

from harborlab import cli, procs
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
from harborlab.component import DEGRADED, DOWN, OK, REPAIRED, RUNNING, STARTED, StatusRow, up_result, worst
from harborlab.galera import (
    Node,
    choose_bootstrap,
    classify,
    mark_safe,
    native_password_hash,
    nodes_from,
    parse_grastate,
    server_cnf,
    superuser_sql,
    wsrep_settings,
)
from harborlab.requirements import PROGRAMS, MissingProgramsError, check_programs, missing_programs, packages_for
from harborlab.lab import (
    PORTS,
    Lab,
    LabError,
    NotRootError,
    check_root,
    generate_password,
    shifted_ports,
    why_unavailable,
)
from harborlab.redisd import acl_line, ping_says_pong, redis_conf
from harborlab.sourcedb import SAMPLE_REPOSITORIES, access_log_lines, sample_sql, schema_sql

# -- component vocabulary -----------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "total", "expected"),
    [(0, 3, STARTED), (3, 3, RUNNING), (2, 3, REPAIRED), (1, 5, REPAIRED)],
    ids=["nothing-running", "all-running", "one-dead", "most-dead"],
)
def test_up_result(before, total, expected):
    assert up_result(before, total) == expected


@pytest.mark.parametrize(
    ("healths", "expected"),
    [([OK, OK], OK), ([OK, DEGRADED], DEGRADED), ([DEGRADED, DOWN, OK], DOWN), ([], OK)],
    ids=["all-ok", "one-degraded", "down-wins", "empty"],
)
def test_worst(healths, expected):
    assert worst(healths) == expected


# -- preflight ------------------------------------------------------------------------


def test_check_root_passes_for_root():
    check_root(0)


def test_check_root_refuses_others_with_one_line():
    with pytest.raises(NotRootError) as err:
        check_root(1000)
    assert "needs root" in err.value.message and "\n" not in err.value.message


def test_why_unavailable_says_why_in_one_line_or_nothing():
    assert why_unavailable(0, exists=lambda path: True) is None
    assert why_unavailable(1000, exists=lambda path: True).startswith("the lab needs root")
    missing = why_unavailable(0, exists=lambda path: path != "/usr/bin/redis-server")
    assert missing.startswith("the lab cannot start: missing programs: redis-server")
    assert "apt-get install" in missing and "\n" not in missing


def test_missing_programs_name_each_package_once():
    absent = {"/usr/bin/ceph-mon", "/usr/lib/galera/libgalera_smm.so", "/usr/bin/mount", "/usr/bin/umount"}
    assert missing_programs(lambda p: p not in absent) == [p for p in PROGRAMS if p in absent]
    assert packages_for(missing_programs(lambda p: p not in absent)) == ["ceph-mon", "galera-4", "mount"]


def test_check_programs_names_programs_packages_and_the_command():
    absent = {"/usr/bin/docker-registry", "/usr/sbin/nginx"}
    with pytest.raises(MissingProgramsError) as err:
        check_programs(lambda p: p not in absent)
    assert err.value.message == ("the lab cannot start: missing programs: docker-registry, nginx "
                                 "(Debian packages: docker-registry nginx)")
    assert "apt-get install -y --no-install-recommends docker-registry nginx" in err.value.hint


def test_check_programs_passes_when_all_present():
    check_programs(lambda p: True)


def test_generated_passwords_are_safe_in_connection_strings():
    values = {generate_password() for _ in range(20)}
    assert len(values) == 20
    assert all(v.isalnum() and len(v) == 24 for v in values)


# -- ports ------------------------------------------------------------------------------


def test_port_table_has_no_duplicates():
    fixed = [v for k, v in PORTS.items() if not k.startswith("ceph-ms-")]
    assert len(fixed) == len(set(fixed))
    assert not any(PORTS["ceph-ms-min"] <= p <= PORTS["ceph-ms-max"] for p in fixed)


def test_ports_can_be_overridden(tmp_path):
    lab = Lab(tmp_path, ports={"redis": 26379})
    assert lab.ports["redis"] == 26379 and lab.ports["harbor-db"] == PORTS["harbor-db"]


NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3FD3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0
   2: 0100007F:3FD3 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
"""
NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0
"""


def test_parse_net_tcp_keeps_only_listeners():
    found = procs.parse_net_tcp(NET_TCP)
    assert found == [procs.Listener("127.0.0.1", 16339, 4242), procs.Listener("0.0.0.0", 8080, 4343)]


def test_parse_net_tcp6():
    assert procs.parse_net_tcp(NET_TCP6, ipv6=True) == [procs.Listener("::1", 22, 5151)]


@pytest.mark.parametrize(
    ("port", "host", "inodes"),
    [(16339, "127.0.0.1", [4242]), (8080, "127.0.0.1", [4343]), (16339, "127.0.0.2", []), (9999, "127.0.0.1", [])],
    ids=["same-host", "wildcard-blocks", "other-loopback-free", "free-port"],
)
def test_conflicts(port, host, inodes):
    assert [x.inode for x in procs.conflicts(procs.parse_net_tcp(NET_TCP), port, host)] == inodes


def test_ensure_port_free_names_port_and_holder(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LabError) as err:
            Lab(tmp_path).ensure_port_free(port)
    assert f"127.0.0.1:{port}" in err.value.message
    if os.geteuid() == 0:  # the holder is only visible to root or the owner, and we are the owner
        assert f"pid {os.getpid()}" in err.value.message


def test_ensure_port_free_passes_on_a_free_port(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    Lab(tmp_path).ensure_port_free(port)


# -- /proc parsing --------------------------------------------------------------------


def test_proc_state_and_start_ticks_survive_odd_names():
    text = "123 (a) b (c)) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10"
    assert procs.proc_state(text) == "S"
    assert procs.start_ticks(text) == 987654


def test_parse_mounts_decodes_spaces():
    text = "ceph-fuse /tmp/my\\040lab/cephfs fuse.ceph-fuse rw 0 0\nproc /proc proc rw 0 0\n"
    assert procs.parse_mounts(text)["/tmp/my lab/cephfs"] == "fuse.ceph-fuse"


@pytest.mark.parametrize(
    ("fstype", "expected"),
    [("ceph", True), ("fuse.ceph-fuse", True), ("ext4", False), ("fuse", False), (None, False)],
    ids=["kernel", "fuse-client", "ext4", "other-fuse", "not-mounted"],
)
def test_is_cephfs(fstype, expected):
    assert is_cephfs(fstype) is expected


# -- pids and secrets (real processes, no root) --------------------------------------


def test_spawn_pid_stop_cycle(tmp_path):
    lab = Lab(tmp_path)
    pid = lab.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert lab.pid("sleeper") == pid
        assert (tmp_path / "run" / "sleeper.pid").read_text().strip() == str(pid)
    finally:
        lab.stop("sleeper", timeout=5)
    assert lab.pid("sleeper") is None and not procs.alive(pid)
    assert not (tmp_path / "run" / "sleeper.pid").exists()


def test_pid_of_a_dead_daemon_is_none(tmp_path):
    lab = Lab(tmp_path)
    pid = lab.spawn("quick", [sys.executable, "-c", "pass"])
    assert procs.wait_dead(pid, 10)
    assert lab.pid("quick") is None


def test_pid_file_of_a_reused_pid_is_not_ours(tmp_path):
    lab = Lab(tmp_path)
    lab.prepare()
    # A pid file naming a live process the lab did not start (ourselves): never claimed.
    (tmp_path / "run" / "impostor.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "run" / "impostor.start").write_text("1\n")
    assert lab.pid("impostor") is None
    lab.stop("impostor")  # must not signal us
    assert procs.alive(os.getpid())


def test_secret_file_is_0600_in_a_0700_dir(tmp_path):
    lab = Lab(tmp_path)
    path = lab.secret("token", lambda: "s3cret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert lab.secret("token", lambda: "other").read_text() == "s3cret"  # kept, not regenerated


def test_missing_secret_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="'nothing' is missing") as err:
        Lab(tmp_path).secret_value("nothing")
    assert "lab up" in err.value.hint


def test_record_merges_and_is_readable(tmp_path):
    lab = Lab(tmp_path)
    lab.record("redis", {"host": "127.0.0.1"})
    lab.record("redis", {"port": 1})
    lab.record("galera", {"user": "x"})
    assert lab.details == {"redis": {"host": "127.0.0.1", "port": 1}, "galera": {"user": "x"}}


def test_unknown_profile_is_refused(tmp_path):
    with pytest.raises(LabError, match="profile"):
        Lab(tmp_path, profile="vintage")


class _Fake:
    """A component that spawns a sleeper and optionally fails after it."""

    def __init__(self, name, fail=False):
        self.name, self.fail = name, fail

    def up(self, lab):
        lab.spawn(self.name, [sys.executable, "-c", "import time; time.sleep(60)"])
        if self.fail:
            raise LabError(f"{self.name} broke")
        return STARTED

    def status(self, lab):
        return [StatusRow(self.name, lab.pid(self.name), "", OK if lab.pid(self.name) else DOWN, "")]

    def down(self, lab):
        lab.stop(self.name)


def test_failed_up_leaves_nothing_running(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("harborlab.lab.check_programs", lambda: None)
    lab = Lab(tmp_path, components=[_Fake("first"), _Fake("second", fail=True)])
    with pytest.raises(LabError, match="second broke"):
        lab.up()
    assert lab.pid("first") is None and lab.pid("second") is None


def test_a_foreign_exception_in_up_becomes_one_lab_error(tmp_path, monkeypatch):
    class Crashing(_Fake):
        def up(self, lab):
            super().up(lab)
            raise TimeoutError("driver gave up\nsecond line")

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("harborlab.lab.check_programs", lambda: None)
    lab = Lab(tmp_path, components=[Crashing("c")])
    with pytest.raises(LabError) as err:
        lab.up()
    assert err.value.message == "c failed to start: TimeoutError: driver gave up"
    assert lab.pid("c") is None


def test_a_crashing_probe_is_a_down_row(tmp_path):
    class Crashing(_Fake):
        def status(self, lab):
            raise RuntimeError("boom")

    [row] = Lab(tmp_path, components=[Crashing("c")]).status()
    assert row.health == DOWN and "RuntimeError" in row.detail


def test_down_continues_past_a_failing_component(tmp_path):
    class Broken(_Fake):
        def down(self, lab):
            raise LabError("stuck")

    lab = Lab(tmp_path, components=[_Fake("a"), Broken("b"), _Fake("c")])
    for c in lab.components:
        c.up(lab)
    with pytest.raises(LabError, match="b: stuck"):
        lab.down()
    assert lab.pid("a") is None and lab.pid("c") is None
    procs.signal_and_wait(lab.pid("b"), 5)


# -- galera -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({1: {"safe_to_bootstrap": "0", "seqno": "5"}, 2: {"safe_to_bootstrap": "1", "seqno": "5"}}, 2),
        ({1: {"safe_to_bootstrap": "0", "seqno": "-1"}, 3: {"safe_to_bootstrap": "0", "seqno": "9"}}, 3),
        ({1: {"safe_to_bootstrap": "0", "seqno": "4"}, 2: {"safe_to_bootstrap": "0", "seqno": "4"}}, 1),
        ({}, 1),
    ],
    ids=["clean-shutdown-marks-last-out", "crash-highest-seqno", "tie-lowest-index", "fresh"],
)
def test_choose_bootstrap(states, expected):
    assert choose_bootstrap(states) == expected


def test_parse_and_mark_grastate(tmp_path):
    text = "# GALERA saved state\nversion: 2.1\nuuid: abc\nseqno: 12\nsafe_to_bootstrap: 0\n"
    assert parse_grastate(text)["seqno"] == "12"
    path = tmp_path / "grastate.dat"
    path.write_text(text)
    mark_safe(path)
    assert parse_grastate(path.read_text())["safe_to_bootstrap"] == "1"


@pytest.mark.parametrize(
    ("size", "state", "health"),
    [(3, "Synced", OK), (2, "Synced", DEGRADED), (3, "Donor/Desynced", DEGRADED), (None, None, DEGRADED)],
    ids=["healthy", "node-missing", "donor", "no-answer"],
)
def test_classify_wsrep(size, state, health):
    assert classify(size, state, expected=3)[0] == health


def test_wsrep_settings_keep_every_port_on_loopback():
    nodes = nodes_from(PORTS)
    settings = wsrep_settings(nodes[1], nodes, "127.0.0.1")
    assert settings["wsrep_cluster_address"] == "gcomm://127.0.0.1:14567,127.0.0.1:14577,127.0.0.1:14587"
    assert "gmcast.listen_addr=tcp://127.0.0.1:14577" in settings["wsrep_provider_options"]
    assert "ist.recv_addr=127.0.0.1:14578" in settings["wsrep_provider_options"]
    assert settings["wsrep_sst_receive_address"] == "127.0.0.1:14454"
    assert settings["binlog_format"] == "ROW" and settings["innodb_autoinc_lock_mode"] == "2"


def test_server_cnf_binds_loopback(tmp_path):
    text = server_cnf(host="127.0.0.1", port=13316, folder=tmp_path, settings={"extra": "1"})
    assert text.startswith("[mysqld]\n")
    assert "bind_address = 127.0.0.1\n" in text and "port = 13316\n" in text and "extra = 1\n" in text


def test_native_password_hash_matches_mysql_password_function():
    expected = "*" + hashlib.sha1(hashlib.sha1(b"abc").digest()).hexdigest().upper()
    assert native_password_hash("abc") == expected and len(expected) == 41


def test_superuser_sql_never_carries_the_password():
    sql = superuser_sql("harborbook_admin", "Pa55word")
    assert "Pa55word" not in sql and native_password_hash("Pa55word") in sql


def test_node_name():
    assert Node(2, 1, 2, 3, 4).name == "galera-2"


# -- ceph -------------------------------------------------------------------------------


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


# -- redis ------------------------------------------------------------------------------


def test_acl_line_holds_a_hash_not_the_password():
    line = acl_line("hunter2")
    assert "hunter2" not in line and hashlib.sha256(b"hunter2").hexdigest() in line


def test_redis_conf_binds_loopback():
    text = redis_conf(host="127.0.0.1", port=16379, folder="/x", aclfile="/x/users.acl")
    assert "bind 127.0.0.1\n" in text and "port 16379\n" in text and "aclfile /x/users.acl" in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(True, True), (b"PONG", True), ("NOAUTH Authentication required.", False), (False, False)],
    ids=["redis-py", "raw", "noauth", "false"],
)
def test_ping_says_pong(answer, expected):
    assert ping_says_pong(answer) is expected


# -- source db ----------------------------------------------------------------------------


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


# -- CLI ----------------------------------------------------------------------------------


def test_cli_not_root_exits_2_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("the lab needs root") and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_up_passes_extra_options_to_the_lab(monkeypatch, tmp_path):
    seen = {}

    class Recorder:
        timings = {"x": 1.25}

        def __init__(self, state, profile, **options):
            seen.update(state=state, profile=profile, **options)

        def up(self):
            return {"x": STARTED}

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Recorder)
    result = CliRunner().invoke(
        cli.lab, ["up", "--state", str(tmp_path), "--profile", "modern", "--access-log-rows", "5000"]
    )
    assert result.exit_code == 0, result.output
    assert seen["profile"] == "modern" and seen["access_log_rows"] == 5000 and seen["synthetic_nodes"] == 0
    assert "x: started (1.2s)" in result.output


def test_cli_reports_lab_errors_without_a_traceback(monkeypatch, tmp_path):
    class Failing:
        def __init__(self, *args, **kwargs):
            pass

        def up(self):
            raise LabError("port 127.0.0.1:16379 is already in use by redis-server (pid 42)", hint="stop it")

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Failing)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path)])
    assert result.exit_code == 1
    assert "16379" in result.output and "hint: stop it" in result.output and "Traceback" not in result.output


def test_format_table_aligns_columns():
    rows = [StatusRow("galera-1", 10, "127.0.0.1:13306", OK, "wsrep_cluster_size=3 Synced"),
            StatusRow("redis", None, "127.0.0.1:16379", DOWN, "not running")]
    lines = cli.format_table(rows).splitlines()
    assert lines[0].split() == ["COMPONENT", "PID", "ADDRESS", "HEALTH", "DETAIL"]
    assert lines[1].index("127.0.0.1") == lines[2].index("127.0.0.1")
    assert " - " in lines[2]


def test_scenario_commands_are_part_of_the_lab_group():
    assert set(cli.lab.commands["scenario"].commands) == {"disk-pressure", "clear"}


def test_harborbook_does_not_import_harborlab():
    code = "import sys, harborbook, harborbook.errors; print([m for m in sys.modules if m.startswith('harborlab')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shifted_ports_move_every_port():
    moved = shifted_ports(1000)
    assert moved.keys() == PORTS.keys() and all(moved[k] == PORTS[k] + 1000 for k in PORTS)


def test_cli_port_offset_reaches_the_lab(monkeypatch, tmp_path):
    seen = {}

    class Recorder:
        timings: dict = {}

        def __init__(self, state, profile, ports=None, **options):
            seen["ports"] = ports

        def up(self):
            return {}

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Recorder)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path), "--port-offset", "1000"])
    assert result.exit_code == 0, result.output
    assert seen["ports"]["redis"] == PORTS["redis"] + 1000


def test_recorded_ports_are_reused_by_a_later_lab(tmp_path):
    Lab(tmp_path, ports={"redis": 26379}).record("lab", {"ports": {**PORTS, "redis": 26379}})
    assert Lab(tmp_path).ports["redis"] == 26379
    assert Lab(tmp_path, ports={"redis": 1}).ports["redis"] == 1


def test_mariadb_folders_must_be_reachable_by_mysql(tmp_path):
    from pathlib import Path

    from harborlab.galera import require_traversable

    locked = tmp_path / "locked"
    (locked / "state").mkdir(parents=True)
    locked.chmod(0o700)
    with pytest.raises(LabError, match=f"{locked} is not traversable by other users") as info:
        require_traversable(locked / "state")
    assert "chmod o+x" in info.value.hint
    require_traversable(Path("/usr/share/doc"))  # 0755 all the way up: no error


def test_missing_folders_below_the_state_are_not_a_problem(tmp_path):
    from pathlib import Path

    from harborlab.galera import require_traversable

    require_traversable(Path("/usr/share/not-created-yet/galera"))  # only existing folders are checked
