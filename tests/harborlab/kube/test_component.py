"""The lab component: up through lab.spawn, a real status probe, down by PID (no root needed:
the Lab is given only this component)."""

from __future__ import annotations

import json
import socket

import pytest

from harborlab.component import DOWN, OK, RUNNING, STARTED
from harborlab.kube.component import KubeApiServer, probe
from harborlab.lab import Lab

pytestmark = pytest.mark.emulator   # the Lab given only the emulator component (no root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_up_status_down(tmp_path):
    lab = Lab(tmp_path / "lab", "modern", components=[KubeApiServer()], ports={"kube-apiserver": free_port()})
    component = KubeApiServer()
    try:
        assert component.up(lab) == STARTED
        assert component.up(lab) == RUNNING
        [row] = component.status(lab)
        assert row.health == OK and row.pid == lab.pid("kube-apiserver")
        assert "v1.30." in row.detail and "3/3 nodes Ready" in row.detail
        recorded = json.loads(lab.path("lab.json").read_text())["kube-apiserver"]
        token = lab.path("secrets", "kube-token").read_text().strip()
        assert token not in json.dumps(recorded)
        assert recorded["kubeconfig"] == str(lab.path("kubeconfig"))
    finally:
        component.down(lab)
    [row] = component.status(lab)
    assert row.health == DOWN and row.pid is None


def test_probe_without_a_server_is_unhealthy():
    ok, detail = probe("127.0.0.1", free_port(), "token", timeout=0.5)
    assert not ok and detail
