"""``/openapi/v2`` and ``/openapi/v3``: the served operations, as the apiserver publishes them.

What clients read from these documents is the operations: kubectl looks for a PATCH operation
carrying ``x-kubernetes-group-version-kind`` of the object it sends and checks whether it lists the
``fieldValidation`` query parameter; when it does, kubectl leaves validation to the server (which
validates against the profile's schemas, see validation.py). So every served resource gets its
collection and item paths with the apiserver's operation ids, actions, parameters and GVK
extension. The definitions are the profile version's real ones: the JSON schemas the emulator
validates with (kubernetes-validate's, converted from the apiserver's OpenAPI) turned back into
OpenAPI — ``$ref`` targets renamed, ``[T, "null"]`` types made ``T``, IntOrString and Quantity
given their OpenAPI formats — keeping the ``x-kubernetes-patch-*`` markers kubectl's strategic
merge patch reads.

v3 is split per group/version like the apiserver's: ``/openapi/v3`` lists
``{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json

from kubernetes_validate import utils as kv

from .profiles import Profile
from .resources import RESOURCES, Resource

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _camel(res: Resource) -> str:
    group = "".join(p.capitalize() for p in res.group.split(".")[0].split("-")) if res.group else "Core"
    return f"{group}{res.version.capitalize()}"


_FORMATS = {"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
            "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity"}


def _to_openapi(node, ref_prefix: str):
    """One JSON-schema node back to OpenAPI (v2 and v3 share this subset)."""
    if isinstance(node, list):
        return [_to_openapi(n, ref_prefix) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            out[key] = next(t for t in value if t != "null")
        elif key == "oneOf":
            continue                        # only the IntOrString/Quantity/JSONSchemaProps unions
        elif key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = {k: _to_openapi(v, ref_prefix) for k, v in value.items()}
        else:
            out[key] = _to_openapi(value, ref_prefix)
    return out


@functools.lru_cache(maxsize=4)
def definitions(version: str, ref_prefix: str) -> dict:
    """name -> OpenAPI schema for the profile's version (the schema set validation uses)."""
    from .validation import schema_version

    schema_dir = f"v{schema_version(version)}-local"
    contents = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", schema_dir)
    out = {}
    for name, schema in contents["$defs"].items():
        converted = _to_openapi(schema, ref_prefix)
        if name in _FORMATS:
            converted = {"description": schema.get("description", ""), "type": "string", "format": _FORMATS[name]}
        for prop in ("apiVersion", "kind"):     # the converter pinned these with an enum
            if isinstance((converted.get("properties") or {}).get(prop), dict):
                converted["properties"][prop].pop("enum", None)
        out[name] = converted
    return out


def _reachable(defs: dict, roots: list[str]) -> dict:
    seen: dict = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen[name] = defs[name]
        text = json.dumps(defs[name])
        for part in text.split('"$ref": "')[1:]:
            todo.append(part.split('"', 1)[0].rsplit("/", 1)[-1])
    return dict(sorted(seen.items()))


_PACKAGES = {"apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
             "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration"}


def _definition_name(res: Resource) -> str:
    """The OpenAPI definition name: io.k8s.api.<first label of the group>.<version>.<Kind>."""
    from .resources import BUILTIN_KEYS
    if res.key not in BUILTIN_KEYS:          # a custom resource: its group reversed, as the apiserver names it
        return f"{'.'.join(reversed(res.group.split('.')))}.{res.version}.{res.kind}"
    package = _PACKAGES.get(res.group) or f"io.k8s.api.{res.group.split('.')[0] if res.group else 'core'}"
    return f"{package}.{res.version}.{res.kind}"


def _gvk(res: Resource) -> dict:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _base(res: Resource) -> str:
    return f"/api/{res.version}" if not res.group else f"/apis/{res.group}/{res.version}"


def _operations(res: Resource) -> dict[str, dict[str, tuple[str, str, tuple[str, ...]]]]:
    """path -> method -> (operationId, x-kubernetes-action, query parameters)."""
    scope = "Namespaced" if res.namespaced else ""
    name = f"{_camel(res)}{scope}{res.kind}"
    collection = _base(res) + ("/namespaces/{namespace}/" if res.namespaced else "/") + res.plural
    item = collection + "/{name}"
    ops: dict[str, dict] = {collection: {}, item: {}}
    verbs = set(res.verbs)
    if "list" in verbs:
        ops[collection]["get"] = (f"list{name}", "list", ("labelSelector", "fieldSelector", "limit",
                                                          "continue", "resourceVersion", "timeoutSeconds",
                                                          "watch", "allowWatchBookmarks"))
    if "create" in verbs:
        ops[collection]["post"] = (f"create{name}", "post", _WRITE_PARAMS)
    if "deletecollection" in verbs:
        ops[collection]["delete"] = (f"deleteCollection{name}", "deletecollection",
                                     ("labelSelector", "fieldSelector", "dryRun", "gracePeriodSeconds",
                                      "propagationPolicy"))
    if "get" in verbs:
        ops[item]["get"] = (f"read{name}", "get", ())
    if "update" in verbs:
        ops[item]["put"] = (f"replace{name}", "put", _WRITE_PARAMS)
    if "patch" in verbs:
        ops[item]["patch"] = (f"patch{name}", "patch", _WRITE_PARAMS + ("force",))
    if "delete" in verbs:
        ops[item]["delete"] = (f"delete{name}", "delete", ("dryRun", "gracePeriodSeconds", "propagationPolicy"))
    if "create" in verbs and len(res.verbs) == 1:      # the reviews: create only
        ops.pop(item)
    return {path: methods for path, methods in ops.items() if methods}


def _query_param(name: str) -> dict:
    kind = {"limit": "integer", "timeoutSeconds": "integer", "gracePeriodSeconds": "integer",
            "watch": "boolean", "allowWatchBookmarks": "boolean", "force": "boolean"}.get(name, "string")
    return {"name": name, "in": "query", "uniqueItems": True, "type": kind}


def _path_params(path: str) -> list[dict]:
    out = []
    for name in ("name", "namespace"):
        if "{" + name + "}" in path:
            out.append({"name": name, "in": "path", "required": True, "uniqueItems": True, "type": "string"})
    return out


def v2(profile: Profile) -> dict:
    paths: dict = {}
    defs = copy.deepcopy(definitions(profile.version, "#/definitions/"))
    for res in RESOURCES:
        ref = {"$ref": f"#/definitions/{_definition_name(res)}"}
        defs.setdefault(_definition_name(res), {"type": "object", "x-kubernetes-group-version-kind": [_gvk(res)]})
        for path, methods in _operations(res).items():
            entry: dict = {"parameters": _path_params(path)}
            for method, (op_id, action, params) in methods.items():
                op = {"operationId": op_id, "consumes": ["*/*"] if method != "patch" else list(_PATCH_TYPES),
                      "produces": ["application/json", "application/yaml"], "schemes": ["https"],
                      "tags": [_camel(res)[0].lower() + _camel(res)[1:]],
                      "parameters": [_query_param(p) for p in params],
                      "responses": {"200": {"description": "OK", "schema": ref},
                                    "401": {"description": "Unauthorized"}},
                      "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(res)}
                if method in ("post", "put", "patch"):
                    op["parameters"].insert(0, {"name": "body", "in": "body", "required": True,
                                                "schema": ref if method != "patch" else {"type": "object"}})
                entry[method] = op
            paths[path] = entry
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": profile.version},
            "paths": paths, "definitions": defs}


def _group_versions() -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.group, r.version) for r in RESOURCES))


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def v3_document(profile: Profile, group: str, version: str) -> dict | None:
    served = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
    if not served:
        return None
    paths: dict = {}
    defs = definitions(profile.version, "#/components/schemas/")
    schemas = copy.deepcopy(_reachable(defs, [_definition_name(r) for r in served]
                                       + ["io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                                          "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]))
    for res in served:
        ref = {"$ref": f"#/components/schemas/{_definition_name(res)}"}
        schemas.setdefault(_definition_name(res), {"type": "object", "x-kubernetes-group-version-kind": [_gvk(res)]})
        for path, methods in _operations(res).items():
            entry: dict = {"parameters": [{"name": p["name"], "in": "path", "required": True,
                                           "schema": {"type": "string", "uniqueItems": True}}
                                          for p in _path_params(path)]}
            for method, (op_id, action, params) in methods.items():
                op: dict = {"operationId": op_id, "tags": [_camel(res)[0].lower() + _camel(res)[1:]],
                            "parameters": [{"name": p, "in": "query",
                                            "schema": {"type": _query_param(p)["type"], "uniqueItems": True}}
                                           for p in params],
                            "responses": {"200": {"description": "OK", "content": {
                                "application/json": {"schema": ref}}}},
                            "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(res)}
                if method == "patch":
                    op["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES},
                                         "required": True}
                elif method in ("post", "put"):
                    op["requestBody"] = {"content": {"*/*": {"schema": ref}}, "required": True}
                entry[method] = op
            paths[path] = entry
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": profile.version},
            "paths": paths, "components": {"schemas": schemas}}


def v3_root(profile: Profile) -> dict:
    paths = {}
    for group, version in _group_versions():
        doc = json.dumps(v3_document(profile, group, version), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:128].upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}


def v3_for_path(profile: Profile, rest: str) -> dict | None:
    """``rest`` is what follows /openapi/v3/: ``api/v1`` or ``apis/GROUP/VERSION``."""
    parts = [p for p in rest.split("/") if p]
    if parts[:1] == ["api"] and len(parts) == 2:
        return v3_document(profile, "", parts[1])
    if parts[:1] == ["apis"] and len(parts) == 3:
        return v3_document(profile, parts[1], parts[2])
    return None
