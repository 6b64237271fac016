"""The plan: what applying the manifests would do to each object, and the manifests on disk.

A live object carries what the server added: uid, resourceVersion, managedFields, status, and
defaults (a Service port's protocol, a container's terminationMessagePath...). Comparing it
with the manifest as it is would report every object changed forever. So the live object is
first cut down to the shape of the manifest: only fields the manifest sets are compared. The
exception is user data the server never adds to (``data`` of ConfigMaps and Secrets): there a
key we dropped is a change, since server-side apply will remove it.
"""

from __future__ import annotations

import copy
import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..secrets import MASK
from .findings import object_key, object_name
from .manifests import SECRET_FIELDS, dump_yaml, mask_object

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
# Maps compared whole (keys only in the live object count): user data, never server-filled.
WHOLE_MAPS = {("data",), ("binaryData",)}
# How list items are matched between manifest and live object (as strategic merge does).
MERGE_KEYS = ("name", "mountPath", "containerPort", "port", "key", "path")


@dataclass(frozen=True)
class PlanEntry:
    object: str   # Kind/name
    key: str      # Kind/namespace/name
    action: str   # create | update | unchanged
    diff: str = ""  # unified diff (masked) for updates

    def as_row(self) -> dict[str, str]:
        return {"object": self.object, "action": self.action,
                "changed lines": str(sum(1 for line in self.diff.splitlines()
                                         if line[:1] in "+-" and line[:3] not in ("+++", "---")))}


def comparable(live: Any, desired: Any, path: tuple = ()) -> Any:
    """``live`` reduced to the fields ``desired`` sets (see the module docstring)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        if path in WHOLE_MAPS:
            return copy.deepcopy(live)
        return {k: comparable(live[k], desired[k], path + (k,)) for k in live if k in desired}
    if isinstance(desired, list) and isinstance(live, list):
        return [comparable(item, _partner(item, desired, i), path + (i,)) for i, item in enumerate(live)]
    return copy.deepcopy(live)


def _partner(item: Any, desired: list, index: int) -> Any:
    if isinstance(item, dict):
        for key in MERGE_KEYS:
            if key in item:
                match = next((d for d in desired if isinstance(d, dict) and d.get(key) == item[key]), None)
                if match is not None:
                    return match
                break
    return desired[index] if index < len(desired) else item


def _masked_pair(desired: dict, live: dict) -> tuple[dict, dict]:
    """Mask Secret values, marking those that differ so the diff still shows which changed."""
    shown_desired, shown_live = mask_object(desired), mask_object(live)
    if desired.get("kind") == "Secret":
        for field in SECRET_FIELDS:
            new, old = desired.get(field) or {}, live.get(field) or {}
            for key in new:
                if key in old and new[key] != old[key]:
                    shown_desired[field][key] = f"{MASK} (changed)"
    return shown_desired, shown_live


def plan_object(desired: dict, live: dict | None) -> PlanEntry:
    label, key = object_name(desired), object_key(desired)
    if live is None:
        return PlanEntry(label, key, CREATE)
    current = comparable(live, desired)
    if current == desired:
        return PlanEntry(label, key, UNCHANGED)
    new, old = _masked_pair(desired, current)
    diff = "".join(difflib.unified_diff(dump_yaml(old).splitlines(True), dump_yaml(new).splitlines(True),
                                        fromfile=f"live/{label}", tofile=f"desired/{label}"))
    return PlanEntry(label, key, UPDATE, diff)


def plan(desired: Iterable[dict], live: Mapping[str, dict | None]) -> list[PlanEntry]:
    """One entry per desired object; ``live`` maps :func:`object_key` to the live object (None or
    no entry when it does not exist)."""
    return [plan_object(obj, live.get(object_key(obj))) for obj in desired]


def file_name(index: int, manifest: dict) -> str:
    meta = manifest.get("metadata") or {}
    return f"{index:02d}-{str(manifest.get('kind', 'object')).lower()}-{meta.get('name', 'unnamed')}.yaml"


def write_manifests(manifests: Iterable[dict], folder: str | os.PathLike) -> list[Path]:
    """One masked YAML per object, numbered in apply order; each written atomically.

    Files left from an earlier render that are no longer produced are removed, so the folder
    always shows exactly the current set.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, manifest in enumerate(manifests, start=1):
        path = folder / file_name(index, manifest)
        _atomic_write(path, dump_yaml(mask_object(manifest)))
        written.append(path)
    keep = {p.name for p in written}
    for stale in folder.glob("[0-9][0-9]-*.yaml"):
        if stale.name not in keep:
            stale.unlink()
    return written


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["CREATE", "PlanEntry", "UNCHANGED", "UPDATE", "comparable", "plan", "plan_object", "write_manifests"]
