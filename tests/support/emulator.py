"""The API emulator as a real HTTP server for tests: a subprocess on a free loopback port, in a
temp state dir, no root needed. Used by tests/harborlab/kube (the emulator's own tests) and by the
product's tests that need a Kubernetes API (tests/harborbook/...)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KubeServer:
    state: Path
    process: subprocess.Popen
    kubeconfig: Path

    def api(self) -> client.ApiClient:
        return config.new_client_from_config(str(self.kubeconfig))

    def log(self) -> str:
        return (self.state / "server.log").read_text(errors="replace")


def start_server(state: Path, *args: str, timeout: float = 20) -> KubeServer:
    state.mkdir(parents=True, exist_ok=True)
    # tests/support on the path too, so --agent-factory can name a test's plug-in agent (plugin_agent).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lib"), str(Path(__file__).parent)]))
    log = open(state / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "harborlab.kube", "--state", str(state), "--port", "0",
                             *args], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    kubeconfig = state / "kubeconfig"
    deadline = time.monotonic() + timeout
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError("emulator did not start:\n" + (state / "server.log").read_text())
        time.sleep(0.05)
    return KubeServer(state, proc, kubeconfig)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
