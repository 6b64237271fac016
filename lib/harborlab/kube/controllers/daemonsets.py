"""DaemonSets: one pod per eligible node, as the daemonset controller keeps them.

Eligible: the node matches the template's nodeSelector / required node affinity and every
NoSchedule/NoExecute taint is tolerated (a NoSchedule taint added later keeps the running pod) — counting the tolerations the controller adds to every
daemon pod (not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and unschedulable
NoSchedule; network-unavailable for hostNetwork pods), so cordoned and pressured nodes keep their
daemons. Pods are bound to their node (``spec.nodeName`` plus the ``metadata.name`` node affinity
the controller writes); pods on nodes no longer eligible, and extra pods, are deleted. A template
change is rolled out node by node (RollingUpdate, maxUnavailable 1): one outdated pod replaced
per pass while the others are ready; OnDelete replaces only pods someone deleted. Pods carry
``controller-revision-hash`` and ``pod-template-generation``.

Synthetic nodes (``--synthetic-nodes``, a fleet to scan) get no daemon pods.
"""

from __future__ import annotations

import copy

from ..cluster import Cluster
from ..nodes import SyntheticAgent
from ..resources import by_key
from .common import PODS, controlled_by, is_active, is_ready, owner_ref, suffix
from .deployments import template_hash
from .scheduler import tolerates, why_not

DAEMONSETS, NODES = by_key("apps/daemonsets"), by_key("/nodes")
DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"))


def daemon_pod_spec(template_spec: dict) -> dict:
    spec = copy.deepcopy(template_spec)
    tolerations = spec.setdefault("tolerations", [])
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return spec


def placement(spec: dict, node: dict) -> tuple[bool, bool]:
    """(should run, should continue running) as nodeShouldRunDaemonPod decides: an untolerated
    NoSchedule taint stops new daemon pods but keeps the running one; a NoExecute taint or a
    selector/affinity that no longer matches removes it."""
    reason = why_not({"spec": spec}, node, 0)
    if reason is None or reason in ("node(s) were unschedulable", "Too many pods"):
        return True, True
    if reason.startswith("node(s) had untolerated taint"):
        untolerated = [t for t in node["spec"].get("taints") or []
                       if t.get("effect") == "NoExecute" and not tolerates(t, spec.get("tolerations"))]
        return False, not untolerated
    return False, False


class DaemonSetController:
    name = "daemonsets"
    watches = frozenset({DAEMONSETS.key, PODS.key, NODES.key})

    # The controller's failedPodsBackoff (daemon_controller.go: flowcontrol.NewBackOff(1s, 15m)):
    # a daemon pod the kubelet refuses (a node in DiskPressure) is deleted and recreated at 1 s,
    # 2 s, 4 s ... apart, never in a hot loop.
    BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 900.0

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (ds uid, node) -> (updated, delay)

    def _in_backoff(self, key: tuple[str, str], now: float) -> bool:
        """flowcontrol.Backoff.IsInBackOffSinceUpdate."""
        entry = self.backoff.get(key)
        return entry is not None and now - entry[0] < entry[1]

    def _next(self, key: tuple[str, str], now: float) -> None:
        """flowcontrol.Backoff.Next: double the delay (up to the max); start over once expired."""
        entry = self.backoff.get(key)
        if entry is None or now - entry[0] > 2 * self.BACKOFF_MAX:
            delay = self.BACKOFF_INITIAL
        else:
            delay = min(entry[1] * 2, self.BACKOFF_MAX)
        self.backoff[key] = (now, delay)

    def _nodes(self) -> list[dict]:
        return [n for n in self.cluster.store.list(NODES.key)
                if not isinstance(self.cluster.agents.get(n["metadata"]["name"]), SyntheticAgent)]

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        nodes = self._nodes()
        all_pods = store.list(PODS.key)
        wakes = [self._sync_one(ds, nodes, all_pods, now) for ds in store.list(DAEMONSETS.key)]
        return min((w for w in wakes if w is not None), default=None)

    def _sync_one(self, ds: dict, nodes: list[dict], all_pods: list[dict], now: float) -> float | None:
        meta, spec = ds["metadata"], ds.get("spec") or {}
        template = spec.get("template") or {}
        pod_spec = daemon_pod_spec(template.get("spec") or {})
        revision = template_hash(template)
        generation = str(meta.get("generation", 1))
        pods = [p for p in all_pods if controlled_by(p, meta["uid"]) and p["metadata"]["namespace"] == meta["namespace"]]
        active = [p for p in pods if is_active(p)]
        # podsShouldBeOnNode: a failed daemon pod still counts as the node's pod; it is deleted
        # (and so replaced) only outside its backoff, with the controller's event.
        waiting, wake = set(), None
        for pod in pods:
            if (pod.get("status") or {}).get("phase") != "Failed" or pod["metadata"].get("deletionTimestamp"):
                continue
            node_name = pod["spec"].get("nodeName") or ""
            key = (meta["uid"], node_name)
            if self._in_backoff(key, now):
                waiting.add(node_name)
                updated, delay = self.backoff[key]
                wake = min(wake or updated + delay, updated + delay)
                continue
            self._next(key, now)
            self.cluster.recorder.record(ds, "Warning", "FailedDaemonPod",
                                         f"Found failed daemon pod {meta['namespace']}/{pod['metadata']['name']} on "
                                         f"node {node_name}, will try to kill it", component="daemonset-controller")
            self.cluster.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
            waiting.add(node_name)  # replaced on the next pass, as the real controller does
        decided = {n["metadata"]["name"]: placement(pod_spec, n) for n in nodes}
        wanted = {name for name, (run, _) in decided.items() if run}
        keep = {name for name, (_, cont) in decided.items() if cont}
        on_node: dict[str, list[dict]] = {}
        for pod in active:
            on_node.setdefault(pod["spec"].get("nodeName") or "", []).append(pod)
        for node_name, placed in on_node.items():
            doomed = placed if node_name not in keep else placed[1:]
            for pod in doomed:
                self.cluster.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        for node_name in sorted(wanted - set(on_node) - waiting):
            self._create(ds, template, pod_spec, node_name, revision, generation)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        current = [placed[0] for name, placed in on_node.items() if name in keep]
        outdated = [p for p in current if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision]
        terminating = any(p["metadata"].get("deletionTimestamp") for p in pods)
        if rolling and outdated and not terminating and all(is_ready(p) for p in current if p not in outdated):
            pod = outdated[0]
            self.cluster.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        ready = sum(1 for p in current if is_ready(p))
        status = {"currentNumberScheduled": len(current), "desiredNumberScheduled": len(wanted),
                  "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(current) - len(outdated), "observedGeneration": meta.get("generation", 1)}
        unavailable = len(wanted) - ready
        if unavailable:
            status["numberUnavailable"] = unavailable
        if not ready:
            status.pop("numberAvailable")
        if status != ds.get("status"):
            latest = self.cluster.store.get(DAEMONSETS.key, meta["namespace"], meta["name"])
            if latest is not None:
                self.cluster.put(DAEMONSETS, {**copy.deepcopy(latest), "status": status})
        return wake if wake is not None else (now + self.BACKOFF_INITIAL if waiting else None)

    def _create(self, ds: dict, template: dict, pod_spec: dict, node_name: str, revision: str, generation: str) -> None:
        meta = copy.deepcopy(template.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        labels = meta.setdefault("labels", {})
        labels.update({"controller-revision-hash": revision, "pod-template-generation": generation})
        name = f"{ds['metadata']['name']}-{suffix()}"
        meta.update(name=name, generateName=f"{ds['metadata']['name']}-", namespace=ds["metadata"]["namespace"],
                    ownerReferences=[owner_ref(ds)])
        spec = copy.deepcopy(pod_spec)
        spec["nodeName"] = node_name
        spec["affinity"] = {**(spec.get("affinity") or {}), "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}}
        self.cluster.create(PODS, ds["metadata"]["namespace"], {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                                                                "spec": spec, "status": {"phase": "Pending"}},
                            internal=True)
        self.cluster.recorder.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {name}",
                                     component="daemonset-controller")
