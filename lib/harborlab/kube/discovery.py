"""Discovery documents: /api, /apis, and the resource list of every served group/version."""

from __future__ import annotations

from .resources import RESOURCES, SUBRESOURCE_KINDS, groups

_SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
              "log": ["get"], "proxy": ["create", "delete", "get", "patch", "update"],
              "binding": ["create"], "eviction": ["create"], "token": ["create"], "exec": ["create", "get"], "finalize": ["update"]}


def core_versions(address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def group_list() -> dict:
    out = []
    for name, versions in groups().items():
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        out.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def group(name: str) -> dict | None:
    versions = groups().get(name)
    if not versions:
        return None
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries,
            "preferredVersion": entries[0]}


def resource_list(group_name: str, version: str) -> dict | None:
    served = [r for r in RESOURCES if r.group == group_name and r.version == version]
    if not served:
        return None
    entries = []
    for res in served:
        entries.append({"name": res.plural, "singularName": res.singular, "namespaced": res.namespaced,
                        "kind": res.kind, "verbs": list(res.verbs), "shortNames": list(res.short_names),
                        **({"categories": list(res.categories)} if res.categories else {})})
        for sub in res.subresources:
            entry = {"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced,
                     "kind": res.kind, "verbs": _SUB_VERBS.get(sub, ["get"])}
            if sub in SUBRESOURCE_KINDS:
                api_version, kind = SUBRESOURCE_KINDS[sub]
                entry["kind"] = kind
                if "/" in api_version:
                    entry["group"], entry["version"] = api_version.split("/")
            entries.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group_name}/{version}" if group_name else version, "resources": entries}
