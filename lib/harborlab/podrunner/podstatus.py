"""Pod status documents for pods the runner owns, as a kubelet writes them. Pure functions.

The running case reuses the emulator's own ``running_status`` (conditions, IPs, container
statuses) and adds what only a runner knows: the restart count and the last termination.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from harborlab.kube.controllers.pods import container_statuses, running_status
from harborlab.kube.controllers.common import set_condition


@dataclass(frozen=True)
class Termination:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str

    def as_state(self) -> dict:
        return {"terminated": {"exitCode": self.exit_code, "reason": self.reason,
                               "startedAt": self.started_at, "finishedAt": self.finished_at}}


def _patch_container(status: dict, container: str, restarts: int, last: Termination | None,
                     state: dict | None = None) -> dict:
    for entry in status.get("containerStatuses") or []:
        if entry.get("name") == container:
            entry["restartCount"] = restarts
            entry["lastState"] = last.as_state() if last else {}
            if state is not None:
                entry["state"] = state
                entry["started"] = "running" in state
                entry["ready"] = False
    return status


def running(pod: dict, node: dict | None, pod_ip: str, ready: bool, now: str, runtime: str,
            container: str, restarts: int, last: Termination | None, started_at: str) -> dict:
    """The program runs; ``ready`` once its health check answers."""
    status = running_status(pod, node, pod_ip, ready, now, runtime, started=started_at)
    for entry in status["containerStatuses"]:
        entry["state"] = {"running": {"startedAt": started_at}}
    return _patch_container(status, container, restarts, last)


def _not_ready(pod: dict, node: dict | None, pod_ip: str, now: str, runtime: str) -> dict:
    return running_status(pod, node, pod_ip, False, now, runtime)


def back_off(pod: dict, node: dict | None, pod_ip: str, now: str, runtime: str, container: str,
             restarts: int, last: Termination, delay: float) -> dict:
    """The program exited and waits ``delay`` seconds to be restarted: ``CrashLoopBackOff``."""
    status = _not_ready(pod, node, pod_ip, now, runtime)
    meta = pod["metadata"]
    message = (f"back-off {delay:g}s restarting failed container={container} "
               f"pod={meta['name']}_{meta.get('namespace', 'default')}({meta.get('uid', '')})")
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    return _patch_container(status, container, restarts, last, waiting)


def finished(pod: dict, container: str, restarts: int, last: Termination, phase: str, now: str,
             runtime: str) -> dict:
    """The program exited for good (restartPolicy Never/OnFailure): Succeeded or Failed."""
    status = copy.deepcopy(pod.get("status") or {})
    status["phase"] = phase
    entries = container_statuses(pod, last.as_state(), False, runtime)
    status["containerStatuses"] = entries
    _patch_container(status, container, restarts, None, last.as_state())
    conds = status.get("conditions") or []
    for ctype in ("Ready", "ContainersReady"):
        conds = set_condition(conds, ctype, "False", "PodCompleted", None, now)
    status["conditions"] = [{k: v for k, v in c.items() if v is not None} for c in conds]
    return status


def waiting(pod: dict, reason: str, message: str, now: str, runtime: str) -> dict:
    """The container cannot be created (``CreateContainerConfigError``, ``ContainerCreating``)."""
    status = copy.deepcopy(pod.get("status") or {})
    state = {"waiting": {"reason": reason, "message": message}}
    status["containerStatuses"] = container_statuses(pod, state, False, runtime)
    status.setdefault("startTime", now)
    status["phase"] = "Pending"
    return status


def container_state(status: dict, container: str) -> dict:
    for entry in status.get("containerStatuses") or []:
        if entry.get("name") == container:
            return entry.get("state") or {}
    return {}
