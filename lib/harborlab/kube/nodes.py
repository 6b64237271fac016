"""Nodes and their agents: the extension point where a kubelet lives.

A **NodeAgent** owns one or more nodes. The emulator asks it, never decides itself, about:

* ``node_status(name, now)`` -> ``NodeReport``: conditions, taints, capacity/allocatable, addresses
  and nodeInfo of the node. The node controller writes the report into the Node object whenever it
  changes (polled every ``NODE_PERIOD`` seconds and after ``cluster.touch_node(name)``).
* ``admit(pod, node)`` -> ``None`` or ``(reason, message)``: pod admission for a pod bound to the
  node (the kubelet simulator refuses pods under DiskPressure with reason ``Evicted`` /
  ``OutOfDisk`` wording). A refused pod goes ``Failed`` with that reason and message.
* ``start_pod(pod, cluster)`` -> ``bool``: called once when a bound pod's volumes and images are
  ready. Return ``False`` to let the emulator mark it Running and Ready after the configured delay;
  return ``True`` to own it: the agent then reports status through ``cluster.set_pod_status(pod,
  phase=..., ready=..., pod_ip=..., ...)`` (the real-process pod runner does this once its program
  answers the health check).
* ``stop_pod(pod)``: the pod was deleted or evicted; stop whatever runs for it (by PID).
* ``pod_log(pod, container, tail_lines)`` -> ``str | None``: the ``log`` subresource.
* ``pod_proxy(request, pod, port, path)`` -> ``web.StreamResponse | None``: the pod ``proxy``
  subresource; ``None`` means no process listens, answered 503 like the real proxy.
* ``exec_argv(pod, container, command)`` -> ``list[str] | None`` (optional): what the pod ``exec``
  subresource runs on this machine for ``command`` (exec.py streams it over the websocket channel
  protocol); ``None`` refuses the command with a Status saying so.
* ``node_proxy(request, name, path)`` -> ``web.StreamResponse``: the node ``proxy`` subresource
  (``configz``, ``stats/summary``); the agent may raise ``status.forbidden`` (the article profile's
  operator had no ``nodes/proxy`` rights).

Agents are plugged in with ``--agent-factory module:callable``; the callable receives the
``Cluster`` and returns ``{node_name: agent}``; nodes it returns replace the default ones of the
same name and new names are added. The option may be repeated: factories run in order, each
seeing ``cluster.agents`` as the previous ones left it, so a later agent can wrap an earlier one
(the pod runner around the kubelet simulator, for instance). ``TrivialAgent`` keeps the default
nodes Ready; ``SyntheticAgent`` backs ``--synthetic-nodes N`` with deterministic pseudo-random filesystem stats
and kubelet configs (about one node in 40 under disk pressure).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from .profiles import Profile
from .status import forbidden, not_found
from .resources import by_key

if TYPE_CHECKING:
    from .cluster import Cluster

NODES = by_key("/nodes")
NODE_PERIOD = 5.0
DEFAULT_NODES = ("lab-node-1", "lab-node-2", "lab-node-3")
GI = 1024 ** 3
DISK_PRESSURE_TAINT = {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}
DEFAULT_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%",
                         "nodefs.inodesFree": "5%", "imagefs.available": "15%"}


@dataclass
class NodeReport:
    conditions: dict[str, tuple[str, str, str]]    # type -> (status, reason, message)
    taints: list[dict] = field(default_factory=list)
    capacity: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    addresses: list[dict] = field(default_factory=list)
    node_info: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class NodeAgent(Protocol):
    def node_status(self, name: str, now: float) -> NodeReport: ...
    def admit(self, pod: dict, node: dict) -> tuple[str, str] | None: ...
    def start_pod(self, pod: dict, cluster: "Cluster") -> bool: ...
    def stop_pod(self, pod: dict) -> None: ...
    def pod_log(self, pod: dict, container: str, tail_lines: int | None) -> str | None: ...
    async def pod_proxy(self, request: web.Request, pod: dict, port: str, path: str) -> web.StreamResponse | None: ...
    async def node_proxy(self, request: web.Request, name: str, path: str) -> web.StreamResponse: ...


def healthy_conditions() -> dict[str, tuple[str, str, str]]:
    return {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    }


def node_index(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


@dataclass(frozen=True)
class FsStats:
    capacity: int
    available: int
    inodes: int
    inodes_free: int


class TrivialAgent:
    """Nodes that are always Ready, with fixed capacity and filesystem figures."""

    def __init__(self, profile: Profile):
        self.profile = profile

    # -- figures (overridden by SyntheticAgent) --
    def fs_stats(self, name: str) -> FsStats:
        return FsStats(40 * GI, 30 * GI, 2_621_440, 2_400_000)

    def kubelet_config(self, name: str) -> dict:
        return {"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "evictionHard": dict(DEFAULT_EVICTION_HARD), "evictionPressureTransitionPeriod": "5m0s",
                "imageGCHighThresholdPercent": 85, "imageGCLowThresholdPercent": 80,
                "maxPods": 110, "podPidsLimit": -1}

    def under_disk_pressure(self, name: str) -> bool:
        stats = self.fs_stats(name)
        return stats.available * 10 < stats.capacity      # nodefs.available < 10%

    def node_status(self, name: str, now: float) -> NodeReport:
        conditions = healthy_conditions()
        taints = []
        if self.under_disk_pressure(name):
            conditions["DiskPressure"] = ("True", "KubeletHasDiskPressure", "kubelet has disk pressure")
            taints.append(dict(DISK_PRESSURE_TAINT))
        stats = self.fs_stats(name)
        index = node_index(name)
        capacity = {"cpu": "4", "memory": "8167140Ki", "pods": "110",
                    "ephemeral-storage": f"{stats.capacity // 1024}Ki"}
        allocatable = dict(capacity, memory="8064740Ki")
        return NodeReport(
            conditions, taints, capacity, allocatable,
            addresses=[{"type": "InternalIP", "address": f"10.0.{index // 250}.{index % 250 + 10}"},
                       {"type": "Hostname", "address": name}],
            node_info={"kubeletVersion": self.profile.kubelet_version,
                       "kubeProxyVersion": self.profile.kubelet_version,
                       "containerRuntimeVersion": self.profile.container_runtime,
                       "operatingSystem": "linux", "architecture": "amd64",
                       "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-lab",
                       "machineID": hashlib.md5(name.encode()).hexdigest(),
                       "systemUUID": hashlib.md5(("uuid" + name).encode()).hexdigest(),
                       "bootID": hashlib.md5(("boot" + name).encode()).hexdigest()},
            labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64"})

    def admit(self, pod: dict, node: dict) -> tuple[str, str] | None:
        return None

    def start_pod(self, pod: dict, cluster: "Cluster") -> bool:
        return False

    def stop_pod(self, pod: dict) -> None:
        return None

    def pod_log(self, pod: dict, container: str, tail_lines: int | None) -> str | None:
        return ""

    async def pod_proxy(self, request: web.Request, pod: dict, port: str, path: str) -> web.StreamResponse | None:
        return None

    async def node_proxy(self, request: web.Request, name: str, path: str) -> web.StreamResponse:
        if self.profile.node_proxy_forbidden:
            raise forbidden(f'nodes "{name}" is forbidden: User "harborlab-operator" cannot get resource '
                            '"nodes/proxy" in API group "" at the cluster scope')
        path = path.strip("/")
        if path == "configz":
            return web.json_response({"kubeletconfig": self.kubelet_config(name)})
        if path == "stats/summary":
            return web.json_response(self.stats_summary(name))
        if path == "healthz":
            return web.Response(text="ok")
        raise not_found(NODES, f"{name}/proxy/{path}")

    def stats_summary(self, name: str) -> dict:
        stats = self.fs_stats(name)
        fs = {"time": "2024-01-01T00:00:00Z", "availableBytes": stats.available,
              "capacityBytes": stats.capacity, "usedBytes": stats.capacity - stats.available,
              "inodesFree": stats.inodes_free, "inodes": stats.inodes,
              "inodesUsed": stats.inodes - stats.inodes_free}
        return {"node": {"nodeName": name, "startTime": "2024-01-01T00:00:00Z",
                         "memory": {"time": fs["time"], "availableBytes": 6 * GI, "usageBytes": 2 * GI,
                                    "workingSetBytes": 2 * GI},
                         "fs": fs, "runtime": {"imageFs": dict(fs)},
                         "rlimit": {"time": fs["time"], "maxpid": 4194304, "curproc": 300}},
                "pods": []}


class SyntheticAgent(TrivialAgent):
    """Scale-test nodes: figures derived from a hash of the node name, so every run sees the same
    cluster; about one node in 40 has nodefs.available under the 10% threshold.

    Pressure is decided by the lab kubelet's own eviction rules (harborlab.kubelet.eviction) from
    the node's config and stats (a single disk: imagefs.available<15% applies to it too). The node proxy
    answers after ``HARBORLAB_KUBELET_RTT`` seconds (default 0.02): on a real cluster each
    configz or stats/summary call is an API-server-to-kubelet round trip plus the kubelet
    gathering its stats, which is what makes a fleet scan worth running concurrently.
    """

    rtt = float(os.environ.get("HARBORLAB_KUBELET_RTT", "0.02"))

    def under_disk_pressure(self, name: str) -> bool:
        return _synthetic_pressure(self, name)

    async def node_proxy(self, request: web.Request, name: str, path: str) -> web.StreamResponse:
        if self.rtt > 0:
            await asyncio.sleep(self.rtt)
        return await super().node_proxy(request, name, path)

    def _draw(self, name: str, salt: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{salt}:{name}".encode()).digest()[:8], "big")

    def fs_stats(self, name: str) -> FsStats:
        capacity = (20 + self._draw(name, "cap") % 180) * GI
        pressure = self._draw(name, "pressure") % 40 == 0
        percent = 2 + self._draw(name, "avail") % 7 if pressure else 12 + self._draw(name, "avail") % 80
        inodes = capacity // 16384
        return FsStats(capacity, capacity * percent // 100, inodes, inodes * (percent + 5) // 100)

    def kubelet_config(self, name: str) -> dict:
        config = super().kubelet_config(name)
        if self._draw(name, "config") % 5 == 0:    # some nodes were tuned by an operator
            config["evictionHard"] = {"nodefs.available": "5%", "imagefs.available": "10%"}
        return config


_PRESSURE_CACHE: dict[str, bool] = {}


def _synthetic_pressure(agent: "SyntheticAgent", name: str) -> bool:
    """The kubelet's verdict on a synthetic node (figures never change: computed once)."""
    if name not in _PRESSURE_CACHE:
        from harborlab.kubelet import eviction

        version = eviction.parse_version(agent.profile.kubelet_version)
        stats = agent.fs_stats(name)
        fs = eviction.Fs(stats.available, stats.capacity, stats.inodes_free, stats.inodes)
        thresholds = [t for signal, value in agent.kubelet_config(name)["evictionHard"].items()
                      if (t := eviction.parse_statement(signal, value, version)) is not None]
        met = eviction.thresholds_met(thresholds, eviction.observe(fs, fs, version), False)
        _PRESSURE_CACHE[name] = any(eviction.SIGNALS[t.signal][0] == "DiskPressure" for t in met)
    return _PRESSURE_CACHE[name]


def synthetic_names(count: int) -> list[str]:
    return [f"synthetic-node-{i:04d}" for i in range(1, count + 1)]


def node_object(name: str, report: NodeReport, old: dict | None, now: str) -> dict:
    """The Node object for ``report``; condition times move only when a condition's status does."""
    previous = {c["type"]: c for c in ((old or {}).get("status") or {}).get("conditions") or []}
    conditions = []
    for ctype, (status, reason, message) in report.conditions.items():
        prev = previous.get(ctype)
        moved = prev is None or prev.get("status") != status
        conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                           "lastHeartbeatTime": prev.get("lastHeartbeatTime", now) if prev and not moved else now,
                           "lastTransitionTime": now if moved else prev.get("lastTransitionTime", now)})
    meta = dict((old or {}).get("metadata") or {"name": name})
    meta["labels"] = {**(meta.get("labels") or {}), **report.labels}
    spec = dict((old or {}).get("spec") or {})
    # Taints the agent manages are replaced; taints an operator added stay.
    managed = {t["key"] for t in [DISK_PRESSURE_TAINT] + report.taints}
    kept = [t for t in spec.get("taints") or [] if t["key"] not in managed]
    taints = kept + report.taints
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    spec.setdefault("podCIDR", f"10.244.{node_index(name) % 256}.0/24")
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec,
            "status": {"capacity": report.capacity, "allocatable": report.allocatable,
                       "conditions": conditions, "addresses": report.addresses,
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": report.node_info}}

