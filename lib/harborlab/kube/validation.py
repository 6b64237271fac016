"""Validation of every write: the Kubernetes JSON schema of the lab's version, plus the semantic
and immutability rules that schemas cannot express (as data tables).

Schemas come from the ``kubernetes-validate`` package; validators are built once per kind and
cached, because building one parses the 5 MB definitions file.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

import jsonschema
import referencing
from kubernetes_validate import utils as kv

from .resources import Resource
from .status import bad_request, cause, invalid

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def schema_version(version: str) -> str:
    """The newest schema set not newer than ``version`` ("v1.25.16" -> "1.25.0")."""
    want = tuple(int(x) for x in version.lstrip("v").split(".")[:2])
    usable = [v for v in kv.all_versions() if tuple(int(x) for x in v.split(".")[:2]) <= want]
    if not usable:
        raise ValueError(f"no Kubernetes schemas for version {version}")
    return usable[-1]


@functools.lru_cache(maxsize=4)
def _definitions(schema_dir: str) -> referencing.Resource:
    contents = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", schema_dir)
    return referencing.Resource.from_contents(contents)


@functools.lru_cache(maxsize=128)
def _validator(schema_dir: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    slug = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{slug}.json",
                                    schema_dir)
    except FileNotFoundError:
        return None
    registry = _definitions(schema_dir) @ (referencing.Resource.from_contents(schema) @ referencing.Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def schema_causes(obj: dict, version: str, strict: bool = False) -> list[dict]:
    """Schema violations of ``obj`` as Status causes (empty when valid)."""
    schema_dir = f"v{schema_version(version)}-local" + ("-strict" if strict else "")
    validator = _validator(schema_dir, obj.get("kind", ""), obj.get("apiVersion", ""))
    if validator is None:
        return []
    causes = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        field = _field(err.absolute_path)
        if err.validator == "required":
            missing = re.search(r"'([^']+)' is a required property", err.message)
            name = missing.group(1) if missing else "?"
            causes.append(cause(f"{field}.{name}" if field else name, "Required value",
                                "FieldValueRequired"))
        elif err.validator == "additionalProperties":
            extra = re.findall(r"'([^']+)'", err.message)
            for name in extra or ["?"]:
                causes.append(cause(f"{field}.{name}" if field else name, "unknown field",
                                    "FieldValueNotSupported"))
        else:
            causes.append(cause(field, f"Invalid value: {_short(err.instance)}: {field or 'body'} "
                                       f"in body {err.message}"))
    return causes[:20]


# --- semantic rules the schemas cannot express -------------------------------------------------

def _name_rule(obj: dict, res: Resource) -> list[dict]:
    name = obj["metadata"].get("name", "")
    pattern = _DNS_LABEL if res.plural in ("namespaces", "services") else _DNS_SUBDOMAIN
    if res.plural == "events" or pattern.match(name) and len(name) <= 253:
        return []
    what = "RFC 1123 label" if pattern is _DNS_LABEL else "RFC 1123 subdomain"
    return [cause("metadata.name", f'Invalid value: "{name}": a lowercase {what} must consist of lower '
                                   "case alphanumeric characters, '-' or '.', and must start and end "
                                   "with an alphanumeric character")]


def _pod_spec_rule(spec: dict | None, prefix: str) -> list[dict]:
    causes = []
    containers = (spec or {}).get("containers") or []
    if not containers:
        causes.append(cause(f"{prefix}.containers", "Required value", "FieldValueRequired"))
    for i, container in enumerate(containers):
        if not container.get("image"):
            causes.append(cause(f"{prefix}.containers[{i}].image", "Required value", "FieldValueRequired"))
    volumes = {v.get("name") for v in (spec or {}).get("volumes") or []}
    for i, container in enumerate(containers):
        for j, mount in enumerate(container.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                causes.append(cause(f"{prefix}.containers[{i}].volumeMounts[{j}].name",
                                    f'Not found: "{mount.get("name")}"', "FieldValueNotFound"))
    return causes


def _selector_rule(obj: dict, res: Resource) -> list[dict]:
    from .selectors import SELECTOR_OPERATORS, from_label_selector, from_map, labels_match
    spec = obj.get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if res.kind == "ReplicationController":
        reqs = from_map(selector or labels)
    elif selector is None:
        return [cause("spec.selector", "Required value", "FieldValueRequired")]
    else:
        bad = [i for i, e in enumerate(selector.get("matchExpressions") or [])
               if e.get("operator") not in SELECTOR_OPERATORS]
        if bad:
            return [cause(f"spec.selector.matchExpressions[{i}].operator",
                          f'Unsupported value: {_short(selector["matchExpressions"][i].get("operator"))}: '
                          'supported values: "DoesNotExist", "Exists", "In", "NotIn"', "FieldValueNotSupported")
                    for i in bad]
        reqs = from_label_selector(selector)
        if not reqs:
            return [cause("spec.selector", "Invalid value: empty selector is invalid for deployment")]
    if not labels_match(reqs, labels):
        return [cause("spec.template.metadata.labels",
                      f"Invalid value: {_short(labels)}: `selector` does not match template `labels`")]
    return []


def _workload_rule(obj: dict, res: Resource) -> list[dict]:
    spec = obj.get("spec") or {}
    return _selector_rule(obj, res) + _pod_spec_rule((spec.get("template") or {}).get("spec"),
                                                     "spec.template.spec")


SEMANTIC_RULES: dict[str, Callable[[dict, Resource], list[dict]]] = {
    "Pod": lambda obj, res: _pod_spec_rule(obj.get("spec"), "spec"),
    "Deployment": _workload_rule,
    "ReplicaSet": _workload_rule,
    "ReplicationController": _workload_rule,
}

# --- immutable fields: kind -> (field path, test "changed?", message) -------------------------

_PV_NON_SOURCE = {"capacity", "accessModes", "claimRef", "persistentVolumeReclaimPolicy",
                  "storageClassName", "mountOptions", "nodeAffinity", "volumeMode",
                  "volumeAttributesClassName"}


def _get(obj: dict, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _pv_source(obj: dict) -> dict:
    return {k: v for k, v in (obj.get("spec") or {}).items() if k not in _PV_NON_SOURCE}


def _pod_spec_mutable_part(obj: dict) -> dict:
    spec = json.loads(json.dumps(obj.get("spec") or {}))
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        container.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "nodeName"):
        spec.pop(key, None)
    return spec


IMMUTABLE: dict[str, list[tuple[str, Callable[[dict, dict], bool], str]]] = {
    "Deployment": [("spec.selector", lambda o, n: _get(o, "spec.selector") != _get(n, "spec.selector"),
                    "field is immutable")],
    "ReplicaSet": [("spec.selector", lambda o, n: _get(o, "spec.selector") != _get(n, "spec.selector"),
                    "field is immutable")],
    "Service": [("spec.clusterIP", lambda o, n: bool(_get(o, "spec.clusterIP"))
                 and _get(n, "spec.clusterIP") not in (None, "", _get(o, "spec.clusterIP")),
                 "field is immutable")],
    "PersistentVolume": [("spec.persistentvolumesource", lambda o, n: _pv_source(o) != _pv_source(n),
                          "Forbidden: spec.persistentvolumesource is immutable after creation")],
    "PersistentVolumeClaim": [("spec", lambda o, n: _get(o, "status.phase") == "Bound" and
                               {k: v for k, v in (o.get("spec") or {}).items() if k != "resources"} !=
                               {k: v for k, v in (n.get("spec") or {}).items() if k != "resources"},
                               "Forbidden: spec is immutable after creation except resources.requests "
                               "for bound claims")],
    "Pod": [("spec", lambda o, n: _pod_spec_mutable_part(o) != _pod_spec_mutable_part(n),
             "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
             "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only "
             "additions to existing tolerations) or `spec.terminationGracePeriodSeconds`")],
    "ConfigMap": [("data", lambda o, n: bool(o.get("immutable")) and
                   (o.get("data"), o.get("binaryData")) != (n.get("data"), n.get("binaryData")),
                   "Forbidden: field is immutable when `immutable` is set")],
    "Secret": [("data", lambda o, n: bool(o.get("immutable")) and o.get("data") != n.get("data"),
                "Forbidden: field is immutable when `immutable` is set")],
}


def check(obj: dict, res: Resource, version: str, old: dict | None = None, strict: bool = False) -> None:
    """Raise 422 Invalid (or 400 for unknown fields under fieldValidation=Strict) when ``obj`` is
    not a valid object of ``res`` for Kubernetes ``version``."""
    causes = schema_causes(obj, version, strict)
    unknown = [c for c in causes if c["reason"] == "FieldValueNotSupported"]
    if unknown:
        raise bad_request("strict decoding error: " +
                          ", ".join(f'unknown field "{c["field"]}"' for c in unknown))
    if not causes:
        rule = SEMANTIC_RULES.get(res.kind)
        causes = _name_rule(obj, res) + (rule(obj, res) if rule else [])
    if not causes and old is not None:
        for path, changed, message in IMMUTABLE.get(res.kind, []):
            if changed(old, obj):
                text = message if message.startswith("Forbidden") else \
                    f"Invalid value: {_short(_get(obj, path))}: {message}"
                causes.append(cause(path, text, "FieldValueForbidden" if text.startswith("Forbidden")
                                    else "FieldValueInvalid"))
    if causes:
        raise invalid(res, obj["metadata"].get("name", ""), causes)


__all__ = ["check", "schema_causes", "schema_version"]
