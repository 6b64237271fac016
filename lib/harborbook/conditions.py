"""Kubernetes object conditions: the one place that decides "is this pod or node Ready"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def condition(obj: Mapping[str, Any], kind: str) -> str:
    """The status ("True", "False", "Unknown") of condition ``kind`` of a pod or node."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status") or "Unknown")
    return "Unknown"


def ready(obj: Mapping[str, Any]) -> bool:
    """A pod or node whose Ready condition is True (what the kubelet and the node controller report)."""
    return condition(obj, "Ready") == "True"


def ready_and_running(pod: Mapping[str, Any]) -> bool:
    """A Ready pod that is not being deleted: one that will keep serving."""
    return ready(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp")
