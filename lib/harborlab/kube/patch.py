"""Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch for the
common list keys, and server-side apply as create-or-update with field ownership.

Pure functions over plain dicts; they never mutate their inputs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .status import ApiError, bad_request

# Strategic merge: list field name -> merge key. Lists not named here are replaced whole, as
# lists without a patchMergeKey are in the real API. "ports" depends on where it is.
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "imagePullSecrets": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "conditions": "type", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "ownerReferences": "uid", "addresses": "ip",
    "taints": "key", "images": "names", "containerStatuses": "name",
}
# Primitive lists whose strategy is "merge" (a set union) rather than replace.
MERGE_PRIMITIVE = {"finalizers"}


def merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


# --- JSON merge patch ----------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- strategic merge patch -----------------------------------------------------------------------

def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list):
        return _merge_list(target if isinstance(target, list) else [], patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [v for v in out.get(name) or [] if v not in (value or [])]
            continue
        if value is None:
            out.pop(key, None)
        else:
            merged = strategic_merge(out.get(key), value, key)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    return out


def _merge_list(target: list, patch: list, field: str) -> list:
    if field in MERGE_PRIMITIVE:
        return list(target) + [v for v in patch if v not in target]
    key = merge_key(field, patch + target)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy({k: v for k, v in i.items() if k != "$patch"}) for i in patch]
        idx = next((n for n, cur in enumerate(out) if isinstance(cur, dict) and
                    cur.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


# --- JSON patch ----------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur, parts[-1]


def json_patch(target: dict, ops: Any) -> dict:
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                           f"request: {type(exc).__name__} applying {json.dumps(op)[:200]}")
    return doc


def _apply_op(doc: Any, op: dict) -> Any:
    kind, parts = op["op"], _pointer(op["path"])
    if kind in ("move", "copy"):
        src_parent, src_key = _parent(doc, _pointer(op["from"]))
        value = copy.deepcopy(src_parent[int(src_key)] if isinstance(src_parent, list) else src_parent[src_key])
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        if kind in ("add", "replace"):
            return copy.deepcopy(op["value"])
        if kind == "test" and doc != op["value"]:
            raise ValueError("test failed")
        return doc
    parent, key = _parent(doc, parts)
    if isinstance(parent, list):
        index = len(parent) if key == "-" else int(key)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "remove":
            parent.pop(index)
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "test" and parent[index] != op["value"]:
            raise ValueError("test failed")
    elif isinstance(parent, dict):
        if kind == "add":
            parent[key] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[key]
        elif kind == "replace":
            parent[key]  # must exist
            parent[key] = copy.deepcopy(op["value"])
        elif kind == "test" and parent.get(key) != op["value"]:
            raise ValueError("test failed")
    else:
        raise KeyError(key)
    return doc


# --- server-side apply ---------------------------------------------------------------------------

Path = tuple[str, ...]  # elements like "f:spec", 'k:{"name":"x"}', "v:foo"


def fieldset(obj: Any, field: str = "") -> set[Path]:
    """The set of field paths an applied configuration sets (the fieldsV1 idea, flattened)."""
    paths: set[Path] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if field == "" and key in ("apiVersion", "kind"):
                continue
            if field == "" and key == "metadata":
                value = {k: v for k, v in value.items() if k in ("labels", "annotations")}
                if not value:
                    continue
            head = (f"f:{key}",)
            sub = fieldset(value, key)
            paths.add(head)
            paths.update(head + p for p in sub)
    elif isinstance(obj, list):
        key = merge_key(field, obj)
        if key and all(isinstance(i, dict) for i in obj):
            for item in obj:
                head = ("k:" + json.dumps({key: item.get(key)}, separators=(",", ":")),)
                paths.add(head)
                paths.update(head + p for p in fieldset(item, ""))
        elif field in MERGE_PRIMITIVE:
            paths.update(("v:" + json.dumps(v),) for v in obj)
    return paths


def to_fields_v1(paths: set[Path]) -> dict:
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    # A node with children is marked "." when it is itself set, as the real fieldsV1 does for items.
    return tree


def from_fields_v1(tree: dict, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for part, sub in (tree or {}).items():
        if part == ".":
            continue
        paths.add(prefix + (part,))
        paths |= from_fields_v1(sub, prefix + (part,))
    return paths


def _remove_path(obj: Any, path: Path) -> None:
    cur = obj
    for part in path[:-1]:
        cur = _step(cur, part)
        if cur is None:
            return
    last = path[-1]
    if isinstance(cur, dict) and last.startswith("f:"):
        cur.pop(last[2:], None)
    elif isinstance(cur, list) and last.startswith("k:"):
        key, value = next(iter(json.loads(last[2:]).items()))
        cur[:] = [i for i in cur if not (isinstance(i, dict) and i.get(key) == value)]
    elif isinstance(cur, list) and last.startswith("v:"):
        value = json.loads(last[2:])
        cur[:] = [i for i in cur if i != value]


def _step(cur: Any, part: str) -> Any:
    if isinstance(cur, dict) and part.startswith("f:"):
        return cur.get(part[2:])
    if isinstance(cur, list) and part.startswith("k:"):
        key, value = next(iter(json.loads(part[2:]).items()))
        return next((i for i in cur if isinstance(i, dict) and i.get(key) == value), None)
    return None


def _value_at(obj: Any, path: Path) -> Any:
    for part in path:
        obj = _step(obj, part)
        if obj is None:
            return None
    return obj


def apply(current: dict | None, applied: dict, manager: str, force: bool, now: str) -> dict:
    """The object after ``manager`` applies ``applied``: merge the applied fields, remove fields this
    manager applied before and dropped now, and record ownership in ``metadata.managedFields``.
    A field another applier owns with a different value is a 409 Conflict unless ``force``."""
    base = copy.deepcopy(current) if current else {}
    entries = [e for e in (base.get("metadata") or {}).get("managedFields") or []]
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    new_paths = fieldset(applied)
    conflicts = []
    for entry in entries:
        if entry is mine or entry.get("operation") != "Apply":
            continue
        theirs = from_fields_v1(entry.get("fieldsV1") or {})
        for path in sorted(new_paths & theirs):
            if _is_leaf(applied, path) and _value_at(base, path) != _value_at(applied, path):
                conflicts.append((entry["manager"], path))
    if conflicts and not force:
        listed = "\n".join(f'- conflict with "{m}": .{".".join(p[2:] for p in path)}' for m, path in conflicts)
        raise ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} conflict"
                       f"{'s' if len(conflicts) > 1 else ''}: {listed}",
                       {"causes": [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"',
                                    "field": "." + ".".join(p[2:] for p in path)} for m, path in conflicts]})
    old_paths = from_fields_v1(mine.get("fieldsV1") or {}) if mine else set()
    owned_by_others = set()
    for entry in entries:
        if entry is not mine:
            owned_by_others |= from_fields_v1(entry.get("fieldsV1") or {})
    merged = strategic_merge(base, {k: v for k, v in applied.items()})
    dropped = old_paths - new_paths - owned_by_others
    # Remove whole items, not their fields one by one: an item whose fields went first would lose
    # its merge key (a volumeMount's mountPath) and could no longer be found to be removed.
    for path in sorted(dropped, key=len, reverse=True):
        if not any(path[:n] in dropped for n in range(1, len(path))):
            _remove_path(merged, path)
    if force:
        for entry in entries:
            if entry is not mine and entry.get("operation") == "Apply":
                kept = from_fields_v1(entry.get("fieldsV1") or {}) - {p for _, p in conflicts}
                entry["fieldsV1"] = to_fields_v1(kept)
    new_entry = {"manager": manager, "operation": "Apply",
                 "apiVersion": applied.get("apiVersion"), "fieldsType": "FieldsV1",
                 "fieldsV1": to_fields_v1(new_paths), "time": now}
    if mine and mine.get("fieldsV1") == new_entry["fieldsV1"] and mine.get("apiVersion") == new_entry["apiVersion"]:
        new_entry["time"] = mine.get("time", now)   # unchanged ownership: keep the write a no-op
    updated = [new_entry if e is mine else e for e in entries] if mine else entries + [new_entry]
    merged.setdefault("metadata", {})["managedFields"] = updated
    return merged


def _is_leaf(obj: Any, path: Path) -> bool:
    value = _value_at(obj, path)
    return not isinstance(value, (dict, list))
