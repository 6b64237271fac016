"""Step 1: what the cluster says — node conditions and taints, the pods the node hurts, its events."""

from __future__ import annotations

import pandas as pd

from typing import Any

from ...conditions import condition
from ...kube import Kube
from ...runbook import Status, StepResult

Obj = dict[str, Any]
CONDITIONS = ("Ready", "DiskPressure", "MemoryPressure", "PIDPressure")
EVENT_REASONS = ("EvictionThresholdMet", "NodeHasDiskPressure", "NodeHasNoDiskPressure", "FreeDiskSpaceFailed",
                 "ImageGCFailed", "Evicted", "NodeNotReady", "NodeReady")


FLEET = "all"


def fleet_skip(name: str) -> StepResult[Any]:
    """A single-node step when node_pressure.node is `all`: the fleet step reports instead."""
    return StepResult(name, Status.SKIPPED, "node: all — see the fleet view below")


def _conditions(node: Obj) -> dict[str, str]:
    return {c: condition(node, c) for c in CONDITIONS}


def node_row(node: Obj) -> dict[str, str]:
    taints = (node.get("spec") or {}).get("taints") or []
    return {"node": node["metadata"]["name"], **_conditions(node),
            "taints": ", ".join(sorted(f"{t['key']}:{t['effect']}" for t in taints)) or "-",
            "kubelet": ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "?")}


def cluster_view(kube: Kube, node: str) -> StepResult[None]:
    """Every node's conditions, taints and kubelet version (the chosen node first)."""
    nodes = kube.list("v1", "Node")
    rows = sorted((node_row(n) for n in nodes), key=lambda r: (r["node"] != node, r["node"]))
    pressured = [r["node"] for r in rows if r["DiskPressure"] == "True"]
    status = Status.WARNING if pressured else Status.OK
    summary = (f"{len(rows)} nodes; DiskPressure on {', '.join(pressured)}" if pressured
               else f"{len(rows)} nodes; none reports DiskPressure")
    if node != "all" and node not in {r["node"] for r in rows}:
        return StepResult("cluster view", Status.FAILED, f"node {node} does not exist",
                          hint="set node_pressure.node to one of: " + ", ".join(r["node"] for r in rows))
    return StepResult("cluster view", status, summary, table=pd.DataFrame(rows),
                      data={"pressured": pressured, "versions": {r["node"]: r["kubelet"] for r in rows}})


def pods_affected(kube: Kube, node: str) -> StepResult[None]:
    """Pods Pending, Evicted, or refused by the node (sorted; no ages, so the table is stable)."""
    if node == FLEET:
        return fleet_skip("affected pods")
    rows = []
    for pod in kube.list("v1", "Pod"):
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        on_node = spec.get("nodeName") == node
        phase, reason = status.get("phase"), status.get("reason") or ""
        if phase == "Pending" or (on_node and phase == "Failed"):
            if not on_node and spec.get("nodeName"):
                continue
            rows.append({"namespace": pod["metadata"].get("namespace"), "pod": pod["metadata"]["name"],
                         "phase": phase, "reason": reason or "-", "message": (status.get("message") or "")[:120]})
    rows.sort(key=lambda r: (r["namespace"], r["pod"]))
    evicted = sum(1 for r in rows if r["reason"] == "Evicted")
    status = Status.WARNING if rows else Status.OK
    return StepResult("affected pods", status, f"{len(rows)} pods Pending or failed on {node} ({evicted} evicted)",
                      table=pd.DataFrame(rows, columns=["namespace", "pod", "phase", "reason", "message"]))


def node_events(kube: Kube, node: str) -> StepResult[None]:
    """The node's eviction-related events, aggregated by reason (counts, not ages)."""
    if node == FLEET:
        return fleet_skip("node events")
    events = [e for e in kube.events(None, "Node", node) if e.get("reason") in EVENT_REASONS]
    by_reason: dict[str, dict] = {}
    for e in events:
        row = by_reason.setdefault(e["reason"], {"type": e.get("type"), "reason": e["reason"], "count": 0,
                                                 "message": ""})
        row["count"] += int(e.get("count") or 1)
        row["message"] = (e.get("message") or "")[:160]
    rows = sorted(by_reason.values(), key=lambda r: r["reason"])
    return StepResult("node events", Status.WARNING if "EvictionThresholdMet" in by_reason else Status.OK,
                      f"{len(rows)} kinds of eviction events on {node}",
                      table=pd.DataFrame(rows, columns=["type", "reason", "count", "message"]))
