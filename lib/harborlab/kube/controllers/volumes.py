"""The PersistentVolume binder: static binding of claims to volumes.

A volume matches a claim on storageClassName, accessModes (a superset), volumeMode, capacity at
least the request, and the claim's label selector; among matches the smallest volume wins, as in
the real binder. Both sides go Bound; a claim that matches nothing stays Pending with an event.
"""

from __future__ import annotations

import copy
import re

from ..cluster import Cluster
from ..resources import by_key
from ..selectors import from_label_selector, labels_match

PVS, PVCS = by_key("/persistentvolumes"), by_key("/persistentvolumeclaims")
STORAGECLASSES = by_key("storage.k8s.io/storageclasses")
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 1e-3}
_QUANTITY = re.compile(r"^([0-9.]+)(e[0-9]+|[a-zA-Z]*)$")


def quantity(text: str | int | None) -> float:
    """A resource quantity ("1Gi", "500M", "1.5G", 3) in base units; unparseable -> 0."""
    if text is None:
        return 0
    m = _QUANTITY.match(str(text).strip())
    if not m:
        return 0
    number, suffix = float(m.group(1)), m.group(2)
    if suffix.startswith("e"):
        return number * 10 ** int(suffix[1:])
    return number * _UNITS.get(suffix, 0)


def matches(claim: dict, volume: dict) -> bool:
    cspec, vspec = claim.get("spec") or {}, volume.get("spec") or {}
    if (cspec.get("storageClassName") or "") != (vspec.get("storageClassName") or ""):
        return False
    if not set(cspec.get("accessModes") or []) <= set(vspec.get("accessModes") or []):
        return False
    if (cspec.get("volumeMode") or "Filesystem") != (vspec.get("volumeMode") or "Filesystem"):
        return False
    request = quantity(((cspec.get("resources") or {}).get("requests") or {}).get("storage"))
    if quantity((vspec.get("capacity") or {}).get("storage")) < request:
        return False
    selector = cspec.get("selector")
    if selector and not labels_match(from_label_selector(selector), volume["metadata"].get("labels")):
        return False
    return True


def claim_ref_matches(volume: dict, claim: dict) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref:
        return True
    meta = claim["metadata"]
    return ref.get("name") == meta["name"] and ref.get("namespace") == meta["namespace"] and \
        ref.get("uid") in (None, meta.get("uid"))


def pick(claim: dict, volumes: list[dict]) -> dict | None:
    """The volume to bind ``claim`` to, or None."""
    wanted = (claim.get("spec") or {}).get("volumeName")
    candidates = []
    for vol in volumes:
        ref = (vol.get("spec") or {}).get("claimRef")
        if wanted and vol["metadata"]["name"] != wanted:
            continue
        if ref and not claim_ref_matches(vol, claim):
            continue
        phase = (vol.get("status") or {}).get("phase", "Available")
        if phase in ("Bound", "Released", "Failed") and not (ref and ref.get("uid") == claim["metadata"]["uid"]):
            continue
        if matches(claim, vol):
            candidates.append(vol)
    # Pre-bound volumes first, then the smallest.
    candidates.sort(key=lambda v: (not (v["spec"].get("claimRef")), quantity(v["spec"].get("capacity", {}).get("storage")),
                                   v["metadata"]["name"]))
    return candidates[0] if candidates else None


class VolumeBinder:
    name = "pv-binder"
    watches = frozenset({PVS.key, PVCS.key, STORAGECLASSES.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.reported: dict[str, str] = {}

    def sync(self, now: float) -> float | None:
        store = self.cluster.store
        claims = store.list(PVCS.key)
        live = {c["metadata"]["uid"] for c in claims}
        for claim in claims:
            if (claim.get("status") or {}).get("phase") == "Bound":
                continue
            volume = pick(claim, store.list(PVS.key))
            if volume is None:
                self._unbound(claim)
            else:
                self._bind(claim, volume)
        for volume in store.list(PVS.key):
            ref = volume["spec"].get("claimRef")
            phase = (volume.get("status") or {}).get("phase")
            if ref and ref.get("uid") and ref["uid"] not in live and phase == "Bound":
                released = copy.deepcopy(volume)
                released["status"] = {"phase": "Released"}
                self.cluster.put(PVS, released)
            elif not ref and phase != "Available":
                fresh = copy.deepcopy(volume)
                fresh["status"] = {"phase": "Available"}
                self.cluster.put(PVS, fresh)
        return None

    def _bind(self, claim: dict, volume: dict) -> None:
        meta = claim["metadata"]
        pv = copy.deepcopy(volume)
        pv["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                                  "name": meta["name"], "uid": meta["uid"], "apiVersion": "v1",
                                  "resourceVersion": meta["resourceVersion"]}
        pv["status"] = {"phase": "Bound"}
        pv["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
        self.cluster.put(PVS, pv)
        pvc = copy.deepcopy(claim)
        pvc["spec"]["volumeName"] = volume["metadata"]["name"]
        pvc["metadata"].setdefault("annotations", {}).update({"pv.kubernetes.io/bind-completed": "yes",
                                                              "pv.kubernetes.io/bound-by-controller": "yes"})
        pvc["status"] = {"phase": "Bound", "accessModes": list(volume["spec"].get("accessModes") or []),
                         "capacity": dict(volume["spec"].get("capacity") or {})}
        self.cluster.put(PVCS, pvc)
        self.reported.pop(meta["uid"], None)

    def _unbound(self, claim: dict) -> None:
        sc_name = (claim.get("spec") or {}).get("storageClassName")
        if not sc_name:
            kind, reason, message = "Normal", "FailedBinding", \
                "no persistent volumes available for this claim and no storage class is set"
        elif self.cluster.store.get(STORAGECLASSES.key, "", sc_name) is None:
            kind, reason, message = "Warning", "ProvisioningFailed", f'storageclass.storage.k8s.io "{sc_name}" not found'
        else:
            sc = self.cluster.store.get(STORAGECLASSES.key, "", sc_name)
            kind, reason = "Normal", "ExternalProvisioning"
            message = (f"waiting for a volume to be created, either by external provisioner "
                       f'"{sc.get("provisioner")}" or manually created by system administrator')
        if self.reported.get(claim["metadata"]["uid"]) != message:
            self.reported[claim["metadata"]["uid"]] = message
            self.cluster.recorder.record(claim, kind, reason, message, "persistentvolume-controller")
