"""The standalone node agent: the emulator's default lab nodes, with pods run by the pod runner.

``python -m harborlab.kube --state DIR --agent-factory harborlab.podrunner:agents`` gives
lab-node-1..3 the :class:`RunnerAgent`, which keeps the nodes Ready (as the default agent does)
and hands pods to one shared :class:`PodRunner`; the same call starts the lab's kube-proxy. The
kubelet simulator (issue 5) wraps the runner the same way through :func:`install`.

The state directory is the emulator's ``--state`` (read from its command line) unless
``HARBORLAB_STATE`` names another. ``HARBORLAB_PODRUNNER_BACKOFF`` (seconds) shortens the
restart back-off and ``HARBORLAB_PODRUNNER_PLAIN_CEPHFS=1`` accepts a plain directory as the
CephFS mount; both exist for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harborlab.kube.nodes import DEFAULT_NODES, TrivialAgent

from .runner import PodRunner, RunnerOptions

if TYPE_CHECKING:
    from harborlab.kubeproxy import KubeProxy


class RunnerAgent(TrivialAgent):
    """Default node figures; pods, logs and the pod proxy from the runner."""

    def __init__(self, cluster, runner: PodRunner):
        super().__init__(cluster.profile)
        self.runner = runner

    def start_pod(self, pod, cluster) -> bool:
        return self.runner.start_pod(pod, cluster)

    def stop_pod(self, pod) -> None:
        self.runner.stop_pod(pod)

    def pod_log(self, pod, container, tail_lines):
        return self.runner.pod_log(pod, container, tail_lines)

    async def pod_proxy(self, request, pod, port, path):
        return await self.runner.pod_proxy(request, pod, port, path)

    def exec_argv(self, pod, container, command):
        return self.runner.exec_argv(pod, container, command)


def state_from_argv(argv: list[str]) -> Path | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--state", type=Path)
    known, _ = parser.parse_known_args(argv)
    return known.state


def options_from_env(environ) -> RunnerOptions:
    options = RunnerOptions()
    if environ.get("HARBORLAB_PODRUNNER_BACKOFF"):
        options.backoff_base = float(environ["HARBORLAB_PODRUNNER_BACKOFF"])
    options.allow_plain_cephfs = environ.get("HARBORLAB_PODRUNNER_PLAIN_CEPHFS") == "1"
    return options


def install(cluster, state: Path, options: RunnerOptions | None = None) -> tuple[PodRunner, "KubeProxy"]:
    """A pod runner and a kube-proxy for ``cluster`` (call from inside the emulator's loop)."""
    from harborlab.kubeproxy import KubeProxy  # kubeproxy imports this package's endpoint tables
    runner = PodRunner(state, cluster, options)
    proxy = KubeProxy(cluster)
    try:
        asyncio.get_running_loop().create_task(proxy.sync())
    except RuntimeError:
        pass  # no loop yet: the first Service/Endpoints change starts it
    return runner, proxy


def agents(cluster) -> dict:
    """``--agent-factory harborlab.podrunner:agents``."""
    state = Path(os.environ["HARBORLAB_STATE"]) if os.environ.get("HARBORLAB_STATE") else state_from_argv(sys.argv)
    if state is None:
        raise SystemExit("harborlab.podrunner:agents needs the emulator's --state (or HARBORLAB_STATE)")
    runner, proxy = install(cluster, state, options_from_env(os.environ))
    agent = RunnerAgent(cluster, runner)
    agent.kube_proxy = proxy
    return {name: agent for name in DEFAULT_NODES}
