"""CephFS for the registry: the mount, the admin key, the Secret, the PVs and their claims.

Every registry replica must see every blob, so the registry's storage (and the job logs) live
on one ReadWriteMany CephFS volume. The in-tree ``cephfs`` volume plugin was removed in
Kubernetes 1.31; newer clusters mount the same directories as ceph-csi static volumes.
Pure decisions and manifests; 01-cephfs-storage's steps (harborbook.steps.storage) apply them.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path
from typing import Any

from .errors import RunbookError
from .params.models import Storage

Obj = dict[str, Any]
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


# ------------------------------------------------------------------ the admin key
_KEYRING_KEY = re.compile(r"^\s*key\s*=\s*(\S+)\s*$", re.MULTILINE)
_BARE_KEY = re.compile(r"^[A-Za-z0-9+/]{20,}={0,2}$")


def admin_key(storage: Storage) -> str:
    """The Ceph key of storage.user, from a bare key or a keyring file. Never shown."""
    text = storage.admin_key.reveal().strip()
    match = _KEYRING_KEY.search(text)
    key = match.group(1) if match else text
    if not _BARE_KEY.match(key):
        raise RunbookError(f"storage.admin_key ({storage.admin_key.ref}) holds neither a Ceph key nor a keyring",
                           hint="point it at the keyring (ceph.client.admin.keyring) or a file holding the key")
    return key


# ------------------------------------------------------------------ manifests
def secret_manifest(storage: Storage, namespace: str) -> Obj:
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


def pv_manifest(storage: Storage, namespace: str, volume: str) -> Obj:
    path = f"{storage.root}/{volume}"
    size = getattr(storage.volumes, volume)
    spec: Obj = {
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


def pvc_manifest(storage: Storage, namespace: str, volume: str) -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIMS[volume], "namespace": namespace, "labels": {"app": "harbor"}},
            "spec": {"accessModes": ["ReadWriteMany"],
                     # "" keeps a default StorageClass from provisioning a new, empty volume.
                     "storageClassName": "",
                     "selector": {"matchLabels": {"type": volume}},
                     "resources": {"requests": {"storage": getattr(storage.volumes, volume)}}}}


def foreign_claim(pv: Obj | None, namespace: str, volume: str) -> str | None:
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
