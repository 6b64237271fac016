"""A workload's containers as the kubelet would set them up: their env and their files.

The lints ask questions like "what is at /etc/registry/config.yml in the registry container?"
or "what is _REDIS_URL in the ui?". The answers come from the pod template and the ConfigMaps
and Secrets among the manifests, resolved the way the kubelet does (``items``, projected
volumes, ``subPath``, ``envFrom`` then ``env``). Nothing here reads a cluster.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

WORKLOAD_KINDS = ("Deployment", "ReplicationController", "ReplicaSet", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class Value:
    """A resolved env value or file: its text (None when its source is not among the manifests)
    and where it comes from ("Secret/harbor-ui-secret:_REDIS_URL", "literal")."""

    text: str | None
    source: str


@dataclass(frozen=True)
class Workload:
    obj: dict

    @property
    def kind(self) -> str:
        return self.obj.get("kind", "")

    @property
    def name(self) -> str:
        return (self.obj.get("metadata") or {}).get("name", "")

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def replicas(self) -> int:
        value = (self.obj.get("spec") or {}).get("replicas", 1)
        return value if isinstance(value, int) else 1

    @property
    def pod_spec(self) -> dict:
        return ((self.obj.get("spec") or {}).get("template") or {}).get("spec") or {}

    def containers(self) -> list[dict]:
        return list(self.pod_spec.get("containers") or [])

    def volume(self, name: str) -> dict | None:
        return next((v for v in self.pod_spec.get("volumes") or [] if v.get("name") == name), None)


def workloads(manifests: Iterable[dict]) -> Iterator[Workload]:
    for obj in manifests:
        if obj.get("kind") in WORKLOAD_KINDS:
            yield Workload(obj)


def repository(image: str) -> str:
    """``registry.local:5000/vmware/harbor-ui:v1.2.0`` -> ``harbor-ui`` (the image's own name)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _lookup(manifests: Iterable[dict], kind: str, name: str | None) -> dict | None:
    return next((o for o in manifests if o.get("kind") == kind
                 and (o.get("metadata") or {}).get("name") == name), None)


def object_data(obj: dict | None) -> dict[str, str] | None:
    """A ConfigMap's or Secret's data as text (Secret values base64-decoded; stringData wins)."""
    if obj is None:
        return None
    if obj.get("kind") == "Secret":
        out: dict[str, str] = {}
        for key, raw in (obj.get("data") or {}).items():
            try:
                out[key] = base64.b64decode(str(raw), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                out[key] = str(raw)  # masked ("***") or binary: keep as is
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
        return out
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


def _source_files(manifests: list[dict], kind: str, name: str | None, items: list | None) -> dict[str, Value]:
    data = object_data(_lookup(manifests, kind, name))
    label = f"{kind}/{name}"
    if items:
        return {item["path"]: Value(None if data is None else data.get(item.get("key")),
                                    f"{label}:{item.get('key')}") for item in items if item.get("path")}
    if data is None:
        return {}  # which keys it has is unknown: the object is not among the manifests
    return {key: Value(text, f"{label}:{key}") for key, text in data.items()}


def volume_files(volume: dict, manifests: list[dict]) -> dict[str, Value] | None:
    """Relative path -> file for ConfigMap/Secret/projected volumes; None for other volume types."""
    if "configMap" in volume:
        src = volume["configMap"]
        return _source_files(manifests, "ConfigMap", src.get("name"), src.get("items"))
    if "secret" in volume:
        src = volume["secret"]
        return _source_files(manifests, "Secret", src.get("secretName"), src.get("items"))
    if "projected" in volume:
        files: dict[str, Value] = {}
        for src in (volume["projected"] or {}).get("sources") or []:
            for kind, key in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if kind in src:
                    files.update(_source_files(manifests, key, src[kind].get("name"), src[kind].get("items")))
        return files
    return None


def mounted_files(workload: Workload, container: dict, manifests: Iterable[dict]) -> dict[str, Value]:
    """Absolute container path -> file, for every ConfigMap/Secret file the container sees."""
    manifests = list(manifests)
    out: dict[str, Value] = {}
    for mount in container.get("volumeMounts") or []:
        volume = workload.volume(mount.get("name", ""))
        files = volume_files(volume, manifests) if volume else None
        if not files:
            continue
        base = mount.get("mountPath", "")
        sub = mount.get("subPath")
        if sub:
            if sub in files:
                out[base] = files[sub]
            continue
        for rel, value in files.items():
            out[posixpath.join(base, rel)] = value
    return out


def mount_for(container: dict, path: str) -> dict | None:
    """The volumeMount whose directory holds ``path`` (the deepest one)."""
    best = None
    for mount in container.get("volumeMounts") or []:
        base = mount.get("mountPath", "").rstrip("/") or "/"
        if path == base or path.startswith(base.rstrip("/") + "/"):
            if best is None or len(base) > len(best.get("mountPath", "")):
                best = mount
    return best


def env_of(container: dict, manifests: Iterable[dict]) -> dict[str, Value]:
    """The container's environment: ``envFrom`` first, then ``env`` entries override."""
    manifests = list(manifests)
    out: dict[str, Value] = {}
    for ref in container.get("envFrom") or []:
        prefix = ref.get("prefix", "")
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if field in ref:
                name = ref[field].get("name")
                for key, text in (object_data(_lookup(manifests, kind, name)) or {}).items():
                    out[prefix + key] = Value(text, f"{kind}/{name}:{key}")
    for entry in container.get("env") or []:
        name = entry.get("name", "")
        if "value" in entry:
            out[name] = Value(str(entry["value"]), "literal")
            continue
        source = entry.get("valueFrom") or {}
        out[name] = Value(None, "fieldRef")  # downward API and the like: not known before a pod runs
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            if field in source:
                ref = source[field]
                data = object_data(_lookup(manifests, kind, ref.get("name")))
                out[name] = Value(None if data is None else data.get(ref.get("key")),
                                  f"{kind}/{ref.get('name')}:{ref.get('key')}")
    return out


def data_of(manifests: Iterable[dict], kind: str, name: str) -> Mapping[str, str] | None:
    return object_data(_lookup(list(manifests), kind, name))


__all__ = ["Value", "Workload", "data_of", "env_of", "mount_for", "mounted_files", "object_data",
           "repository", "volume_files", "workloads"]
