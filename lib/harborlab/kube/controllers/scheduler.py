"""The scheduler: binds pending pods to nodes.

Filters (nodeSelector, required node affinity on labels, NoSchedule/NoExecute taints against
tolerations, unschedulable nodes, pod count) and one score (preferred pod anti-affinity, then the
fewest pods) are pure functions; a pod that fits nowhere stays Pending with PodScheduled=False
and a FailedScheduling event in the real wording.
"""

from __future__ import annotations

import copy
from collections import Counter

from ..cluster import Cluster
from ..nodes import NODES
from ..selectors import from_label_selector, labels_match
from .common import PODS, is_active, set_condition

RETRY_PERIOD = 5.0


def tolerates(taint: dict, tolerations: list[dict]) -> bool:
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _match_node_term(term: dict, labels: dict) -> bool:
    for expr in term.get("matchExpressions") or []:
        value, op, values = labels.get(expr["key"]), expr["operator"], expr.get("values") or []
        ok = {"In": value in values, "NotIn": value not in values, "Exists": value is not None,
              "DoesNotExist": value is None,
              "Gt": value is not None and value.isdigit() and int(value) > int(values[0]),
              "Lt": value is not None and value.isdigit() and int(value) < int(values[0])}.get(op, False)
        if not ok:
            return False
    return True


def why_not(pod: dict, node: dict, pods_on_node: int) -> str | None:
    """The reason ``node`` cannot take ``pod`` (the scheduler's wording), or None when it fits."""
    spec, labels = pod["spec"], node["metadata"].get("labels") or {}
    if node["spec"].get("unschedulable"):
        return "node(s) were unschedulable"
    for taint in node["spec"].get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(taint, spec.get("tolerations")):
            return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    selector = spec.get("nodeSelector") or {}
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = affinity.get("nodeSelectorTerms") or []
    if any(labels.get(k) != v for k, v in selector.items()) or \
            (terms and not any(_match_node_term(t, labels) for t in terms)):
        return "node(s) didn't match Pod's node affinity/selector"
    capacity = str(((node.get("status") or {}).get("allocatable") or {}).get("pods", "110"))
    if pods_on_node >= (int(capacity) if capacity.isdigit() else 110):
        return "Too many pods"
    return None


def failure_message(total: int, reasons: Counter) -> str:
    listed = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    return (f"0/{total} nodes are available: {listed}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.")


def _term_matches(pod: dict, term: dict, others: list[dict]) -> bool:
    reqs = from_label_selector(term.get("labelSelector") or {})
    namespaces = term.get("namespaces") or [pod["metadata"]["namespace"]]
    return any(p["metadata"]["namespace"] in namespaces and labels_match(reqs, p["metadata"].get("labels"))
               for p in others)


def breaks_required_anti_affinity(pod: dict, node_name: str, placed: dict[str, list[dict]]) -> bool:
    """Required pod anti-affinity on hostname: no matching pod may already be on the node."""
    terms = (((pod["spec"].get("affinity") or {}).get("podAntiAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    return any(t.get("topologyKey") == "kubernetes.io/hostname" and _term_matches(pod, t, placed.get(node_name, []))
               for t in terms)


def anti_affinity_penalty(pod: dict, node_name: str, placed: dict[str, list[dict]]) -> int:
    """Sum of weights of preferred anti-affinity terms on hostname that pods on the node match."""
    terms = (((pod["spec"].get("affinity") or {}).get("podAntiAffinity") or {})
             .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    penalty = 0
    for weighted in terms:
        term = weighted.get("podAffinityTerm") or {}
        if term.get("topologyKey") == "kubernetes.io/hostname" and _term_matches(pod, term, placed.get(node_name, [])):
            penalty += weighted.get("weight", 1)
    return penalty


def choose(pod: dict, nodes: list[dict], placed: dict[str, list[dict]]) -> tuple[str | None, str]:
    """(node name, "") or (None, the FailedScheduling message)."""
    reasons: Counter = Counter()
    fits = []
    for node in nodes:
        name = node["metadata"]["name"]
        reason = why_not(pod, node, len(placed.get(name, [])))
        if reason is None and breaks_required_anti_affinity(pod, name, placed):
            reason = "node(s) didn't match pod anti-affinity rules"
        if reason:
            reasons[reason] += 1
        else:
            fits.append(node)
    if not fits:
        return None, failure_message(len(nodes), reasons) if nodes else "no nodes available to schedule pods"
    best = min(fits, key=lambda n: (anti_affinity_penalty(pod, n["metadata"]["name"], placed),
                                    len(placed.get(n["metadata"]["name"], [])), n["metadata"]["name"]))
    return best["metadata"]["name"], ""


class Scheduler:
    name = "scheduler"
    watches = frozenset({PODS.key, NODES.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.last_failure: dict[str, tuple[str, float]] = {}   # pod uid -> (message, time)

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        pods = [p for p in store.list(PODS.key) if is_active(p)]
        pending = [p for p in pods if not p["spec"].get("nodeName")
                   and p["spec"].get("schedulerName", "default-scheduler") == "default-scheduler"]
        if not pending:
            self.last_failure.clear()
            return None
        nodes = store.list(NODES.key)
        placed: dict[str, list[dict]] = {}
        for pod in pods:
            if pod["spec"].get("nodeName"):
                placed.setdefault(pod["spec"]["nodeName"], []).append(pod)
        wake = None
        for pod in sorted(pending, key=lambda p: p["metadata"].get("creationTimestamp", "")):
            node, message = choose(pod, nodes, placed)
            if node:
                self._bind(pod, node)
                placed.setdefault(node, []).append(pod)
            else:
                self._unschedulable(pod, message, now)
                wake = now + RETRY_PERIOD
        return wake

    def _bind(self, pod: dict, node: str) -> None:
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = node
        status = bound.setdefault("status", {})
        status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "True", None, None,
                                             self.cluster.now())
        for cond in status["conditions"]:
            if cond["type"] == "PodScheduled":
                cond.pop("reason", None), cond.pop("message", None)
        self.cluster.put(PODS, bound)
        self.last_failure.pop(pod["metadata"]["uid"], None)
        meta = pod["metadata"]
        self.cluster.recorder.record(pod, "Normal", "Scheduled",
                                     f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}")

    def _unschedulable(self, pod: dict, message: str, now: float) -> None:
        uid = pod["metadata"]["uid"]
        last = self.last_failure.get(uid)
        if last and last[0] == message and now - last[1] < RETRY_PERIOD:
            return
        self.last_failure[uid] = (message, now)
        updated = copy.deepcopy(pod)
        status = updated.setdefault("status", {})
        status["phase"] = "Pending"
        status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "False",
                                             "Unschedulable", message, self.cluster.now())
        self.cluster.put(PODS, updated)
        self.cluster.recorder.record(pod, "Warning", "FailedScheduling", message)
