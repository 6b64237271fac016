"""StatefulSets: pods with stable names ``<set>-0..N-1``, each with its own PVCs from the
volumeClaimTemplates (``<template>-<set>-<ordinal>``, kept when pods go), as the statefulset
controller keeps them.

OrderedReady (the default): pod i is created only when pods 0..i-1 are Running and Ready, scale
down removes the highest ordinal first, one at a time; Parallel creates and removes without
waiting. A template change rolls out from the highest ordinal down, one pod at a time
(RollingUpdate, ``partition`` honoured); OnDelete replaces only pods someone deleted. Pods carry
``statefulset.kubernetes.io/pod-name``, ``controller-revision-hash``, hostname and subdomain.
"""

from __future__ import annotations

import copy

from ..cluster import Cluster
from ..resources import by_key
from .common import PODS, controlled_by, is_ready, owner_ref
from .deployments import template_hash

STATEFULSETS, PVCS = by_key("apps/statefulsets"), by_key("/persistentvolumeclaims")


class StatefulSetController:
    name = "statefulsets"
    watches = frozenset({STATEFULSETS.key, PODS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def sync(self, now: float) -> float | None:
        all_pods = self.cluster.store.list(PODS.key)
        for sts in self.cluster.store.list(STATEFULSETS.key):
            self._sync_one(sts, all_pods)
        return None

    def _sync_one(self, sts: dict, all_pods: list[dict]) -> None:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        template = spec.get("template") or {}
        revision = f"{name}-{template_hash(template)}"
        replicas = spec.get("replicas", 1)
        parallel = spec.get("podManagementPolicy") == "Parallel"
        pods = {p["metadata"]["name"]: p for p in all_pods
                if p["metadata"]["namespace"] == ns and controlled_by(p, meta["uid"])}
        terminating = any(p["metadata"].get("deletionTimestamp") for p in pods.values())
        # Scale up (or replace a deleted pod), in ordinal order.
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is None:
                if terminating and not parallel:
                    break
                self._create(sts, template, ordinal, revision)
                if not parallel:
                    break
            elif not parallel and not (is_ready(pod) and not pod["metadata"].get("deletionTimestamp")):
                break
        # Scale down from the highest ordinal.
        extra = sorted((p for n, p in pods.items() if _ordinal(n, name) >= replicas and
                        not p["metadata"].get("deletionTimestamp")), key=lambda p: -_ordinal(p["metadata"]["name"], name))
        for pod in extra[: None if parallel else 1]:
            if parallel or not terminating:
                self.cluster.delete(PODS, ns, pod["metadata"]["name"])
        # Rolling update from the highest ordinal down to the partition.
        strategy = spec.get("updateStrategy") or {}
        partition = ((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        current = [pods[f"{name}-{i}"] for i in range(replicas) if f"{name}-{i}" in pods]
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and not terminating and \
                len(current) == replicas and all(is_ready(p) for p in current):
            for ordinal in range(replicas - 1, partition - 1, -1):
                pod = pods[f"{name}-{ordinal}"]
                if (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision:
                    self.cluster.delete(PODS, ns, pod["metadata"]["name"])
                    break
        ready = sum(1 for p in current if is_ready(p))
        updated = sum(1 for p in current if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision)
        status = {"replicas": len(current), "readyReplicas": ready, "currentReplicas": updated,
                  "updatedReplicas": updated, "availableReplicas": ready, "currentRevision": revision,
                  "updateRevision": revision, "observedGeneration": meta.get("generation", 1), "collisionCount": 0}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration", "availableReplicas")}
        if status != sts.get("status"):
            latest = self.cluster.store.get(STATEFULSETS.key, ns, name)
            if latest is not None:
                self.cluster.put(STATEFULSETS, {**copy.deepcopy(latest), "status": status})

    def _create(self, sts: dict, template: dict, ordinal: int, revision: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = f"{name}-{ordinal}"
        meta = copy.deepcopy(template.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        meta.setdefault("labels", {}).update({"controller-revision-hash": revision,
                                              "statefulset.kubernetes.io/pod-name": pod_name,
                                              "apps.kubernetes.io/pod-index": str(ordinal)})
        meta.update(name=pod_name, namespace=ns, ownerReferences=[owner_ref(sts)])
        spec = copy.deepcopy(template.get("spec") or {})
        spec.setdefault("hostname", pod_name)
        if sts["spec"].get("serviceName"):
            spec.setdefault("subdomain", sts["spec"]["serviceName"])
        volumes = spec.setdefault("volumes", [])
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = f"{claim['metadata']['name']}-{pod_name}"
            if self.cluster.store.get(PVCS.key, ns, claim_name) is None:
                pvc = copy.deepcopy(claim)
                pvc["metadata"] = {**(pvc.get("metadata") or {}), "name": claim_name, "namespace": ns,
                                   "labels": {**((claim.get("metadata") or {}).get("labels") or {}),
                                              **(template.get("metadata") or {}).get("labels", {})}}
                pvc.pop("status", None)
                self.cluster.create(PVCS, ns, pvc, internal=True)
            volumes[:] = [v for v in volumes if v.get("name") != claim["metadata"]["name"]]
            volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
        self.cluster.create(PODS, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
                                       "status": {"phase": "Pending"}}, internal=True)
        self.cluster.recorder.record(sts, "Normal", "SuccessfulCreate",
                                     f"create Pod {pod_name} in StatefulSet {name} successful",
                                     component="statefulset-controller")


def _ordinal(pod_name: str, set_name: str) -> int:
    tail = pod_name[len(set_name) + 1:]
    return int(tail) if tail.isdigit() else -1
