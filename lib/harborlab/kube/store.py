"""The object store: objects by (resource, namespace, name), resourceVersion, history, watch fan-out.

Stored objects are never mutated in place: every write stores a new dict, so readers (list
serialisation, watch queues, controllers) can hold references without copying. Writers must
``copy.deepcopy`` before changing what ``get`` returned.

A write that changes nothing is not a write: the resourceVersion stays and no event is sent,
like the real server (this is what makes a repeated server-side apply report "no change", and
what lets the controllers converge).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from .selectors import FieldRequirement, Requirement, fields_match, labels_match
from .status import gone

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    rv: int
    type: str            # ADDED | MODIFIED | DELETED
    rkey: str
    obj: dict
    old: dict | None


@dataclass(eq=False)   # identity semantics: watchers live in a set
class Watcher:
    rkey: str
    namespace: str | None
    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def selects(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return labels_match(self.labels, meta.get("labels")) and fields_match(self.fields, obj)

    def event_for(self, change: Change) -> tuple[str, dict] | None:
        """The event this watcher sees: an object moving out of the selection is DELETED for it."""
        if change.type == "DELETED":
            return ("DELETED", change.obj) if self.selects(change.obj) else None
        now, before = self.selects(change.obj), self.selects(change.old)
        if now:
            return ("MODIFIED" if before else "ADDED", change.obj)
        return ("DELETED", change.obj) if before else None

    def offer(self, change: Change) -> None:
        if change.rkey == self.rkey and (event := self.event_for(change)):
            self.queue.put_nowait(event)


def _without_rv(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Store:
    def __init__(self, history: int = 20000, clock: Callable[[], float] = time.time,
                 first_rv: int = 1000):
        self.clock = clock
        self.rv = first_rv
        self.objects: dict[str, dict[Key, dict]] = {}
        self.history: deque[Change] = deque(maxlen=history)
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Change], None]] = []

    # --- reads -------------------------------------------------------------------------------
    def get(self, rkey: str, namespace: str, name: str) -> dict | None:
        return self.objects.get(rkey, {}).get((namespace or "", name))

    def list(self, rkey: str, namespace: str | None = None,
             labels: tuple[Requirement, ...] = (), fields: tuple[FieldRequirement, ...] = ()) -> list[dict]:
        """Objects sorted by (namespace, name): the order the real server lists in."""
        table = self.objects.get(rkey, {})
        out = []
        for key in sorted(table):
            if namespace and key[0] != namespace:
                continue
            obj = table[key]
            if labels and not labels_match(labels, obj["metadata"].get("labels")):
                continue
            if fields and not fields_match(fields, obj):
                continue
            out.append(obj)
        return out

    def keys(self, rkey: str) -> list[Key]:
        return sorted(self.objects.get(rkey, {}))

    # --- writes ------------------------------------------------------------------------------
    def create(self, rkey: str, obj: dict) -> dict:
        """Store a new object, setting the metadata the server owns. The caller checked existence."""
        meta = dict(obj["metadata"])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339(self.clock()))
        if "spec" in obj:
            meta["generation"] = 1
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        stored = {**obj, "metadata": meta}
        self.objects.setdefault(rkey, {})[(meta.get("namespace", ""), meta["name"])] = stored
        self._emit(Change(self.rv, "ADDED", rkey, stored, None))
        return stored

    def update(self, rkey: str, obj: dict) -> dict:
        """Replace an existing object; a no-op write returns the stored object unchanged."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self.objects[rkey][key]
        if _without_rv(old) == _without_rv(obj):
            return old
        meta = dict(meta)
        for owned in ("uid", "creationTimestamp"):
            meta[owned] = old["metadata"].get(owned)
        if "spec" in obj:
            generation = old["metadata"].get("generation", 1)
            meta["generation"] = generation + 1 if _spec_part(old) != _spec_part(obj) else generation
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        stored = {**obj, "metadata": meta}
        if _without_rv(old) == _without_rv(stored):   # generation/uid fix-ups made it a no-op
            self.rv -= 1
            return old
        self.objects[rkey][key] = stored
        self._emit(Change(self.rv, "MODIFIED", rkey, stored, old))
        return stored

    def delete(self, rkey: str, namespace: str, name: str) -> dict:
        old = self.objects[rkey].pop((namespace or "", name))
        self.rv += 1
        meta = dict(old["metadata"], resourceVersion=str(self.rv))
        gone_obj = {**old, "metadata": meta}
        self._emit(Change(self.rv, "DELETED", rkey, gone_obj, old))
        return gone_obj

    # --- change fan-out ----------------------------------------------------------------------
    def _emit(self, change: Change) -> None:
        self.history.append(change)
        for watcher in self.watchers:
            watcher.offer(change)
        for listener in self.listeners:
            listener(change)

    def changes_since(self, rv: int, rkey: str) -> list[Change]:
        """Changes after ``rv``; 410 Gone when the history no longer reaches back that far."""
        oldest = self.history[0].rv if self.history else self.rv + 1
        if rv < oldest - 1 and rv < self.rv:
            raise gone(f"too old resource version: {rv} ({oldest - 1})")
        return [c for c in self.history if c.rv > rv and c.rkey == rkey]

    def oldest_rv(self) -> int:
        return self.history[0].rv - 1 if self.history else self.rv
