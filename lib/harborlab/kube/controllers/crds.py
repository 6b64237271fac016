"""CustomResourceDefinitions: a CRD makes its resource served — discovery, OpenAPI operations,
CRUD, watch, the status/scale subresources it declares, validation against the version's
``openAPIV3Schema`` — as the apiextensions-apiserver does; the CRD reports NamesAccepted and
Established. Deleting the CRD deletes its objects and stops serving the resource.

The lab's stand-in for the article era's operator (rbac.ARTICLE_OPERATOR) gets the new group's
rights, as that operator would have had over what it installed.
"""

from __future__ import annotations

import copy

import jsonschema

from ..cluster import Cluster
from ..resources import INDEX, Resource, by_key, register, unregister_path
from ..status import cause, invalid
from .common import set_condition

CRDS = by_key("apiextensions.k8s.io/customresourcedefinitions")


def _resources(crd: dict) -> list[tuple[Resource, dict]]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served") or not names.get("plural") or not names.get("kind"):
            continue
        subresources = tuple(s for s in ("status", "scale") if s in (version.get("subresources") or {}))
        res = Resource(spec.get("group", ""), version.get("name", ""), names["plural"], names["kind"],
                       spec.get("scope") == "Namespaced", tuple(names.get("shortNames") or ()), subresources,
                       categories=tuple(names.get("categories") or ()))
        out.append((res, (version.get("schema") or {}).get("openAPIV3Schema") or {}))
    return out


def _validator(schema: dict):
    # OpenAPI v3 structural schemas are close enough to JSON Schema draft 4 for what CRDs use.
    cleaned = copy.deepcopy(schema)

    def strip(node):
        if isinstance(node, dict):
            for key in [k for k in node if k.startswith("x-kubernetes-") or k == "nullable"]:
                node.pop(key)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)
    strip(cleaned)
    for meta in ("apiVersion", "kind", "metadata"):
        cleaned.get("properties", {}).pop(meta, None)
    return jsonschema.Draft4Validator(cleaned)


class CRDController:
    name = "customresourcedefinitions"
    watches = frozenset({CRDS.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.served: dict[tuple[str, str, str], Resource] = {}
        self.schemas: dict[tuple[str, str], object] = {}     # (apiVersion, kind) -> validator

    def sync(self, now: float) -> float | None:
        wanted: dict[tuple[str, str, str], Resource] = {}
        for crd in self.cluster.store.list(CRDS.key):
            for res, schema in _resources(crd):
                wanted[(res.group, res.version, res.plural)] = res
                self.schemas[(res.group_version, res.kind)] = _validator(schema) if schema else None
                self._admit(res.kind)
            self._report(crd)
        for path, res in list(self.served.items()):
            if path not in wanted:
                unregister_path(*path)
                if not any(r.key == res.key for r in wanted.values()):
                    for key in self.cluster.store.keys(res.key):
                        self.cluster.store.delete(res.key, *key)
                del self.served[path]
        for path, res in wanted.items():
            if self.served.get(path) != res:
                register(res)
                self.served[path] = res
                self._grant(res.group)
        return None

    def _admit(self, kind: str) -> None:
        hooks = self.cluster.admission.setdefault(kind, [])
        if self._validate not in hooks:
            hooks.append(self._validate)

    def _validate(self, cluster: Cluster, old: dict | None, obj: dict, dry_run: bool) -> None:
        validator = self.schemas.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if validator is None:
            return
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            res = INDEX.by_kind.get((obj["apiVersion"], obj["kind"]))
            causes = [cause(".".join(map(str, e.absolute_path)) or "<root>", f"Invalid value: {e.message}")
                      for e in errors]
            raise invalid(res, obj["metadata"].get("name", ""), causes)

    def _report(self, crd: dict) -> None:
        names = copy.deepcopy((crd.get("spec") or {}).get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        now = self.cluster.now()
        conditions = (crd.get("status") or {}).get("conditions") or []
        conditions = set_condition(conditions, "NamesAccepted", "True", "NoConflicts", "no conflicts found", now)
        conditions = set_condition(conditions, "Established", "True", "InitialNamesAccepted",
                                   "the initial names have been accepted", now)
        stored = [v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("storage")]
        status = {"conditions": conditions, "acceptedNames": names, "storedVersions": stored}
        if status != crd.get("status"):
            self.cluster.put(CRDS, {**copy.deepcopy(crd), "status": status})

    def _grant(self, group: str) -> None:
        from ..rbac import ARTICLE_OPERATOR, CLUSTERROLES
        role = self.cluster.store.get(CLUSTERROLES.key, "", ARTICLE_OPERATOR)
        if role is None or any(r.get("apiGroups") == [group] for r in role.get("rules") or []):
            return
        rules = copy.deepcopy(role.get("rules") or [])
        rules.append({"verbs": ["*"], "apiGroups": [group], "resources": ["*"]})
        self.cluster.put(CLUSTERROLES, {**copy.deepcopy(role), "rules": rules})
