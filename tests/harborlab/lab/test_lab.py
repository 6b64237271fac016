"""Unit tests of the Lab object (lab.py): ports, pids, secrets, records, failing components. No root, no
daemons (real short-lived processes)."""

from __future__ import annotations

import os
import socket
import stat
import sys

import pytest

from harborlab import procs
from harborlab.component import DOWN, OK, STARTED, StatusRow
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


def test_generated_passwords_are_safe_in_connection_strings():
    values = {generate_password() for _ in range(20)}
    assert len(values) == 20
    assert all(v.isalnum() and len(v) == 24 for v in values)


def test_port_table_has_no_duplicates():
    fixed = [v for k, v in PORTS.items() if not k.startswith("ceph-ms-")]
    assert len(fixed) == len(set(fixed))
    assert not any(PORTS["ceph-ms-min"] <= p <= PORTS["ceph-ms-max"] for p in fixed)


def test_ports_can_be_overridden(tmp_path):
    lab = Lab(tmp_path, ports={"redis": 26379})
    assert lab.ports["redis"] == 26379 and lab.ports["harbor-db"] == PORTS["harbor-db"]


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


def test_shifted_ports_move_every_port():
    moved = shifted_ports(1000)
    assert moved.keys() == PORTS.keys() and all(moved[k] == PORTS[k] + 1000 for k in PORTS)


def test_recorded_ports_are_reused_by_a_later_lab(tmp_path):
    Lab(tmp_path, ports={"redis": 26379}).record("lab", {"ports": {**PORTS, "redis": 26379}})
    assert Lab(tmp_path).ports["redis"] == 26379
    assert Lab(tmp_path, ports={"redis": 1}).ports["redis"] == 1
