"""A pod's volumes, resolved as the kubelet would mount them, decided here and written elsewhere.

=======================  ==================================================================
volume source            what the container sees (host side in the lab)
=======================  ==================================================================
configMap / secret       one file per key, or per ``items`` entry at its ``path`` (nested
                         paths allowed), mode ``items[].mode`` / ``defaultMode`` / 0644;
                         a missing non-optional object or item key is a FailedMount
projected                the union of its configMap / secret / downwardAPI sources
downwardAPI              one file per item with the pod field's value
emptyDir                 a fresh directory in the pod's directory
hostPath                 ``<state>/podrunner/hostpath/<path>`` (never the machine's own path)
persistentVolumeClaim    the bound PV's backing directory: in-tree ``cephfs.path`` or the
                         ceph-csi static volume's ``volumeAttributes.rootPath`` under the lab's
                         CephFS mount; PV ``hostPath`` / ``local`` as a hostPath above
=======================  ==================================================================

``subPath`` selects a file or directory inside the volume. Everything here is pure: objects come
through ``get(kind, namespace, name)``; writing files is :func:`harborlab.podrunner.podfs.write`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .environment import Getter, field_value, object_data

DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class Backing:
    """Where the lab keeps what volumes point at; every input explicit."""

    cephfs_mount: Path | None   # the lab's ceph-fuse mount of the CephFS root (lab.json)
    hostpath_root: Path         # stands in for "/" of hostPath volumes
    emptydir_root: Path         # the pod's emptyDir parent


@dataclass
class VolumePlan:
    files: dict[str, dict[str, tuple[bytes, int]]] = field(default_factory=dict)  # volume -> rel path -> (data, mode)
    dirs: dict[str, Path] = field(default_factory=dict)        # volume -> existing host directory
    create: dict[str, Path] = field(default_factory=dict)      # volume -> host directory to create
    problems: list[str] = field(default_factory=list)          # FailedMount messages

    def __repr__(self) -> str:  # files hold Secret data
        return (f"VolumePlan(files={ {v: sorted(f) for v, f in self.files.items()} }, dirs={self.dirs!r}, "
                f"create={self.create!r}, problems={self.problems!r})")


def _safe_relative(path: str) -> str | None:
    """A relative item path without ``..`` (the API server refuses those too); None when bad."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return str(pure)


def _raw(obj: dict) -> dict[str, bytes]:
    """Key -> bytes, Secret data and binaryData kept binary (files are written as bytes)."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        out.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        out.update({k: base64.b64decode(v or "") for k, v in (obj.get("data") or {}).items()})
        return out
    out.update({k: base64.b64decode(v or "") for k, v in (obj.get("binaryData") or {}).items()})
    out.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
    return out


def _object_files(kind: str, name: str, items: list | None, optional: bool, default_mode: int,
                  volume: str, namespace: str, get: Getter, out: dict, problems: list[str]) -> None:
    obj = get(kind, namespace, name)
    word = kind.lower()
    if obj is None:
        if not optional:
            problems.append(f'MountVolume.SetUp failed for volume "{volume}" : {word} "{name}" not found')
        return
    data = _raw(obj)
    chosen = items if items else [{"key": k, "path": k} for k in sorted(data)]
    for item in chosen:
        key, path = item.get("key", ""), _safe_relative(item.get("path", ""))
        if path is None:
            problems.append(f'MountVolume.SetUp failed for volume "{volume}" : invalid path {item.get("path")!r}')
            continue
        if key not in data:
            if not optional:
                problems.append(f'MountVolume.SetUp failed for volume "{volume}" : {word} references '
                                f"non-existent {'config' if kind == 'ConfigMap' else 'secret'} key: {key}")
            continue
        out[path] = (data[key], int(item.get("mode", default_mode)))


def _downward_files(pod: dict, items: list, default_mode: int, volume: str, out: dict,
                    problems: list[str]) -> None:
    for item in items or []:
        path = _safe_relative(item.get("path", ""))
        value = field_value(pod, (item.get("fieldRef") or {}).get("fieldPath", ""))
        if path is None or value is None:
            problems.append(f'MountVolume.SetUp failed for volume "{volume}" : unsupported downwardAPI item {item!r}')
            continue
        out[path] = (value.encode(), int(item.get("mode", default_mode)))


def hostpath_dir(backing: Backing, path: str) -> Path:
    """The lab directory standing in for host path ``path``."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", "..")]
    return backing.hostpath_root.joinpath(*parts)


def pv_directory(pv: dict, backing: Backing) -> tuple[Path | None, str | None]:
    """(host directory, problem) of a PersistentVolume's backing store in the lab."""
    spec, name = pv.get("spec") or {}, pv["metadata"]["name"]
    ceph_path = None
    if "cephfs" in spec:
        ceph_path = (spec["cephfs"] or {}).get("path") or "/"
    elif (spec.get("csi") or {}).get("driver") == "cephfs.csi.ceph.com":
        attrs = spec["csi"].get("volumeAttributes") or {}
        ceph_path = attrs.get("rootPath")
        if not ceph_path:
            return None, (f"PV {name}: ceph-csi volume without volumeAttributes.rootPath "
                          "(the lab runs static volumes only)")
    if ceph_path is not None:
        if backing.cephfs_mount is None:
            return None, (f"PV {name}: the lab's CephFS is not mounted (no ceph mountpoint in lab.json); "
                          "run `harborbook lab up`")
        parts = [p for p in PurePosixPath(ceph_path).parts if p not in ("/", "..")]
        return backing.cephfs_mount.joinpath(*parts), None
    for key in ("hostPath", "local"):
        if key in spec:
            return hostpath_dir(backing, (spec[key] or {}).get("path", "/")), None
    return None, f"PV {name}: volume source {sorted(k for k in spec if k not in _PV_FIELDS)} is not backed by the lab"


_PV_FIELDS = {"capacity", "accessModes", "persistentVolumeReclaimPolicy", "storageClassName", "claimRef",
              "mountOptions", "volumeMode", "nodeAffinity"}


def plan_volumes(pod: dict, get: Getter, backing: Backing) -> VolumePlan:
    """What each of ``pod``'s volumes is on the host (see the table in the module docstring)."""
    namespace = pod["metadata"].get("namespace", "default")
    plan = VolumePlan()
    for vol in pod["spec"].get("volumes") or []:
        name = vol.get("name", "")
        if "configMap" in vol or "secret" in vol or "projected" in vol or "downwardAPI" in vol:
            files: dict[str, tuple[bytes, int]] = {}
            if "configMap" in vol:
                src = vol["configMap"] or {}
                _object_files("ConfigMap", src.get("name", ""), src.get("items"), bool(src.get("optional")),
                              int(src.get("defaultMode", DEFAULT_MODE)), name, namespace, get, files, plan.problems)
            elif "secret" in vol:
                src = vol["secret"] or {}
                _object_files("Secret", src.get("secretName", ""), src.get("items"), bool(src.get("optional")),
                              int(src.get("defaultMode", DEFAULT_MODE)), name, namespace, get, files, plan.problems)
            elif "downwardAPI" in vol:
                src = vol["downwardAPI"] or {}
                _downward_files(pod, src.get("items"), int(src.get("defaultMode", DEFAULT_MODE)), name, files,
                                plan.problems)
            else:
                src = vol["projected"] or {}
                mode = int(src.get("defaultMode", DEFAULT_MODE))
                for source in src.get("sources") or []:
                    for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                        if key in source:
                            ref = source[key] or {}
                            _object_files(kind, ref.get("name", ""), ref.get("items"), bool(ref.get("optional")),
                                          mode, name, namespace, get, files, plan.problems)
                    if "downwardAPI" in source:
                        _downward_files(pod, (source["downwardAPI"] or {}).get("items"), mode, name, files,
                                        plan.problems)
                    if "serviceAccountToken" in source:
                        # The kubelet asks the API server for a token bound to the pod (TokenRequest).
                        from harborlab.kube.tokens import pod_token
                        ask = source["serviceAccountToken"] or {}
                        token = pod_token(pod, ask.get("audience"), ask.get("expirationSeconds"))
                        path = _safe_relative(ask.get("path", ""))
                        if token is None or path is None:
                            plan.problems.append(f'MountVolume.SetUp failed for volume "{name}" : failed to fetch '
                                                 f'token: serviceaccounts "{pod["spec"].get("serviceAccountName")}" '
                                                 "not found")
                        else:
                            files[path] = (token.encode(), mode)
            plan.files[name] = files
        elif "emptyDir" in vol:
            plan.create[name] = backing.emptydir_root / name
        elif "hostPath" in vol:
            plan.create[name] = hostpath_dir(backing, (vol["hostPath"] or {}).get("path", "/"))
        elif "persistentVolumeClaim" in vol:
            claim_name = (vol["persistentVolumeClaim"] or {}).get("claimName", "")
            claim = get("PersistentVolumeClaim", namespace, claim_name)
            pv = get("PersistentVolume", "", (claim or {}).get("spec", {}).get("volumeName") or "") if claim else None
            if claim is None or pv is None or (claim.get("status") or {}).get("phase") != "Bound":
                plan.problems.append(f'MountVolume.SetUp failed for volume "{name}" : persistentvolumeclaim '
                                     f'"{claim_name}" is not bound')
                continue
            directory, problem = pv_directory(pv, backing)
            if problem:
                plan.problems.append(f'MountVolume.SetUp failed for volume "{name}" : {problem}')
            elif not directory.is_dir():
                plan.problems.append(f'MountVolume.SetUp failed for volume "{name}" : mount of '
                                     f"{pv['metadata']['name']} failed: {directory}: no such directory")
            else:
                plan.dirs[name] = directory
        else:
            kinds = sorted(k for k in vol if k != "name")
            plan.problems.append(f'MountVolume.SetUp failed for volume "{name}" : volume source {kinds} '
                                 "is not supported by the lab")
    return plan


def mount_table(container: dict, volume_dirs: dict[str, Path]) -> tuple[dict[str, Path], list[str]]:
    """mountPath -> host path for ``container``'s volumeMounts (``subPath`` honoured), and problems."""
    table: dict[str, Path] = {}
    problems: list[str] = []
    for mount in container.get("volumeMounts") or []:
        name, path = mount.get("name", ""), mount.get("mountPath", "")
        if name not in volume_dirs:
            problems.append(f'volumeMount "{name}" at {path} names no volume of the pod')
            continue
        host = volume_dirs[name]
        sub = mount.get("subPath")
        if sub:
            relative = _safe_relative(sub)
            if relative is None:
                problems.append(f"subPath {sub!r} of {path} must be a relative path without '..'")
                continue
            host = host / relative
        table[path] = host
    return table, problems


__all__ = ["Backing", "VolumePlan", "plan_volumes", "mount_table", "pv_directory", "hostpath_dir",
           "object_data"]
