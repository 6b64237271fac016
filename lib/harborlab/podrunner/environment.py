"""A container's environment, resolved from its pod spec exactly as the kubelet does.

Order and rules (kubelet ``makeEnvironmentVariables``):

1. ``envFrom`` sources in order (later ones win), each key optionally prefixed; keys that are not
   valid variable names are skipped (the kubelet reports them in an event, so do we).
2. ``env`` entries in order, overriding ``envFrom``; ``value`` strings expand ``$(NAME)`` from
   what is defined so far (``$$`` escapes a ``$``, unknown references stay as written);
   ``valueFrom`` reads a ConfigMap/Secret key or a pod field.
3. A missing non-optional ConfigMap/Secret or key is ``CreateContainerConfigError`` with the
   kubelet's message; the container does not start.

Pure: objects come through ``get(kind, namespace, name)``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

Getter = Callable[[str, str, str], "dict | None"]  # ("ConfigMap"|"Secret"|..., namespace, name)

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


@dataclass
class EnvResult:
    env: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)       # CreateContainerConfigError messages
    skipped: list[str] = field(default_factory=list)      # invalid names from envFrom

    def __repr__(self) -> str:  # values are secrets as often as not
        return f"EnvResult(env=<{len(self.env)} variables>, errors={self.errors!r}, skipped={self.skipped!r})"


def object_data(obj: dict) -> dict[str, str]:
    """A ConfigMap's or Secret's keys as text (Secret data and ConfigMap binaryData decoded)."""
    out: dict[str, str] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = str(value)
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value or "").decode("utf-8", errors="replace")
        return out
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value or "").decode("utf-8", errors="replace")
    out.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
    return out


def expand(text: str, defined: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names replaced, ``$$`` -> ``$``, others kept."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return defined[name] if name in defined else match.group(0)
    return _REFERENCE.sub(one, text)


def field_value(pod: dict, path: str) -> str | None:
    """A ``fieldRef.fieldPath`` of the pod (the paths the downward API supports)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return simple[path] or ""
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    return None


def _key_ref(kind: str, ref: dict, namespace: str, get: Getter) -> tuple[str | None, str | None]:
    """(value, error) of a configMapKeyRef/secretKeyRef; (None, None) when optional and absent."""
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    obj = get(kind, namespace, name)
    word = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        return (None, None) if optional else (None, f'{word} "{name}" not found')
    data = object_data(obj)
    if key not in data:
        return (None, None) if optional else (None, f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key], None


def container_env(pod: dict, container: dict, get: Getter) -> EnvResult:
    """The environment of ``container`` in ``pod`` (see the module docstring for the rules)."""
    namespace = pod["metadata"].get("namespace", "default")
    result = EnvResult()
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if ref is None:
                continue
            obj = get(kind, namespace, ref.get("name", ""))
            if obj is None:
                if not ref.get("optional"):
                    word = "configmap" if kind == "ConfigMap" else "secret"
                    result.errors.append(f'{word} "{ref.get("name", "")}" not found')
                continue
            for key, value in object_data(obj).items():
                name = prefix + key
                if _ENV_NAME.match(name):
                    result.env[name] = value
                else:
                    result.skipped.append(name)
    for entry in container.get("env") or []:
        name = entry.get("name", "")
        if "valueFrom" not in entry:
            result.env[name] = expand(str(entry.get("value", "")), result.env)
            continue
        source = entry["valueFrom"] or {}
        value, error = None, None
        if "configMapKeyRef" in source:
            value, error = _key_ref("ConfigMap", source["configMapKeyRef"], namespace, get)
        elif "secretKeyRef" in source:
            value, error = _key_ref("Secret", source["secretKeyRef"], namespace, get)
        elif "fieldRef" in source:
            path = (source["fieldRef"] or {}).get("fieldPath", "")
            value = field_value(pod, path)
            if value is None:
                error = f"unsupported fieldPath: {path}"
        else:
            error = f"env {name}: valueFrom {sorted(source)} is not supported by the lab"
        if error:
            result.errors.append(error)
        elif value is not None:
            result.env[name] = value
    return result
