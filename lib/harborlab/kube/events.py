"""Events recorded the way the real event recorder does: one Event object per (object, type,
reason, message, source), whose ``count`` and ``lastTimestamp`` grow when the same thing happens
again, instead of a new object each time."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .resources import by_key
from .store import rfc3339

if TYPE_CHECKING:
    from .cluster import Cluster

EVENTS = by_key("/events")
_seq = itertools.count(1)


def involved(obj: dict) -> dict:
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind"), "name": meta.get("name"), "uid": meta.get("uid"),
           "apiVersion": obj.get("apiVersion"), "resourceVersion": meta.get("resourceVersion")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def aggregation_key(obj: dict, type_: str, reason: str, message: str, component: str, host: str) -> tuple:
    meta = obj["metadata"]
    return (obj.get("kind"), meta.get("namespace", ""), meta.get("name"), meta.get("uid"),
            type_, reason, message, component, host)


class EventRecorder:
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self.seen: dict[tuple, tuple[str, str]] = {}   # aggregation key -> (namespace, event name)

    def record(self, obj: dict, type_: str, reason: str, message: str,
               component: str = "default-scheduler", host: str = "") -> dict:
        store = self.cluster.store
        now = rfc3339(store.clock())
        key = aggregation_key(obj, type_, reason, message, component, host)
        namespace = obj["metadata"].get("namespace") or "default"
        known = self.seen.get(key)
        existing = store.get(EVENTS.key, *known) if known else None
        if existing:
            updated = {**existing, "count": existing.get("count", 1) + 1, "lastTimestamp": now}
            return store.update(EVENTS.key, updated)
        name = f"{obj['metadata'].get('name')}.{(int(store.clock() * 1e9) + next(_seq)):x}"
        source = {"component": component, **({"host": host} if host else {})}
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": name, "namespace": namespace},
                 "involvedObject": involved(obj), "reason": reason, "message": message,
                 "type": type_, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                 "source": source, "reportingComponent": component, "reportingInstance": host}
        self.seen[key] = (namespace, name)
        return store.create(EVENTS.key, event)
