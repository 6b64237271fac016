"""01-cephfs-storage's steps: the directories on CephFS, the namespace, the Secret, the volumes.

The decisions and manifests are :mod:`harborbook.cephfs`'s; these steps apply them and say
what changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..cephfs import (CLAIMS, SECRET_NAME, VOLUMES, check_cephfs_mount, foreign_claim, pv_manifest, pvc_manifest,
                      secret_manifest)
from ..checks import status_for
from ..errors import RunbookError
from ..kube import Kube
from ..params.models import Storage
from ..runbook import Status, StepResult


def require_cephfs(mount: Path) -> None:
    """Refuse to go on unless ``mount`` is a mounted CephFS root."""
    ok, detail = check_cephfs_mount(mount)
    if not ok:
        raise RunbookError(
            f"CephFS is not mounted: {detail}",
            hint="mount the CephFS root there (mount -t ceph or ceph-fuse) and check storage.mount; "
                 "nothing was written, so the local directory under the mount point stays clean",
            see="00-preflight",
        )


# ------------------------------------------------------------------ directories
def ensure_directories(storage: Storage, dry_run: bool) -> StepResult[None]:
    """Create <root>/log and <root>/registry on CephFS, owned by the components' uid."""
    require_cephfs(storage.mount)
    rows, changed = [], False
    for name in VOLUMES:
        path = Path(storage.mount) / storage.root.lstrip("/") / name
        existed = path.is_dir()
        action = "unchanged"
        if not existed:
            action = "would create" if dry_run else "created"
            if not dry_run:
                path.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            st = path.stat()
            if (st.st_uid, st.st_gid) != (storage.owner_uid, storage.owner_gid):
                action = action if action != "unchanged" else ("would chown" if dry_run else "chowned")
                if not dry_run:
                    os.chown(path, storage.owner_uid, storage.owner_gid)
        changed |= action != "unchanged"
        rows.append({"directory": f"{storage.root}/{name}", "owner": f"{storage.owner_uid}:{storage.owner_gid}",
                     "action": action})
    return StepResult("cephfs directories", status_for(changed, dry_run),
                      f"{len(rows)} directories under {storage.root} on CephFS", table=pd.DataFrame(rows))


# ------------------------------------------------------------------ steps of 01
def _applied_status(actions: list[str], dry_run: bool) -> Status:
    return status_for(any(a != "unchanged" for a in actions), dry_run)


def ensure_namespace(kube: Kube, namespace: str, dry_run: bool) -> StepResult[None]:
    applied = kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, dry_run=dry_run)
    return StepResult("namespace", _applied_status([applied.action], dry_run), f"namespace {namespace}: {applied.action}")


def apply_ceph_secret(kube: Kube, storage: Storage, namespace: str, dry_run: bool) -> StepResult[None]:
    applied = kube.apply(secret_manifest(storage, namespace), dry_run=dry_run)
    keys = "key" if storage.backend == "cephfs" else "userID, userKey"
    return StepResult("ceph secret", _applied_status([applied.action], dry_run),
                      f"Secret {SECRET_NAME} ({keys}, value not shown): {applied.action}")


def apply_volumes(kube: Kube, storage: Storage, namespace: str, dry_run: bool) -> StepResult[None]:
    """PVs then PVCs; refuse to touch a PV bound to somebody else's claim."""
    rows, actions = [], []
    for volume in VOLUMES:
        pv = pv_manifest(storage, namespace, volume)
        live = kube.get("v1", "PersistentVolume", pv["metadata"]["name"])
        other = foreign_claim(live, namespace, volume)
        if other:
            raise RunbookError(f"PersistentVolume {pv['metadata']['name']} is bound to another claim ({other})",
                               hint="harborbook does not take a volume from another claim: release it, or "
                                    "deploy into that claim's namespace")
        applied = kube.apply(pv, dry_run=dry_run)
        actions.append(applied.action)
        rows.append({"object": f"PersistentVolume/{applied.name}", "action": applied.action})
    for volume in VOLUMES:
        applied = kube.apply(pvc_manifest(storage, namespace, volume), dry_run=dry_run)
        actions.append(applied.action)
        rows.append({"object": f"PersistentVolumeClaim/{applied.name}", "action": applied.action})
    changed = sum(1 for a in actions if a != "unchanged")
    return StepResult("volumes", _applied_status(actions, dry_run),
                      f"{len(actions)} objects, {changed} {'to change' if dry_run else 'changed'}",
                      table=pd.DataFrame(rows))


def wait_bound(kube: Kube, storage: Storage, namespace: str, *, timeout: float, dry_run: bool) -> StepResult[None]:
    """Wait (watching, not polling) until both claims are Bound; show the PV/PVC table."""
    if dry_run:
        return StepResult("bound", Status.SKIPPED, "dry run: nothing was applied, nothing to wait for")
    wanted = set(CLAIMS.values())
    try:
        claims = kube.wait_for("v1", "PersistentVolumeClaim", namespace,
                               lambda objs: all(objs.get(n, {}).get("status", {}).get("phase") == "Bound" for n in wanted),
                               timeout=timeout)
    except TimeoutError:
        phases = {c["metadata"]["name"]: c.get("status", {}).get("phase")
                  for c in kube.list("v1", "PersistentVolumeClaim", namespace)}
        raise RunbookError(f"claims not Bound after {timeout:.0f}s: {phases}",
                           hint="a claim binds a volume with the same `type` label, access mode ReadWriteMany, "
                                "storageClassName \"\" and enough capacity; check `kubectl describe pvc`") from None
    return StepResult("bound", Status.OK, "log-pvc and registry-pvc are Bound", table=volume_table(kube, storage, namespace, claims))


def volume_table(kube: Kube, storage: Storage, namespace: str, claims: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for volume in VOLUMES:
        claim = claims.get(CLAIMS[volume], {})
        pv_name = claim.get("spec", {}).get("volumeName") or ""
        pv = kube.get("v1", "PersistentVolume", pv_name) if pv_name else None
        spec = (pv or {}).get("spec", {})
        source = "cephfs" if "cephfs" in spec else ("csi:" + spec["csi"]["driver"]) if "csi" in spec else "?"
        path = spec.get("cephfs", {}).get("path") or spec.get("csi", {}).get("volumeAttributes", {}).get("rootPath")
        rows.append({"claim": CLAIMS[volume], "status": claim.get("status", {}).get("phase"), "volume": pv_name,
                     "capacity": spec.get("capacity", {}).get("storage"),
                     "access": ",".join(spec.get("accessModes", [])), "reclaim": spec.get("persistentVolumeReclaimPolicy"),
                     "source": source, "path": path})
    return pd.DataFrame(rows)
