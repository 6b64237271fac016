"""The lab nodes' agent inside the API emulator: one ``LabNodeAgent`` per lab node wraps that node's
``KubeletSim``, reports its status, runs its housekeeping at the node controller's poll
(``poll_period`` = the housekeeping period), admits or refuses pods, evicts, answers the node
proxy, and serves the node's ``systemctl`` over an abstract unix socket.

Pods themselves are delegated to ``harborlab.podrunner.PodRunner`` when that module exists (the
real-process pod runner); without it the agent owns nothing and the emulator runs the pods.

``lab_agents(cluster)`` (for ``--agent-factory harborlab.kubelet:lab_agents``) finds the node roots
in ``<state>/nodes/settings.json``; the state directory is ``$HARBORLAB_STATE`` or the emulator's
own ``--state`` argument.
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from harborlab.kube.nodes import DISK_PRESSURE_TAINT, NodeReport, TrivialAgent, healthy_conditions
from harborlab.kube.status import forbidden, not_found, unavailable
from harborlab.nodes.layout import SOCKET_NAME_PATH, Settings, settings_path

from . import eviction
from .configz import kubelet_configz
from .control import Control
from .observe import summary_document
from .simulator import KubeletSim

if TYPE_CHECKING:
    from harborlab.kube.cluster import Cluster

PODS_KEY, NODES_KEY = "/pods", "/nodes"
NOT_READY = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")


def make_pod_runner(cluster: "Cluster", state: Path):
    """(runner, kube-proxy) from harborlab.podrunner when it is importable, else (None, None)."""
    try:
        module = importlib.import_module("harborlab.podrunner")
    except ImportError:
        return None, None
    if hasattr(module, "install"):
        options = None
        from_env = getattr(importlib.import_module("harborlab.podrunner.agent"), "options_from_env", None)
        if from_env is not None:
            options = from_env(os.environ)
        return module.install(cluster, state, options)
    return module.PodRunner(state, cluster), None


class LabNodeAgent(TrivialAgent):
    def __init__(self, cluster: "Cluster", sim: KubeletSim, housekeeping: float, runner=None):
        super().__init__(cluster.profile)
        self.cluster, self.sim, self.runner = cluster, sim, runner
        self.poll_period = housekeeping
        self.control = Control(self)
        self.booted = False

    # --- status and housekeeping ----------------------------------------------------------------
    def boot(self) -> None:
        """The node boots: systemd loads the units and starts the kubelet."""
        self.booted = True
        self.sim.daemon_reload()
        self.sim.start()
        self.control.listen(self.sim.read(SOCKET_NAME_PATH))

    def node_status(self, name: str, now: float) -> NodeReport:
        if not self.booted:
            self.boot()
        pods = [p for p in self.cluster.store.list(PODS_KEY) if (p.get("spec") or {}).get("nodeName") == name]
        outcome = self.sim.housekeeping(pods)
        node = self.cluster.store.get(NODES_KEY, "", name)
        if node is not None:
            for type_, reason, message in outcome.events:
                self.cluster.recorder.record(node, type_, reason, message, "kubelet", name)
        if outcome.evict is not None:
            self.evict(*outcome.evict)
        return self.report(name)

    def evict(self, pod: dict, message: str) -> None:
        self.cluster.recorder.record(pod, "Warning", eviction.REASON, message, "kubelet",
                                     pod["spec"].get("nodeName", ""))
        self.stop_pod(pod)
        self.cluster.set_pod_status(pod, ready=False, pod_ip="", phase="Failed",
                                    reason=eviction.REASON, message=message)

    def report(self, name: str) -> NodeReport:
        base = super().node_status(name, 0.0)
        if not self.sim.active:
            base.conditions = {c: NOT_READY for c in base.conditions}
            base.taints = []
            return base
        conditions = healthy_conditions()
        taints = []
        for condition in self.sim.in_force:
            (reason, message), _ = eviction.CONDITIONS[condition]
            conditions[condition] = ("True", reason, message)
            if condition == "DiskPressure":
                taints.append(dict(DISK_PRESSURE_TAINT))
        base.conditions, base.taints = conditions, taints
        return base

    def fs_stats(self, name: str):
        from harborlab.kube.nodes import FsStats
        nodefs, _ = self.sim.filesystems()
        return FsStats(nodefs.capacity, nodefs.available, nodefs.inodes, nodefs.inodes_free)

    def under_disk_pressure(self, name: str) -> bool:
        return "DiskPressure" in self.sim.in_force

    # --- pods -----------------------------------------------------------------------------------
    def admit(self, pod: dict, node: dict) -> tuple[str, str] | None:
        return self.sim.admit(pod) if self.sim.active else None

    def start_pod(self, pod: dict, cluster: "Cluster") -> bool:
        return bool(self.runner.start_pod(pod, cluster)) if self.runner else False

    def stop_pod(self, pod: dict) -> None:
        if self.runner:
            self.runner.stop_pod(pod)

    def pod_log(self, pod: dict, container: str, tail_lines: int | None) -> str | None:
        return self.runner.pod_log(pod, container, tail_lines) if self.runner else None

    async def pod_proxy(self, request: web.Request, pod: dict, port: str, path: str) -> web.StreamResponse | None:
        return await self.runner.pod_proxy(request, pod, port, path) if self.runner else None

    def exec_argv(self, pod: dict, container: str, command: list[str]) -> list[str] | None:
        """The host command for an exec into a pod on this node (see harborlab.kube.exec)."""
        from harborlab.kube.exec import host_mount_of_root
        mount = host_mount_of_root(pod, container)
        if mount and len(command) >= 2 and command[0] in ("chroot", "/usr/sbin/chroot") \
                and command[1].rstrip("/") == mount.rstrip("/"):
            return ["chroot", str(self.sim.root), *command[2:]]
        # Otherwise the container's own programs (generic images), when the pod runner runs it.
        return self.runner.exec_argv(pod, container, command) if self.runner and hasattr(self.runner, "exec_argv") \
            else None

    # --- node proxy ---------------------------------------------------------------------------
    async def node_proxy(self, request: web.Request, name: str, path: str) -> web.StreamResponse:
        if self.profile.node_proxy_forbidden:
            raise forbidden(f'nodes "{name}" is forbidden: User "harborlab-operator" cannot get resource '
                            '"nodes/proxy" in API group "" at the cluster scope')
        if not self.sim.active:
            raise unavailable(f"error trying to reach service: dial tcp {self.address(name)}:10250: "
                              "connect: connection refused")
        path = path.strip("/")
        if path == "configz":
            return web.json_response({"kubeletconfig": kubelet_configz(self.sim)})
        if path == "stats/summary":
            nodefs, imagefs = self.sim.filesystems()
            now = datetime.fromtimestamp(self.sim.clock())
            started = datetime.fromtimestamp(self.sim.started_at or self.sim.clock())
            return web.json_response(summary_document(name, nodefs, imagefs, started, now,
                                                      self.sim.version >= (1, 29)))
        if path == "healthz":
            return web.Response(text="ok")
        raise not_found(self.cluster_nodes(), f"{name}/proxy/{path}")

    def address(self, name: str) -> str:
        report = super().node_status(name, 0.0)
        return next(a["address"] for a in report.addresses if a["type"] == "InternalIP")

    @staticmethod
    def cluster_nodes():
        from harborlab.kube.nodes import NODES
        return NODES


def state_dir(argv: list[str] | None = None) -> Path:
    if os.environ.get("HARBORLAB_STATE"):
        return Path(os.environ["HARBORLAB_STATE"])
    args = list(sys.argv if argv is None else argv)
    for index, word in enumerate(args):
        if word == "--state" and index + 1 < len(args):
            return Path(args[index + 1])
        if word.startswith("--state="):
            return Path(word.split("=", 1)[1])
    return Path.cwd()


def lab_agents(cluster: "Cluster") -> dict[str, LabNodeAgent]:
    """``--agent-factory harborlab.kubelet:lab_agents``: an agent per lab node found in the settings."""
    state = state_dir()
    path = settings_path(state)
    try:
        settings = Settings.from_json(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"harborlab.kubelet: {path} not found: bring the node roots up first "
                         "(the nodes lab component)") from None
    runner, proxy = make_pod_runner(cluster, state)
    agents = {}
    for name, root in settings.nodes.items():
        sim = KubeletSim(name, Path(root), cluster.profile.kubelet_version, settings.profile,
                         transition=settings.transition, restart_sec=settings.restart_sec)
        agents[name] = LabNodeAgent(cluster, sim, settings.housekeeping, runner)
        agents[name].kube_proxy = proxy
    return agents


__all__ = ["LabNodeAgent", "lab_agents", "make_pod_runner", "state_dir"]
