"""What a registry tree holds: repositories, tags, manifests and blobs (counts and bytes).

Read from the files alone (distribution's layout, see :mod:`.layout`), without the registry
running: a directory listing, the link files and the manifests' own JSON, through a
:class:`~.source.Source` (a local directory, or another host over SSH). Nothing is hashed
here (that is the copy's job, blob by blob); a manifest that cannot be read is a problem of
the inventory, named, not an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .layout import LayoutError
from .source import MANIFEST_MAX, Listing, Source, as_source


@dataclass(frozen=True)
class Tag:
    repository: str
    tag: str
    digest: str  # the manifest the tag points at

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass
class Repository:
    name: str
    tags: dict[str, str] = field(default_factory=dict)  # tag -> manifest digest (current/link)
    index: dict[str, set[str]] = field(default_factory=dict)  # tag -> every digest it held
    revisions: set[str] = field(default_factory=set)
    layers: set[str] = field(default_factory=set)


@dataclass
class Inventory:
    root: object  # the source's root: a Path, or the ssh:// location
    repositories: dict[str, Repository] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size, every blob in the store
    references: dict[str, list[str]] = field(default_factory=dict)  # manifest -> what it references
    problems: list[str] = field(default_factory=list)

    # -- views ---------------------------------------------------------------------------
    def tags(self) -> list[Tag]:
        return [Tag(r.name, t, d) for r in sorted(self.repositories.values(), key=lambda r: r.name)
                for t, d in sorted(r.tags.items())]

    @property
    def manifests(self) -> set[str]:
        return {d for r in self.repositories.values() for d in r.revisions}

    @property
    def bytes(self) -> int:
        return sum(self.blobs.values())

    def closure(self, digest: str) -> set[str]:
        """The manifest and every blob it needs, through manifest lists."""
        seen: set[str] = set()
        todo = [digest]
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            todo.extend(self.references.get(d, ()))
        return seen

    def tag_bytes(self, tag: Tag) -> int:
        return sum(self.blobs.get(d, 0) for d in self.closure(tag.digest))

    def users(self, digest: str) -> list[str]:
        """The tags (repository:tag) whose image needs ``digest``."""
        return [t.ref for t in self.tags() if digest in self.closure(t.digest)]

    def counts(self) -> dict[str, int]:
        return {"repositories": len(self.repositories), "tags": len(self.tags()), "manifests": len(self.manifests),
                "blobs": len(self.blobs), "bytes": self.bytes}


def scan(source: "Source | Path", *, what: str = "source registry") -> Inventory:
    """The inventory of a registry tree: a :class:`~.source.Source`, or a path (its ``rootdirectory``)."""
    src = as_source(source, what)
    listing = src.listing()
    inv = Inventory(getattr(src, "root", src.label))
    inv.blobs = dict(sorted(listing.blobs.items()))
    for name, files in _by_repository(listing):
        inv.repositories[name] = _repository(src, name, files, inv.problems)
    wanted = sorted(d for d in inv.manifests | {d for r in inv.repositories.values() for d in r.tags.values()}
                    if d in inv.blobs)  # one that is not there is reported as a missing blob below
    documents = {d: listing.manifests[d] for d in wanted if d in listing.manifests}
    rest = [d for d in wanted if d not in documents]
    if rest:
        documents.update(src.read_blobs(rest))
    for digest in wanted:
        refs = _manifest_references(digest, documents.get(digest), inv)
        if refs is not None:
            inv.references[digest] = refs
    for repo in inv.repositories.values():
        for tag, digest in sorted(repo.tags.items()):
            for needed in sorted(inv.closure(digest)):
                if needed not in inv.blobs:
                    inv.problems.append(f"{repo.name}:{tag} needs {needed}, which is not in the blob store")
    return inv


def _split(rel: str) -> tuple[str, str] | None:
    """``a/b/_manifests/x`` -> (``a/b``, ``_manifests/x``): a repository's name never has a part
    starting with '_', its own data always does (distribution's paths.go)."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if part.startswith("_"):
            return ("/".join(parts[:i]), "/".join(parts[i:])) if i else None
    return None


def _by_repository(listing: Listing) -> list[tuple[str, dict[str, bytes]]]:
    """Repositories (directories holding ``_manifests`` or ``_layers``) with their link files."""
    names: dict[str, dict[str, bytes]] = {}
    for rel in listing.dirs:
        split = _split(rel)
        if split and split[1] in ("_manifests", "_layers"):
            names.setdefault(split[0], {})
    for rel, data in listing.links.items():
        split = _split(rel)
        if split and split[1].startswith(("_manifests/", "_layers/")):
            names.setdefault(split[0], {})[split[1]] = data
    return sorted(names.items())


def _repository(src: Source, name: str, files: dict[str, bytes], problems: list[str]) -> Repository:
    repo = Repository(name)
    index: dict[str, dict[str, bytes]] = {}
    for rel, data in sorted(files.items()):
        parts = rel.split("/")
        where = f"repositories/{name}/{rel}"
        if len(parts) == 4 and parts[:2] == ["_layers", "sha256"] and parts[3] == "link":
            if _checked(src, where, data, f"sha256:{parts[2]}", problems):
                repo.layers.add(f"sha256:{parts[2]}")
        elif len(parts) == 5 and parts[:3] == ["_manifests", "revisions", "sha256"]:
            if _checked(src, where, data, f"sha256:{parts[3]}", problems):
                repo.revisions.add(f"sha256:{parts[3]}")
        elif len(parts) == 5 and parts[:2] == ["_manifests", "tags"] and parts[3] == "current":
            try:
                repo.tags[parts[2]] = layout.parse_link(data, src.where(where))
            except LayoutError as exc:
                problems.append(exc.message)
        elif len(parts) == 7 and parts[:2] == ["_manifests", "tags"] and parts[3:5] == ["index", "sha256"]:
            index.setdefault(parts[2], {})[where] = data
    # A deleted tag keeps its index only: an index counts for the tags that still have a current link.
    for tag in repo.tags:
        repo.index[tag] = {f"sha256:{w.split('/')[-2]}" for w, data in index.get(tag, {}).items()
                           if _checked(src, w, data, f"sha256:{w.split('/')[-2]}", problems)}
    return repo


def _checked(src: Source, where: str, data: bytes, digest: str, problems: list[str]) -> bool:
    """A link file must hold the digest its path names."""
    try:
        held = layout.parse_link(data, src.where(where))
    except LayoutError as exc:
        problems.append(exc.message)
        return False
    if held != digest:
        problems.append(f"{src.where(where)}: holds {held}, its path names {digest}")
        return False
    return True


def _manifest_references(digest: str, data: bytes | None, inv: Inventory) -> list[str] | None:
    """The digests a manifest references: config and layers, a list's manifests, schema 1's blobSums."""
    try:
        if data is None or len(data) > MANIFEST_MAX:
            raise ValueError(digest)
        return list(_references(json.loads(data)))
    except (ValueError, TypeError, KeyError, AttributeError):
        inv.problems.append(f"manifest {digest}: not a manifest JSON document (corrupt?)")
        return None


def _references(doc: dict) -> Iterable[str]:
    if "manifests" in doc:  # a manifest list / OCI index
        return [m["digest"] for m in doc["manifests"]]
    if doc.get("schemaVersion") == 1:
        return list(dict.fromkeys(layer["blobSum"] for layer in doc.get("fsLayers", [])))
    found = [doc["config"]["digest"]] if "config" in doc else []
    # Foreign layers (with urls) live elsewhere, never in the registry's store.
    return found + [layer["digest"] for layer in doc.get("layers", []) if not layer.get("urls")]
