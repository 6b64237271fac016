"""ReplicaSets and ReplicationControllers: keep ``spec.replicas`` pods alive, report status.

Which pods to remove when scaling down follows the real ranking: unscheduled before scheduled,
pending before running, not-ready before ready, newest first.
"""

from __future__ import annotations

import copy

from ..cluster import Cluster
from ..resources import Resource, by_key
from .common import PODS, controlled_by, is_active, is_ready, pod_from_template, suffix

REPLICASETS = by_key("apps/replicasets")
RCS = by_key("/replicationcontrollers")


def deletion_rank(pod: dict) -> tuple:
    """Sort key: pods first in this order are removed first."""
    status = pod.get("status") or {}
    return (bool(pod["spec"].get("nodeName")), status.get("phase") == "Running", is_ready(pod),
            # newest first: invert the timestamp order by negating its characters' codes
            tuple(-ord(c) for c in pod["metadata"].get("creationTimestamp", "")))


def replica_status(owner: dict, pods: list[dict]) -> dict:
    template_labels = ((owner["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    ready = sum(1 for p in pods if is_ready(p))
    status = {"replicas": len(pods),
              "fullyLabeledReplicas": sum(1 for p in pods if template_labels.items() <= (p["metadata"].get("labels") or {}).items()),
              "readyReplicas": ready, "availableReplicas": ready,
              "observedGeneration": owner["metadata"].get("generation", 1)}
    # The real controllers omit zero counts.
    return {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}


class ReplicaController:
    """One controller type for both ReplicaSets and ReplicationControllers."""

    def __init__(self, cluster: Cluster, res: Resource):
        self.cluster = cluster
        self.res = res
        self.name = res.plural
        self.watches = frozenset({res.key, PODS.key})

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        all_pods = store.list(PODS.key)
        for owner in store.list(self.res.key):
            uid = owner["metadata"]["uid"]
            pods = [p for p in all_pods if controlled_by(p, uid) and is_active(p)
                    and p["metadata"].get("namespace") == owner["metadata"]["namespace"]]
            want = owner["spec"].get("replicas", 1)
            if len(pods) < want:
                for _ in range(want - len(pods)):
                    name = f"{owner['metadata']['name']}-{suffix()}"
                    pod = pod_from_template(owner, owner["spec"].get("template") or {}, name)
                    pods.append(self.cluster.create(PODS, owner["metadata"]["namespace"], pod, internal=True))
                    self.cluster.recorder.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {name}",
                                                 component=self._component())
            elif len(pods) > want:
                doomed = sorted(pods, key=deletion_rank)[: len(pods) - want]
                for pod in doomed:
                    self.cluster.remove(PODS, pod)
                    self.cluster.recorder.record(owner, "Normal", "SuccessfulDelete",
                                                 f"Deleted pod: {pod['metadata']['name']}",
                                                 component=self._component())
                pods = [p for p in pods if p not in doomed]
            status = replica_status(owner, pods)
            if status != owner.get("status"):
                current = store.get(self.res.key, owner["metadata"]["namespace"], owner["metadata"]["name"])
                if current is not None:
                    self.cluster.put(self.res, {**copy.deepcopy(current), "status": status})
        return None

    def _component(self) -> str:
        return "replicaset-controller" if self.res is REPLICASETS else "replication-controller"
