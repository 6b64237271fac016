"""A lab with node roots and the API emulator running the kubelet simulators (root needed):
shared by tests/harborlab/nodes, tests/harborlab/kubelet, tests/harborbook/nodeshell and
tests/harborbook/steps/nodepressure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
HOUSEKEEPING, TRANSITION = 1.0, 2.0


@dataclass
class LabNodes:
    state: Path
    lab: object
    process: subprocess.Popen
    kubeconfig: Path

    def api(self) -> client.CoreV1Api:
        return client.CoreV1Api(config.new_client_from_config(str(self.kubeconfig)))

    def root(self, name: str) -> Path:
        return self.state / "nodes" / name / "root"


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("lab nodes need root (loop mounts, chroot)")


def start(state: Path, profile: str = "article") -> LabNodes:
    from harborlab.lab import Lab
    from harborlab.nodes import NodeRoots
    needs_root()
    lab = Lab(state, profile, components=[NodeRoots()], kubelet_housekeeping=HOUSEKEEPING,
              kubelet_transition=TRANSITION, node_root_mib=96, node_data_mib=128)
    NodeRoots().up(lab)
    kube_state = state / "kube"
    kube_state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), HARBORLAB_STATE=str(state))
    log = open(kube_state / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "harborlab.kube", "--state", str(kube_state), "--port", "0",
                             "--profile", profile, "--agent-factory", "harborlab.kubelet:lab_agents"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    kubeconfig = kube_state / "kubeconfig"
    deadline = time.monotonic() + 30
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(LabNodes(state, lab, proc, kubeconfig))
            raise RuntimeError((kube_state / "server.log").read_text())
        time.sleep(0.05)
    return LabNodes(state, lab, proc, kubeconfig)


def stop(nodes: LabNodes) -> None:
    from harborlab.nodes import NodeRoots
    if nodes.process.poll() is None:
        nodes.process.send_signal(signal.SIGTERM)
        try:
            nodes.process.wait(10)
        except subprocess.TimeoutExpired:
            nodes.process.kill()
            nodes.process.wait()
    NodeRoots().down(nodes.lab)


def wait_until(probe, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(step)
    return probe()
