"""Failure paths of `lab up`, and `lab down` leaving nothing behind (these run last)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harborlab import cli, procs
from harborlab.component import STARTED
from harborlab.lab import Lab, LabError, shifted_ports
from harborlab.redisd import Redis
from harborlab.sourcedb import SourceDb

pytestmark = pytest.mark.lab

OTHER_SHIFT = 2000  # a second lab next to the shared one


@pytest.fixture
def other_state(lab):
    state = Path(tempfile.mkdtemp(prefix="harborlab-other-"))
    os.chmod(state, 0o755)
    yield state
    Lab(state, components=[SourceDb(), Redis()]).down(purge=True)


def test_port_in_use_names_port_and_holder_and_starts_nothing(other_state):
    ports = shifted_ports(OTHER_SHIFT)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["redis"]))
        squatter.listen()
        other = Lab(other_state, components=[SourceDb(), Redis()], ports=ports)
        with pytest.raises(LabError) as err:
            other.up()
    assert f"127.0.0.1:{ports['redis']}" in err.value.message
    assert f"pid {os.getpid()}" in err.value.message
    assert other.pid("harbor-db") is None and other.pid("redis") is None


def test_failure_mid_up_stops_what_it_started(other_state):
    class Broken:
        name = "broken"

        def up(self, lab):
            raise LabError("broken on purpose")

        def status(self, lab):
            return []

        def down(self, lab):
            pass

    other = Lab(other_state, components=[Redis(), Broken()], ports=shifted_ports(OTHER_SHIFT))
    with pytest.raises(LabError, match="on purpose"):
        other.up()
    assert other.pid("redis") is None
    assert not (other_state / "run" / "redis.pid").exists()
    assert procs.conflicts(procs.listeners(), other.ports["redis"], other.host) == []


def test_redis_alone_comes_up_and_down(other_state):
    other = Lab(other_state, components=[Redis()], ports=shifted_ports(OTHER_SHIFT))
    assert other.up() == {"redis": STARTED}
    pid = other.pid("redis")
    other.down()
    assert not procs.alive(pid)


def _lab_ports(lab: Lab) -> set[int]:
    fixed = {p for k, p in lab.ports.items() if not k.startswith("ceph-ms-") and k != "kube-apiserver"}
    return fixed | set(range(lab.ports["ceph-ms-min"], lab.ports["ceph-ms-max"] + 1))


def test_down_leaves_no_process_mount_or_listening_port(lab):
    pids = {r.pid for r in lab.status() if r.pid}
    assert len(pids) >= 10
    assert procs.ports_listened_by(pids)  # the check below can see listeners when there are some
    lab.down()
    assert [pid for pid in pids if procs.alive(pid)] == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and procs.alive(pid)] == []
    mounts = procs.parse_mounts(Path("/proc/self/mounts").read_text())
    assert [p for p in mounts if p.startswith(str(lab.state))] == []
    listening = {item.port for item in procs.listeners()}
    assert listening & _lab_ports(lab) == set()
    assert list((lab.state / "run").glob("*.pid")) == []


def test_down_again_is_harmless_and_purge_removes_the_state(lab):
    result = CliRunner().invoke(cli.lab, ["down", "--state", str(lab.state), "--purge"])
    assert result.exit_code == 0, result.output
    assert not lab.state.exists()
