"""The garbage collector: objects whose owners are gone are deleted (background propagation)."""

from __future__ import annotations

from ..cluster import Cluster
from ..resources import by_key

# Kinds that can be owned in the lab; nodes and events are never owners' dependents here.
DEPENDENT_KEYS = ("apps/replicasets", "/pods", "/endpoints", "/configmaps", "/secrets",
                  "/persistentvolumeclaims", "/services")


class GarbageCollector:
    name = "garbage-collector"
    watches = frozenset(DEPENDENT_KEYS) | frozenset({"apps/deployments", "/replicationcontrollers"})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        alive = {obj["metadata"]["uid"] for table in store.objects.values() for obj in table.values()}
        for key in DEPENDENT_KEYS:
            res = by_key(key)
            for obj in store.list(key):
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and all(ref.get("uid") not in alive for ref in refs):
                    self.cluster.remove(res, obj)
        return None
