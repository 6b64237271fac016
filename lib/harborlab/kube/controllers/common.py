"""Small shared facts about pods and owners, used by several controllers."""

from __future__ import annotations

import copy
import random

from ..resources import by_key

PODS = by_key("/pods")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # the real name generator's alphabet


def suffix(n: int = 5, rng: random.Random | None = None) -> str:
    return "".join((rng or random).choice(_SUFFIX_CHARS) for _ in range(n))


def owner_ref(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controlled_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def condition(obj: dict, ctype: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_ready(pod: dict) -> bool:
    cond = condition(pod, "Ready")
    return (pod.get("status") or {}).get("phase") == "Running" and bool(cond) and cond.get("status") == "True"


def is_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and \
        not pod["metadata"].get("deletionTimestamp")


def pod_from_template(owner: dict, template: dict, name: str) -> dict:
    meta = copy.deepcopy(template.get("metadata") or {})
    meta.pop("creationTimestamp", None)
    meta.update(name=name, generateName=f"{owner['metadata']['name']}-",
                namespace=owner["metadata"]["namespace"], ownerReferences=[owner_ref(owner)])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {}),
            "status": {"phase": "Pending"}}


def set_condition(conditions: list[dict], ctype: str, status: str, reason: str, message: str,
                  now: str, extra: dict | None = None) -> list[dict]:
    """Conditions with ``ctype`` set; transition time moves only when the status does."""
    out, found = [], False
    for cond in conditions:
        if cond.get("type") == ctype:
            found = True
            moved = cond.get("status") != status
            cond = {**cond, "status": status, "reason": reason, "message": message, **(extra or {}),
                    "lastTransitionTime": now if moved else cond.get("lastTransitionTime", now)}
        out.append(cond)
    if not found:
        out.append({"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastTransitionTime": now, **(extra or {})})
    return out
