"""What a registry tree holds: repositories, tags, manifests and blobs (counts and bytes).

Read from the files alone (distribution's layout, see :mod:`.layout`), without the registry
running: a directory listing, the link files and the manifests' own JSON. Nothing is hashed
here (that is the copy's job, blob by blob); a manifest that cannot be read is a problem of
the inventory, named, not an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .layout import LayoutError


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
    root: Path
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


def scan(root: Path, *, what: str = "source registry") -> Inventory:
    """The inventory of the registry tree at ``root`` (its ``rootdirectory``)."""
    root = layout.check_root(root, what)
    inv = Inventory(root)
    inv.blobs = dict(_blobs(root))
    for name in _repository_names(layout.v2(root) / "repositories"):
        inv.repositories[name] = _repository(root, name, inv.problems)
    for digest in sorted(inv.manifests | {d for r in inv.repositories.values() for d in r.tags.values()}):
        refs = _manifest_references(root, digest, inv)
        if refs is not None:
            inv.references[digest] = refs
    for repo in inv.repositories.values():
        for tag, digest in sorted(repo.tags.items()):
            for needed in sorted(inv.closure(digest)):
                if needed not in inv.blobs:
                    inv.problems.append(f"{repo.name}:{tag} needs {needed}, which is not in the blob store")
    return inv


def _blobs(root: Path) -> Iterator[tuple[str, int]]:
    """Every ``blobs/sha256/xx/<hex>/data`` with its size (os.scandir: one stat per blob)."""
    base = layout.v2(root) / "blobs" / "sha256"
    if not base.is_dir():
        return
    for prefix in _dirs(base):
        for entry in _dirs(base / prefix):
            digest = f"sha256:{entry}"
            if not layout.is_digest(digest) or entry[:2] != prefix:
                continue
            try:
                st = os.stat(base / prefix / entry / "data")
            except FileNotFoundError:
                continue  # an upload in progress or a deleted blob leaves the directory only
            yield digest, st.st_size


def _dirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _repository_names(base: Path, prefix: str = "") -> Iterator[str]:
    """Directories holding ``_manifests`` or ``_layers`` are repositories; names may nest."""
    for name in _dirs(base):
        if name.startswith("_"):
            continue
        full = f"{prefix}{name}"
        path = base / name
        if (path / "_manifests").is_dir() or (path / "_layers").is_dir():
            yield full
        yield from _repository_names(path, full + "/")


def _links(base: Path) -> Iterator[tuple[str, Path]]:
    """``<base>/sha256/<hex>/link`` files: (digest named by the path, the link file)."""
    algo_dir = base / "sha256"
    for hexpart in _dirs(algo_dir):
        link = algo_dir / hexpart / "link"
        if link.is_file():
            yield f"sha256:{hexpart}", link


def _repository(root: Path, name: str, problems: list[str]) -> Repository:
    repo = Repository(name)
    base = layout.repository_dir(root, name)
    for digest, link in _links(base / "_layers"):
        if _checked(link, digest, problems):
            repo.layers.add(digest)
    for digest, link in _links(base / "_manifests" / "revisions"):
        if _checked(link, digest, problems):
            repo.revisions.add(digest)
    tags_dir = base / "_manifests" / "tags"
    for tag in _dirs(tags_dir):
        current = tags_dir / tag / "current" / "link"
        if not current.is_file():
            continue  # a deleted tag keeps its index only
        try:
            repo.tags[tag] = layout.read_link(current)
        except LayoutError as exc:
            problems.append(exc.message)
            continue
        repo.index[tag] = {d for d, link in _links(tags_dir / tag / "index") if _checked(link, d, problems)}
    return repo


def _checked(link: Path, digest: str, problems: list[str]) -> bool:
    """A link file must hold the digest its path names."""
    try:
        held = layout.read_link(link)
    except LayoutError as exc:
        problems.append(exc.message)
        return False
    if held != digest:
        problems.append(f"{link}: holds {held}, its path names {digest}")
        return False
    return True


def _manifest_references(root: Path, digest: str, inv: Inventory) -> list[str] | None:
    """The digests a manifest references: config and layers, a list's manifests, schema 1's blobSums."""
    if digest not in inv.blobs:
        return None  # reported as a missing blob by the caller
    try:
        doc = json.loads(layout.blob_data(root, digest).read_bytes())
        return list(_references(doc))
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
