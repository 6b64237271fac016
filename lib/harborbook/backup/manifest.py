"""What a backup holds (``backup.json``), the registry tree's layout, and retention.

``backup.json`` is written last: a backup folder without it is incomplete, whatever else it
holds. It lists every file with its size and sha256, the Harbor and schema versions, the rows
and ``CHECKSUM TABLE`` of every table, and every repository and tag with its manifest digest and
the blobs that manifest references (so a damaged blob names the tags it breaks).

Pure functions over paths and names, tested without a registry.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..errors import HarborbookError

FORMAT = 1
MANIFEST = "backup.json"
NAME = re.compile(r"^harbor-(\d{8}T\d{6}Z)$")
REGISTRY_PREFIX = "registry/"  # the registry tree inside a backup
DATABASE_PREFIX = "database/"
KUBE_PREFIX = "kube/"
V2 = "docker/registry/v2"
BLOB_DATA = re.compile(r"^docker/registry/v2/blobs/sha256/([0-9a-f]{2})/([0-9a-f]{64})/data$")
TAG_LINK = re.compile(r"^docker/registry/v2/repositories/(.+)/_manifests/tags/([^/]+)/current/link$")


def backup_name(now: datetime) -> str:
    return "harbor-" + now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def blob_digest(relative: str) -> str | None:
    """'sha256:<hex>' when ``relative`` (a path inside the registry tree) is a blob's data file."""
    match = BLOB_DATA.match(relative)
    if not match:
        return None
    if match.group(2)[:2] != match.group(1):
        return None  # not where distribution would put it: not a blob
    return "sha256:" + match.group(2)


def blob_path(digest: str) -> str:
    algo, hexa = digest.split(":", 1)
    return f"{V2}/blobs/{algo}/{hexa[:2]}/{hexa}/data"


def skip_in_tree(relative: str) -> bool:
    """Uploads in progress are not part of any image: they are not backed up."""
    return "/_uploads/" in relative or relative.endswith("/_uploads")


@dataclass(frozen=True)
class TagRef:
    repository: str
    tag: str
    digest: str  # the manifest digest the tag points at
    blobs: tuple[str, ...] = ()  # config and layers

    def row(self) -> dict[str, Any]:
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest, "blobs": list(self.blobs)}


def tags_in_tree(tree: Path) -> list[tuple[str, str, str]]:
    """(repository, tag, manifest digest) of every tag in a registry tree, sorted."""
    base = tree / V2 / "repositories"
    found = []
    for link in sorted(base.rglob("_manifests/tags/*/current/link")) if base.is_dir() else []:
        relative = link.relative_to(tree).as_posix()
        match = TAG_LINK.match(relative)
        if not match or "/_" in "/" + match.group(1):
            continue
        digest = link.read_text(encoding="ascii", errors="replace").strip()
        found.append((match.group(1), match.group(2), digest))
    return found


@dataclass
class FileEntry:
    size: int  # plaintext bytes
    sha256: str  # of the plaintext
    stored: int = 0  # bytes on the target (compressed, encrypted)


@dataclass
class TableEntry:
    rows: int
    checksum: int | None


@dataclass
class Manifest:
    name: str
    created: str
    harbor_version: str = ""
    schema_version: str = ""
    database: str = ""
    database_node: str = ""
    snapshot: str = ""
    namespace: str = ""
    target: str = ""
    tables: dict[str, TableEntry] = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    tags: list[TagRef] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)  # Kind/name of every exported object
    timings: dict[str, float] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        data = asdict(self)
        data["tags"] = [t.row() for t in self.tags]
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise HarborbookError(f"backup.json has format {data.get('format')}, this harborbook reads {FORMAT}")
            return cls(
                name=data["name"], created=data["created"], harbor_version=data.get("harbor_version", ""),
                schema_version=data.get("schema_version", ""), database=data.get("database", ""),
                database_node=data.get("database_node", ""), snapshot=data.get("snapshot", ""),
                namespace=data.get("namespace", ""), target=data.get("target", ""),
                tables={k: TableEntry(**v) for k, v in data.get("tables", {}).items()},
                files={k: FileEntry(**v) for k, v in data.get("files", {}).items()},
                tags=[TagRef(t["repository"], t["tag"], t["digest"], tuple(t.get("blobs", ()))) for t in data.get("tags", [])],
                objects=list(data.get("objects", [])), timings=dict(data.get("timings", {})), format=FORMAT)
        except (ValueError, KeyError, TypeError) as exc:
            raise HarborbookError(f"backup.json cannot be read ({type(exc).__name__}: {exc})",
                                  hint="the backup is damaged; use another one") from None

    def tags_using(self, digest: str) -> list[str]:
        """'repository:tag' of every tag whose manifest is or references ``digest``."""
        return [f"{t.repository}:{t.tag}" for t in self.tags if t.digest == digest or digest in t.blobs]

    def registry_files(self) -> list[str]:
        return sorted(n for n in self.files if n.startswith(f"{self.name}/{REGISTRY_PREFIX}"))


# ------------------------------------------------------------------ the backups on a target
@dataclass(frozen=True)
class Listing:
    complete: list[str]  # oldest first
    partial: list[str]


def listing(names: Iterable[str]) -> Listing:
    """Backups on a target from its object names: complete ones have backup.json."""
    folders: dict[str, bool] = {}
    for name in names:
        head, _, rest = name.partition("/")
        if NAME.match(head) and rest:
            folders[head] = folders.get(head, False) or rest == MANIFEST
    return Listing(sorted(n for n, done in folders.items() if done), sorted(n for n, done in folders.items() if not done))


@dataclass(frozen=True)
class RetentionPlan:
    keep: list[str]
    delete: list[str]
    partial: list[str]  # incomplete backups older than the newest complete one (abandoned)


def plan_retention(found: Listing, keep: int) -> RetentionPlan:
    """Keep the newest ``keep`` complete backups (always at least one); delete older ones."""
    keep = max(1, keep)
    kept = found.complete[-keep:]
    delete = found.complete[:-keep] if len(found.complete) > keep else []
    newest = found.complete[-1] if found.complete else ""
    abandoned = [p for p in found.partial if newest and p < newest]
    return RetentionPlan(kept, delete, abandoned)
