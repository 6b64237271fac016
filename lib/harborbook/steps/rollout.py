"""04-rollout: apply in dependency order, then wait for readiness through watches.

Order matters: a Deployment whose ConfigMap does not exist yet starts pods that sit in
ContainerCreating with FailedMount events. Secrets and ConfigMaps first, then Services (so the
names the components call each other by resolve), then the Deployments.
"""

from __future__ import annotations

import time
from collections import Counter

import pandas as pd

from ..errors import RunbookError
from ..runbook import Status, StepResult

ORDER = {"Namespace": 0, "Secret": 1, "ConfigMap": 1, "Service": 2, "Deployment": 3}
WAITING_REASONS = ("FailedScheduling", "FailedMount", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "BackOff",
                   "Evicted", "FailedCreate")
_HINTS = {
    "FailedScheduling": "no node fits: check node taints (DiskPressure? see 06-node-disk-pressure), "
                        "resources and anti-affinity",
    "FailedMount": "a ConfigMap, Secret or claim the pod mounts is missing or unbound: rerun 01 and 03",
    "ErrImagePull": "the image cannot be pulled: check harbor.images and the registry the nodes pull from",
    "ImagePullBackOff": "the image cannot be pulled: check harbor.images and the registry the nodes pull from",
    "CrashLoopBackOff": "the program exits at start: read its log (the table shows the last lines)",
    "BackOff": "the program exits at start: read its log (the table shows the last lines)",
}


def ordered(manifests: list[dict]) -> list[dict]:
    """Manifests in apply order (stable within a kind)."""
    return sorted(manifests, key=lambda m: ORDER.get(m["kind"], 9))


def apply_all(kube, manifests: list[dict], dry_run: bool) -> StepResult:
    """Server-side apply of every object (field manager harborbook); dry run uses the server's."""
    rows = []
    for manifest in ordered(manifests):
        applied = kube.apply(manifest, dry_run=dry_run)
        rows.append({"kind": applied.kind, "name": applied.name, "action": applied.action})
    counts = Counter(r["action"] for r in rows)
    changed = sum(n for a, n in counts.items() if a != "unchanged")
    status = Status.UNCHANGED if not changed else (Status.SKIPPED if dry_run else Status.CHANGED)
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    return StepResult("apply", status, f"{len(rows)} objects: {summary}" + (" (server dry run)" if dry_run else ""),
                      table=pd.DataFrame(rows))


def deployment_ready(dep: dict) -> bool:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    want = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 1)
            and status.get("updatedReplicas", 0) == want
            and status.get("readyReplicas", 0) == want
            and status.get("replicas", 0) == want)


def wait_ready(kube, namespace: str, deployments: list[str], timeout: float, dry_run: bool) -> StepResult:
    """Watch the Deployments until every replica is updated and ready; one bar per component."""
    if dry_run:
        return StepResult("ready", Status.SKIPPED, "dry run: nothing was applied, nothing to wait for")
    from tqdm.auto import tqdm

    bars = {name: tqdm(total=1, desc=f"{name:<12}", position=i, leave=True, mininterval=0.5, unit="pod")
            for i, name in enumerate(deployments)}

    def show(objs: dict[str, dict]) -> None:
        for name, bar in bars.items():
            dep = objs.get(name)
            if dep is None:
                continue
            bar.total = (dep.get("spec") or {}).get("replicas", 1)
            bar.n = (dep.get("status") or {}).get("readyReplicas", 0) or 0
            bar.refresh()

    try:
        kube.wait_for("apps/v1", "Deployment", namespace,
                      lambda objs: all(n in objs and deployment_ready(objs[n]) for n in deployments),
                      timeout=timeout, on_change=show)
    except TimeoutError:
        return _diagnose(kube, namespace, deployments, timeout)
    finally:
        for bar in bars.values():
            bar.close()
    return summary_table(kube, namespace, deployments)


def summary_table(kube, namespace: str, deployments: list[str]) -> StepResult:
    """component, desired, ready, nodes used, image; a warning when replicas share a node."""
    rows, shared = [], []
    for name in deployments:
        dep = kube.get("apps/v1", "Deployment", name, namespace) or {}
        pods = [p for p in kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps")
                if _pod_ready(p) and not p["metadata"].get("deletionTimestamp")]
        nodes = Counter(p["spec"].get("nodeName") for p in pods)
        if any(n > 1 for n in nodes.values()):
            shared.append(name)
        containers = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
        rows.append({"component": name, "desired": (dep.get("spec") or {}).get("replicas"),
                     "ready": (dep.get("status") or {}).get("readyReplicas", 0),
                     "nodes used": len(nodes), "image": containers[0].get("image")})
    status = Status.WARNING if shared else Status.OK
    summary = f"{len(rows)} components ready"
    if shared:
        summary += f"; replicas share a node: {', '.join(shared)} (one node failure takes several down)"
    return StepResult("ready", status, summary, table=pd.DataFrame(rows))


def _pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_reason(pod: dict) -> str:
    """The most specific reason a pod is not ready: a container's waiting reason, else the phase's."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return waiting["reason"]
    if status.get("reason"):
        return status["reason"]
    for cond in status.get("conditions") or []:
        if cond.get("status") == "False" and cond.get("reason"):
            return cond["reason"]
    return status.get("phase") or "Unknown"


def _diagnose(kube, namespace: str, deployments: list[str], timeout: float) -> StepResult:
    """Why the rollout is stuck: each unready pod, its reason and its latest events."""
    rows = []
    for name in deployments:
        for pod in kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps"):
            if _pod_ready(pod):
                continue
            pod_name = pod["metadata"]["name"]
            events = [e for e in kube.events(namespace, "Pod", pod_name) if e.get("reason") in WAITING_REASONS]
            latest = events[-1] if events else {}
            own = pod_reason(pod)
            # The container's own state names image and crash problems best; events name the rest.
            reason = own if own in ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff") else (
                latest.get("reason") or own)
            rows.append({"component": name, "pod": pod_name, "phase": (pod.get("status") or {}).get("phase"),
                         "reason": reason, "message": (latest.get("message") or "")[:200]})
    reasons = Counter(r["reason"] for r in rows)
    top = reasons.most_common(1)[0][0] if reasons else None
    hint = _HINTS.get(top or "", "describe the pods above; their events say what they wait for")
    return StepResult("ready", Status.FAILED, f"not ready after {timeout:.0f}s: {len(rows)} pod(s) waiting"
                      + (f", mostly {top}" if top else ""), table=pd.DataFrame(rows), hint=hint, see="00-preflight")


def wait_deleted_and_replaced(kube, namespace: str, pod: dict, timeout: float) -> tuple[str, float]:
    """Delete one pod; wait until as many pods are ready as before, without it. (new pod, seconds)"""
    name = pod["metadata"]["name"]
    labels = pod["metadata"].get("labels") or {}
    selector = f"name={labels['name']}" if "name" in labels else None
    before = {p["metadata"]["name"] for p in kube.list("v1", "Pod", namespace, label_selector=selector) if _pod_ready(p)}
    wanted = max(len(before), 1)
    started = time.monotonic()
    kube.delete("v1", "Pod", name, namespace)

    def replaced(objs: dict[str, dict]) -> bool:
        ready = [n for n, p in objs.items() if n != name and _pod_ready(p) and not p["metadata"].get("deletionTimestamp")]
        return name not in objs and len(ready) >= wanted

    try:
        objs = kube.wait_for("v1", "Pod", namespace, replaced, timeout=timeout, label_selector=selector)
    except TimeoutError:
        raise RunbookError(f"pod {name} was not replaced by a ready pod within {timeout:.0f}s",
                           hint="run 04-rollout again: on a timeout it shows why the pods wait") from None
    fresh = sorted(n for n, p in objs.items() if n not in before and _pod_ready(p))
    return (fresh[-1] if fresh else "?"), time.monotonic() - started
