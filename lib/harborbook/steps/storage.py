"""Shared storage on CephFS: the directories, the ceph Secret, the PVs and their claims.

Every registry replica must see every blob, so the registry's storage (and the job logs) live
on one ReadWriteMany CephFS volume. The in-tree ``cephfs`` volume plugin was removed in
Kubernetes 1.31; newer clusters mount the same directories as ceph-csi static volumes.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path

import pandas as pd

from ..errors import RunbookError
from ..runbook import Status, StepResult

CEPH_FSTYPES = {"ceph", "fuse.ceph-fuse"}
VOLUMES = ("log", "registry")  # the PV label `type` and the directory name under storage.root
CLAIMS = {"log": "log-pvc", "registry": "registry-pvc"}
SECRET_NAME = "ceph-secret"
CSI_REMOVED_IN = (1, 31)  # in-tree cephfs removed


# ------------------------------------------------------------------ the mount
def mount_of(path: Path, mountinfo: str | None = None) -> tuple[str, str] | None:
    """(mount point, fstype) of the filesystem holding ``path``, from /proc/self/mountinfo."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    target = os.path.realpath(path)
    best: tuple[str, str] | None = None
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        fstype = right.split()[0]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)
    return best


def check_cephfs_mount(mount: Path, mountinfo: str | None = None) -> tuple[bool, str]:
    """Whether ``mount`` is the root of a mounted CephFS (kernel or ceph-fuse)."""
    if not Path(mount).is_dir():
        return False, f"{mount} does not exist"
    found = mount_of(mount, mountinfo)
    if found is None:
        return False, f"{mount} is on no mounted filesystem"
    point, fstype = found
    if fstype not in CEPH_FSTYPES:
        return False, f"{mount} is on {point} ({fstype}), not CephFS"
    if os.path.realpath(point) != os.path.realpath(mount):
        return False, f"{mount} is below the CephFS mount {point}; point storage.mount at the mount itself"
    return True, f"{mount} is CephFS ({fstype})"


def require_cephfs(mount: Path) -> None:
    ok, detail = check_cephfs_mount(mount)
    if not ok:
        raise RunbookError(
            f"CephFS is not mounted: {detail}",
            hint="mount the CephFS root there (mount -t ceph or ceph-fuse) and check storage.mount; "
                 "nothing was written, so the local directory under the mount point stays clean",
            see="00-preflight",
        )


# ------------------------------------------------------------------ the admin key
_KEYRING_KEY = re.compile(r"^\s*key\s*=\s*(\S+)\s*$", re.MULTILINE)
_BARE_KEY = re.compile(r"^[A-Za-z0-9+/]{20,}={0,2}$")


def admin_key(storage) -> str:
    """The Ceph key of storage.user, from a bare key or a keyring file. Never shown."""
    text = storage.admin_key.reveal().strip()
    match = _KEYRING_KEY.search(text)
    key = match.group(1) if match else text
    if not _BARE_KEY.match(key):
        raise RunbookError(f"storage.admin_key ({storage.admin_key.ref}) holds neither a Ceph key nor a keyring",
                           hint="point it at the keyring (ceph.client.admin.keyring) or a file holding the key")
    return key


# ------------------------------------------------------------------ directories
def ensure_directories(storage, dry_run: bool) -> StepResult:
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
        changed |= action not in ("unchanged",)
        rows.append({"directory": f"{storage.root}/{name}", "owner": f"{storage.owner_uid}:{storage.owner_gid}",
                     "action": action})
    status = Status.CHANGED if changed and not dry_run else Status.UNCHANGED if not changed else Status.SKIPPED
    return StepResult("cephfs directories", status,
                      f"{len(rows)} directories under {storage.root} on CephFS", table=pd.DataFrame(rows))


# ------------------------------------------------------------------ manifests
def secret_manifest(storage, namespace: str) -> dict:
    """The Secret the volumes authenticate with: `key` (in-tree), `userID`/`userKey` (ceph-csi)."""
    key = admin_key(storage)
    data = {"key": key} if storage.backend == "cephfs" else {"userID": storage.user, "userKey": key}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": {"app": "harbor"}},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def pv_manifest(storage, namespace: str, volume: str) -> dict:
    path = f"{storage.root}/{volume}"
    size = getattr(storage.volumes, volume)
    spec: dict = {
        "capacity": {"storage": size},
        "accessModes": ["ReadWriteMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
    }
    if storage.backend == "cephfs":
        spec["cephfs"] = {"monitors": list(storage.monitors), "path": path, "user": storage.user,
                          "secretRef": {"name": SECRET_NAME, "namespace": namespace}, "readOnly": False}
    else:
        spec["csi"] = {
            "driver": storage.csi.driver,
            # Static volumes: the handle only has to be unique per PV and stable across runs.
            "volumeHandle": f"harbor-{namespace}-{volume}",
            "nodeStageSecretRef": {"name": SECRET_NAME, "namespace": namespace},
            "volumeAttributes": {"clusterID": storage.csi.cluster_id, "fsName": storage.csi.fs_name,
                                 "staticVolume": "true", "rootPath": path},
        }
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"harbor-{namespace}-{volume}", "labels": {"type": volume, "app": "harbor"}},
            "spec": spec}


def pvc_manifest(storage, namespace: str, volume: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIMS[volume], "namespace": namespace, "labels": {"app": "harbor"}},
            "spec": {"accessModes": ["ReadWriteMany"],
                     # "" keeps a default StorageClass from provisioning a new, empty volume.
                     "storageClassName": "",
                     "selector": {"matchLabels": {"type": volume}},
                     "resources": {"requests": {"storage": getattr(storage.volumes, volume)}}}}


def foreign_claim(pv: dict | None, namespace: str, volume: str) -> str | None:
    """The claim (ns/name) a live PV is bound to when it is not ours; None otherwise."""
    if not pv:
        return None
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if not ref.get("name"):
        return None
    if (ref.get("namespace"), ref.get("name")) == (namespace, CLAIMS[volume]):
        return None
    return f"{ref.get('namespace')}/{ref.get('name')}"


def backend_fits(backend: str, version: tuple[int, int], csi_driver_present: bool) -> tuple[str, str, str | None]:
    """(status, detail, hint) of the storage backend against the cluster version."""
    shown = f"{version[0]}.{version[1]}"
    if backend == "cephfs":
        if version >= CSI_REMOVED_IN:
            return ("failed", f"in-tree cephfs volumes were removed in Kubernetes 1.31; this cluster is {shown}",
                    "set storage.backend: cephfs-csi (and install ceph-csi)")
        if version >= (1, 28):
            return ("warning", f"in-tree cephfs is deprecated on {shown} and removed in 1.31",
                    "plan the move to storage.backend: cephfs-csi")
        return ("ok", f"in-tree cephfs volumes are served by Kubernetes {shown}", None)
    if not csi_driver_present:
        return ("failed", "the CSIDriver cephfs.csi.ceph.com is not installed",
                "install ceph-csi's CephFS driver, or use storage.backend: cephfs on clusters older than 1.31")
    return ("ok", f"ceph-csi (cephfs.csi.ceph.com) is installed on Kubernetes {shown}", None)


def new_marker() -> str:
    return f".harborbook-write-test-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ steps of 01
def _applied_status(actions: list[str], dry_run: bool) -> Status:
    if all(a == "unchanged" for a in actions):
        return Status.UNCHANGED
    return Status.SKIPPED if dry_run else Status.CHANGED


def ensure_namespace(kube, namespace: str, dry_run: bool) -> StepResult:
    applied = kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, dry_run=dry_run)
    return StepResult("namespace", _applied_status([applied.action], dry_run), f"namespace {namespace}: {applied.action}")


def apply_ceph_secret(kube, storage, namespace: str, dry_run: bool) -> StepResult:
    applied = kube.apply(secret_manifest(storage, namespace), dry_run=dry_run)
    keys = "key" if storage.backend == "cephfs" else "userID, userKey"
    return StepResult("ceph secret", _applied_status([applied.action], dry_run),
                      f"Secret {SECRET_NAME} ({keys}, value not shown): {applied.action}")


def apply_volumes(kube, storage, namespace: str, dry_run: bool) -> StepResult:
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


def wait_bound(kube, storage, namespace: str, timeout: float, dry_run: bool) -> StepResult:
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


def volume_table(kube, storage, namespace: str, claims: dict[str, dict]) -> pd.DataFrame:
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
