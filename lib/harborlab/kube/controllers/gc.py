"""The garbage collector: objects whose owners are all gone are deleted (background propagation).

An owner reference names apiVersion, kind, name and uid; the owner exists when an object of that
kind and name with that uid does (in the dependent's namespace for namespaced kinds). An owner of
a kind the lab does not serve counts as existing: the lab cannot know, so it keeps the object.
"""

from __future__ import annotations

from ..cluster import Cluster
from ..resources import by_key, by_kind
from ..store import Change

# Kinds that can be owned in the lab; nodes and events are never dependents here.
DEPENDENT_KEYS = ("apps/replicasets", "/pods", "/endpoints", "/configmaps", "/secrets",
                  "/persistentvolumeclaims", "/services")


def owner_exists(cluster: Cluster, namespace: str, ref: dict) -> bool:
    res = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    if res is None:
        return True
    owner = cluster.store.get(res.key, namespace if res.namespaced else "", ref.get("name", ""))
    return owner is not None and owner["metadata"].get("uid") == ref.get("uid")


class GarbageCollector:
    name = "garbage-collector"
    watches = frozenset(DEPENDENT_KEYS) | frozenset({"apps/deployments", "/replicationcontrollers", "/namespaces"})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    @staticmethod
    def wants(change: Change) -> bool:
        """Only a deletion, or an object that names owners, can leave an orphan behind."""
        return change.type == "DELETED" or bool(change.obj["metadata"].get("ownerReferences"))

    def sync(self, now: float) -> float | None:
        for key in DEPENDENT_KEYS:
            res = by_key(key)
            for obj in self.cluster.store.list(key):
                refs = obj["metadata"].get("ownerReferences") or []
                namespace = obj["metadata"].get("namespace", "")
                if refs and not any(owner_exists(self.cluster, namespace, ref) for ref in refs):
                    self.cluster.remove(res, obj)
        return None
