"""Deployments: one ReplicaSet per pod template (named by pod-template-hash), rolled over by the
RollingUpdate or Recreate strategy, with the status and conditions the real controller reports.

The rollout arithmetic is a pure function (``plan``) over the ReplicaSets' counts.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

from ..cluster import Cluster
from ..resources import by_key
from .common import controlled_by, owner_ref, set_condition
from .workloads import REPLICASETS

DEPLOYMENTS = by_key("apps/deployments")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def template_hash(template: dict, collision_count: int = 0) -> str:
    """FNV-32a of the template, encoded with the real SafeEncodeString alphabet."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        canonical += str(collision_count).encode()
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(fnv32a(canonical)))


def resolve(value: int | str | None, total: int, round_up: bool) -> int:
    """An intOrString ("25%" or 1) as a count of ``total``."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


@dataclass(frozen=True)
class RsCount:
    name: str
    spec: int      # spec.replicas
    ready: int     # status.readyReplicas
    pods: int      # status.replicas


def plan(replicas: int, strategy: dict, new: RsCount, olds: list[RsCount]) -> dict[str, int]:
    """Target spec.replicas per ReplicaSet for one step of the rollout."""
    targets = {rs.name: rs.spec for rs in olds} | {new.name: new.spec}
    if strategy.get("type") == "Recreate":
        for rs in olds:
            targets[rs.name] = 0
        if all(rs.pods == 0 for rs in olds):
            targets[new.name] = replicas
        return targets
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    # Scale the new ReplicaSet up as far as the surge allows.
    total = new.spec + sum(rs.spec for rs in olds)
    if new.spec > replicas:
        targets[new.name] = replicas
    elif new.spec < replicas:
        targets[new.name] = new.spec + max(0, min(replicas - new.spec, replicas + surge - total))
    # Old pods that are not ready can go at once: they give no availability.
    for rs in olds:
        targets[rs.name] = min(rs.spec, max(rs.ready, 0))
    # Then ready old pods, as far as availability allows.
    removable = new.ready + sum(min(rs.ready, targets[rs.name]) for rs in olds) - (replicas - unavailable)
    for rs in sorted(olds, key=lambda r: r.name):
        cut = min(targets[rs.name], max(removable, 0))
        targets[rs.name] -= cut
        removable -= cut
    return targets


def _strip_hash(template: dict) -> dict:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return out


class DeploymentController:
    name = "deployments"
    watches = frozenset({DEPLOYMENTS.key, REPLICASETS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        for deploy in self.cluster.store.list(DEPLOYMENTS.key):
            self._reconcile(deploy)
        return None

    def _reconcile(self, deploy: dict) -> None:
        cluster, store = self.cluster, self.cluster.store
        ns, uid = deploy["metadata"]["namespace"], deploy["metadata"]["uid"]
        owned = [rs for rs in store.list(REPLICASETS.key, ns) if controlled_by(rs, uid)]
        template = deploy["spec"]["template"]
        new = next((rs for rs in owned if _strip_hash(rs["spec"]["template"]) == _strip_hash(template)), None)
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        if new is None:
            new = self._create_rs(deploy, template, max(revisions, default=0) + 1)
        elif new is not max(owned, key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION, "0"))) \
                and len(owned) > 1:
            new = self._set_revision(new, max(revisions) + 1)    # rolled back to an older template
        olds = [rs for rs in owned if rs["metadata"]["uid"] != new["metadata"]["uid"]]
        count = lambda rs: RsCount(rs["metadata"]["name"], rs["spec"].get("replicas", 0),  # noqa: E731
                                   (rs.get("status") or {}).get("readyReplicas", 0),
                                   (rs.get("status") or {}).get("replicas", 0))
        replicas = deploy["spec"].get("replicas", 1)
        targets = plan(replicas, deploy["spec"].get("strategy") or {}, count(new), [count(rs) for rs in olds])
        for rs in [new] + olds:
            want = targets[rs["metadata"]["name"]]
            if want != rs["spec"].get("replicas"):
                word = "up" if want > rs["spec"].get("replicas", 0) else "down"
                scaled = copy.deepcopy(rs)
                scaled["spec"]["replicas"] = want
                cluster.put(REPLICASETS, scaled)
                cluster.recorder.record(deploy, "Normal", "ScalingReplicaSet",
                                        f"Scaled {word} replica set {rs['metadata']['name']} to {want}",
                                        component="deployment-controller")
        self._cleanup(deploy, olds)
        self._status(deploy, new["metadata"]["name"])

    def _create_rs(self, deploy: dict, template: dict, revision: int) -> dict:
        hash_ = template_hash(template)
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(deploy["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        meta = {"name": f"{deploy['metadata']['name']}-{hash_}", "namespace": deploy["metadata"]["namespace"],
                "labels": dict(rs_template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(deploy["spec"].get("replicas", 1)),
                                "deployment.kubernetes.io/max-replicas": str(deploy["spec"].get("replicas", 1))},
                "ownerReferences": [owner_ref(deploy)]}
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
              "spec": {"replicas": 0, "selector": selector, "template": rs_template,
                       "minReadySeconds": deploy["spec"].get("minReadySeconds", 0)}}
        return self.cluster.create(REPLICASETS, meta["namespace"], rs, internal=True)

    def _set_revision(self, rs: dict, revision: int) -> dict:
        updated = copy.deepcopy(rs)
        updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        return self.cluster.put(REPLICASETS, updated)

    def _cleanup(self, deploy: dict, olds: list[dict]) -> None:
        limit = deploy["spec"].get("revisionHistoryLimit", 10)
        idle = [rs for rs in olds if rs["spec"].get("replicas", 0) == 0 and not (rs.get("status") or {}).get("replicas")]
        idle.sort(key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION, "0")))
        for rs in idle[: max(0, len(idle) - limit)]:
            self.cluster.remove(REPLICASETS, rs)

    def _status(self, deploy: dict, new_name: str) -> None:
        store, ns = self.cluster.store, deploy["metadata"]["namespace"]
        current = store.get(DEPLOYMENTS.key, ns, deploy["metadata"]["name"])
        if current is None:
            return
        owned = [rs for rs in store.list(REPLICASETS.key, ns) if controlled_by(rs, current["metadata"]["uid"])]
        stat = lambda rs, key: (rs.get("status") or {}).get(key, 0)  # noqa: E731
        replicas = current["spec"].get("replicas", 1)
        total = sum(stat(rs, "replicas") for rs in owned)
        ready = sum(stat(rs, "readyReplicas") for rs in owned)
        new = next((rs for rs in owned if rs["metadata"]["name"] == new_name), None)
        updated = stat(new, "replicas") if new else 0
        rolling = (current["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, False) \
            if (current["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" else 0
        now = self.cluster.now()
        old_status = current.get("status") or {}
        conditions = copy.deepcopy(old_status.get("conditions") or [])
        available = ready >= replicas - max_unavailable
        conditions = _condition(conditions, "Available", available,
                                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                                "Deployment has minimum availability." if available
                                else "Deployment does not have minimum availability.", now)
        complete = updated == replicas and ready == replicas and total == replicas
        conditions = _condition(conditions, "Progressing", True,
                                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                                f'ReplicaSet "{new_name}" has successfully progressed.' if complete
                                else f'ReplicaSet "{new_name}" is progressing.', now)
        status = {"observedGeneration": current["metadata"].get("generation", 1), "replicas": total,
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                  "unavailableReplicas": max(replicas - ready, 0), "conditions": conditions}
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}
        revision = (new["metadata"].get("annotations") or {}).get(REVISION) if new else None
        annotations = dict(current["metadata"].get("annotations") or {})
        if revision:
            annotations[REVISION] = revision
        if status != old_status or annotations != (current["metadata"].get("annotations") or {}):
            out = copy.deepcopy(current)
            out["status"] = status
            if annotations:
                out["metadata"]["annotations"] = annotations
            self.cluster.put(DEPLOYMENTS, out)


def _condition(conditions: list[dict], ctype: str, ok: bool, reason: str, message: str, now: str) -> list[dict]:
    previous = next((c for c in conditions if c.get("type") == ctype), None)
    update_time = previous.get("lastUpdateTime", now) if previous and previous.get("reason") == reason else now
    return set_condition(conditions, ctype, "True" if ok else "False", reason, message, now,
                         {"lastUpdateTime": update_time})
