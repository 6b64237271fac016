"""04-rollout: apply in dependency order, then wait for readiness through watches.

Order matters: a Deployment whose ConfigMap does not exist yet starts pods that sit in
ContainerCreating with FailedMount events. Secrets and ConfigMaps first, then Services (so the
names the components call each other by resolve), then the Deployments.

Waiting stops early when a component cannot come up — every pod of it crash-looping with the
same termination, or its image cannot be pulled — and the table shows the failing container's
last log lines: sitting out the timeout would only repeat what is already known.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..checks import status_for
from ..conditions import ready, ready_and_running
from ..errors import RunbookError, TransportError
from ..kube import Kube
from ..runbook import Status, StepResult

Obj = dict[str, Any]
ORDER = {"Namespace": 0, "Secret": 1, "ConfigMap": 1, "Service": 2, "Deployment": 3}
WAITING_REASONS = ("FailedScheduling", "FailedMount", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "BackOff",
                   "Evicted", "FailedCreate")
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")
CRASH_RESTARTS = 3  # "a few restarts": a program that cannot start, not one waiting for a dependency
CHECK_EVERY_S = 5.0  # how often a stuck component is looked for while waiting
LOG_LINES = 5
_HINTS = {
    "FailedScheduling": "no node fits: check node taints (DiskPressure? see 06-node-disk-pressure), "
                        "resources and anti-affinity",
    "FailedMount": "a ConfigMap, Secret or claim the pod mounts is missing or unbound: rerun 01 and 03",
    "ErrImagePull": "the image cannot be pulled: check harbor.images and the registry the nodes pull from",
    "ImagePullBackOff": "the image cannot be pulled: check harbor.images and the registry the nodes pull from",
    "InvalidImageName": "the image name is invalid: check harbor.images",
    "CrashLoopBackOff": "the program exits at start: read its log (the table shows the last lines)",
    "BackOff": "the program exits at start: read its log (the table shows the last lines)",
}


def ordered(manifests: list[Obj]) -> list[Obj]:
    """Manifests in apply order (stable within a kind)."""
    return sorted(manifests, key=lambda m: ORDER.get(m["kind"], 9))


def apply_all(kube: Kube, manifests: list[Obj], dry_run: bool) -> StepResult[None]:
    """Server-side apply of every object (field manager harborbook); dry run uses the server's."""
    rows = []
    for manifest in ordered(manifests):
        applied = kube.apply(manifest, dry_run=dry_run)
        rows.append({"kind": applied.kind, "name": applied.name, "action": applied.action})
    counts = Counter(r["action"] for r in rows)
    changed = sum(n for a, n in counts.items() if a != "unchanged")
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    return StepResult("apply", status_for(bool(changed), dry_run),
                      f"{len(rows)} objects: {summary}" + (" (server dry run)" if dry_run else ""),
                      table=pd.DataFrame(rows))


def deployment_ready(dep: Mapping[str, Any]) -> bool:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    want = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 1)
            and status.get("updatedReplicas", 0) == want
            and status.get("readyReplicas", 0) == want
            and status.get("replicas", 0) == want)


def wait_ready(kube: Kube, namespace: str, deployments: list[str], *, timeout: float,
               dry_run: bool) -> StepResult[None]:
    """Watch the Deployments until every replica is updated and ready; one bar per component.

    Every few seconds without readiness, the pods are examined: a component that cannot come
    up ends the wait at once with its evidence.
    """
    if dry_run:
        return StepResult("ready", Status.SKIPPED, "dry run: nothing was applied, nothing to wait for")
    from tqdm.auto import tqdm

    bars = {name: tqdm(total=1, desc=f"{name:<12}", position=i, leave=True, mininterval=0.5, unit="pod")
            for i, name in enumerate(deployments)}

    def show(objs: dict[str, Obj]) -> None:
        for name, bar in bars.items():
            dep = objs.get(name)
            if dep is None:
                continue
            bar.total = (dep.get("spec") or {}).get("replicas", 1)
            bar.n = (dep.get("status") or {}).get("readyReplicas", 0) or 0
            bar.refresh()

    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _diagnose(kube, namespace, deployments, f"not ready after {timeout:.0f}s")
            try:
                kube.wait_for("apps/v1", "Deployment", namespace,
                              lambda objs: all(n in objs and deployment_ready(objs[n]) for n in deployments),
                              timeout=min(remaining, CHECK_EVERY_S), on_change=show)
                break
            except TimeoutError:
                pass
            stuck = cannot_start(kube, namespace, deployments)
            if stuck:
                return _diagnose(kube, namespace, deployments, f"{', '.join(stuck)} cannot start", only=stuck)
    finally:
        for bar in bars.values():
            bar.close()
    return summary_table(kube, namespace, deployments)


def summary_table(kube: Kube, namespace: str, deployments: list[str]) -> StepResult[None]:
    """component, desired, ready, nodes used, image; a warning when replicas share a node."""
    rows, shared = [], []
    for name in deployments:
        dep = kube.get("apps/v1", "Deployment", name, namespace) or {}
        pods = [p for p in kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps")
                if ready_and_running(p)]
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


def pod_reason(pod: Mapping[str, Any]) -> str:
    """The most specific reason a pod is not ready: a container's waiting reason, else the phase's."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    if status.get("reason"):
        return str(status["reason"])
    for cond in status.get("conditions") or []:
        if cond.get("status") == "False" and cond.get("reason"):
            return str(cond["reason"])
    return str(status.get("phase") or "Unknown")


def _failing_container(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The status of the pod's container that cannot start (crash loop or image), if any."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason in PULL_FAILURES or (reason == "CrashLoopBackOff" and (cs.get("restartCount") or 0) >= CRASH_RESTARTS):
            return cs
    return None


def _waiting_container(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The status of the pod's first container that is not running (whatever the restart count)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if (cs.get("state") or {}).get("waiting"):
            return cs
    return None


def _failure_signature(cs: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two failures the same: the image for a pull, the termination for a crash."""
    reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason", "")
    if reason in PULL_FAILURES:
        return ("pull", str(cs.get("image", "")))
    last = (cs.get("lastState") or {}).get("terminated") or {}
    return ("crash", str(last.get("exitCode")), str(last.get("reason", "")), str(last.get("message", "")).strip())


def stuck_component(pods: list[Obj]) -> bool:
    """Every live pod of a component fails to start the same way (and none is Ready)."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if not live or any(ready(p) for p in live):
        return False
    failing = [_failing_container(p) for p in live]
    if any(cs is None for cs in failing):
        return False
    return len({_failure_signature(cs) for cs in failing if cs is not None}) == 1


def cannot_start(kube: Kube, namespace: str, deployments: list[str]) -> list[str]:
    """The components whose program cannot start or whose image cannot be pulled."""
    return [name for name in deployments
            if stuck_component(kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps"))]


def last_log_lines(kube: Kube, namespace: str, pod: str, container: str | None, lines: int = LOG_LINES) -> str:
    """The last lines of a container's log, or why they cannot be shown."""
    try:
        text = kube.pod_log(namespace, pod, container, tail_lines=lines)
    except TransportError as exc:
        return f"(log not available: {exc.message.splitlines()[0][:120]})"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(empty log)"


def _diagnose(kube: Kube, namespace: str, deployments: list[str], why: str,
              only: list[str] | None = None) -> StepResult[None]:
    """Why the rollout is stuck: each unready pod, its reason, its latest event, its log's last lines."""
    rows = []
    for name in only or deployments:
        for pod in kube.list("v1", "Pod", namespace, label_selector=f"name={name}-apps"):
            if ready(pod):
                continue
            pod_name = pod["metadata"]["name"]
            events = [e for e in kube.events(namespace, "Pod", pod_name) if e.get("reason") in WAITING_REASONS]
            latest = events[-1] if events else {}
            own = pod_reason(pod)
            # The container's own state names image and crash problems best; events name the rest.
            crashing = own in ("CrashLoopBackOff", "Error", "BackOff")
            reason = own if own in (*PULL_FAILURES, "CrashLoopBackOff") else (latest.get("reason") or own)
            failing = _failing_container(pod) or _waiting_container(pod) or {}
            terminated = (failing.get("lastState") or {}).get("terminated") or {}
            message = str(terminated.get("message") or "").strip() or (latest.get("message") or "")
            log = last_log_lines(kube, namespace, pod_name, failing.get("name")) if crashing else ""
            rows.append({"component": name, "pod": pod_name, "phase": (pod.get("status") or {}).get("phase"),
                         "reason": reason, "message": message[:200], "log (last lines)": log[:400]})
    reasons = Counter(r["reason"] for r in rows)
    top = reasons.most_common(1)[0][0] if reasons else None
    hint = _HINTS.get(top or "", "describe the pods above; their events say what they wait for")
    return StepResult("ready", Status.FAILED, f"{why}: {len(rows)} pod(s) waiting" + (f", mostly {top}" if top else ""),
                      table=pd.DataFrame(rows, columns=["component", "pod", "phase", "reason", "message",
                                                        "log (last lines)"]),
                      hint=hint, see="00-preflight")


def wait_deleted_and_replaced(kube: Kube, namespace: str, pod: Obj, timeout: float) -> tuple[str, float]:
    """Delete one pod; wait until as many pods are ready as before, without it. (new pod, seconds)"""
    name = pod["metadata"]["name"]
    labels = pod["metadata"].get("labels") or {}
    selector = f"name={labels['name']}" if "name" in labels else None
    before = {p["metadata"]["name"] for p in kube.list("v1", "Pod", namespace, label_selector=selector) if ready(p)}
    wanted = max(len(before), 1)
    started = time.monotonic()
    kube.delete("v1", "Pod", name, namespace)

    def replaced(objs: dict[str, Obj]) -> bool:
        alive = [n for n, p in objs.items() if n != name and ready_and_running(p)]
        return name not in objs and len(alive) >= wanted

    try:
        objs = kube.wait_for("v1", "Pod", namespace, replaced, timeout=timeout, label_selector=selector)
    except TimeoutError:
        raise RunbookError(f"pod {name} was not replaced by a ready pod within {timeout:.0f}s",
                           hint="run 04-rollout again: on a timeout it shows why the pods wait") from None
    fresh = sorted(n for n, p in objs.items() if n not in before and ready(p))
    return (fresh[-1] if fresh else "?"), time.monotonic() - started
