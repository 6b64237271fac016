"""One tag pulled through a registry and checked against what it must be.

Shared by the runbooks that must prove content survived a move (07 backup-restore, 08
migration): the manifest the registry serves for ``repository:tag`` must have the expected
digest, and every blob it references must come back with bytes whose sha256 is its digest and
whose length is the size the manifest declares. Content addressing makes that the same as
"the same bytes as before": no copy of the old bytes is needed to compare.

A tag may point at a manifest list (an OCI index): then the list is checked the same way, and
each image it names is fetched by its digest and checked in turn (its digest, its size in the
list, every blob). Asking with every manifest type in ``Accept`` keeps the registry from
answering a client that does not know lists with one platform's image instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import HarborbookError
from .challenge import repository_scope
from .client import RegistryClient
from .image import DOCKER_MANIFEST, OCI_MANIFEST, sha256_digest
from .transport import http_error

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LISTS = (DOCKER_LIST, OCI_INDEX)
ACCEPT_ANY = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX))


@dataclass(frozen=True)
class TagCheck:
    repository: str
    tag: str
    expected: str
    served: str | None = None  # the digest of the manifest bytes served
    blobs: int = 0
    bytes: int = 0
    problems: tuple[str, ...] = field(default_factory=tuple)
    bad_blobs: tuple[str, ...] = field(default_factory=tuple)  # blobs served with other bytes

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    def row(self) -> dict[str, object]:
        return {"tag": self.ref, "digest": self.expected[:19], "blobs": self.blobs, "bytes": self.bytes,
                "ok": self.ok, "problem": "; ".join(self.problems)}


def _declared_sizes(manifest: bytes) -> dict[str, int]:
    try:
        doc = json.loads(manifest)
    except ValueError:
        return {}
    found = {}
    for desc in [doc.get("config") or {}, *doc.get("layers", [])]:
        if isinstance(desc, dict) and "digest" in desc and "size" in desc:
            found[desc["digest"]] = int(desc["size"])
    return found


def _manifest(client: RegistryClient, repository: str, reference: str) -> tuple[bytes, str | None, str | None]:
    """GET a manifest accepting lists too: (bytes, Content-Type, Docker-Content-Digest)."""
    response = client.send("GET", client.url(f"/v2/{repository}/manifests/{reference}"),
                           repository_scope(repository, ("pull",)), {"Accept": ACCEPT_ANY})
    if response.status != 200:
        raise http_error("GET", response, what="pull manifest")
    return response.body, response.header("Content-Type"), response.header("Docker-Content-Digest")


def _is_list(doc: dict, content_type: str | None) -> bool:
    return doc.get("mediaType") in LISTS or (content_type or "").split(";")[0].strip() in LISTS or (
        "manifests" in doc and "layers" not in doc)


def _blob_digests(doc: dict) -> list[str]:
    found = [doc["config"]["digest"]] if "config" in doc else []
    # Foreign layers (with urls) live elsewhere, never in the registry; a layer listed twice is one blob.
    return list(dict.fromkeys(found + [layer["digest"] for layer in doc.get("layers", []) if not layer.get("urls")]))


@dataclass
class _Tally:
    blobs: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def _check_image(client: RegistryClient, repository: str, manifest: bytes, doc: dict, tally: _Tally,
                 where: str = "") -> None:
    """Every blob of one image manifest: its bytes hash to its digest, its length is as declared."""
    sizes = _declared_sizes(manifest)
    for digest in _blob_digests(doc):
        try:
            data = client.get_blob(repository, digest)
        except HarborbookError as exc:
            tally.problems.append(f"{where}blob {digest}: {exc.message}")
            continue
        tally.blobs += 1
        tally.bytes += len(data)
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            tally.bad.append(digest)
            tally.problems.append(f"{where}blob {digest}: the bytes served hash to {got}")
        elif digest in sizes and sizes[digest] != len(data):
            tally.problems.append(f"{where}blob {digest}: {len(data)} bytes, the manifest says {sizes[digest]}")


def _check_list(client: RegistryClient, repository: str, doc: dict, tally: _Tally) -> None:
    """Each image a manifest list names: fetched by digest, the same digest and size, its blobs."""
    entries = doc.get("manifests") or []
    if not entries:
        tally.problems.append("the manifest list names no image")
    for entry in entries:
        digest, size = entry.get("digest", ""), entry.get("size")
        platform = entry.get("platform") or {}
        where = f"{digest[:19]}... ({platform.get('os', '?')}/{platform.get('architecture', '?')}): "
        try:
            manifest, content_type, _ = _manifest(client, repository, digest)
            child = json.loads(manifest)
        except HarborbookError as exc:
            tally.problems.append(f"{where}pull failed: {exc.message}")
            continue
        except ValueError as exc:
            tally.problems.append(f"{where}the manifest is unreadable: {exc}")
            continue
        tally.bytes += len(manifest)
        if sha256_digest(manifest) != digest:
            tally.problems.append(f"{where}served bytes that hash to {sha256_digest(manifest)}")
        if size is not None and int(size) != len(manifest):
            tally.problems.append(f"{where}{len(manifest)} bytes, the list says {size}")
        if _is_list(child, content_type):
            tally.problems.append(f"{where}a list inside a list (not an image)")
            continue
        _check_image(client, repository, manifest, child, tally, where)


def verify_tag(client: RegistryClient, repository: str, tag: str, manifest_digest: str) -> TagCheck:
    """Pull ``repository:tag`` with ``client`` and check the digest and every blob's bytes
    (through a manifest list: every image it names)."""
    try:
        manifest, content_type, header_digest = _manifest(client, repository, tag)
        doc = json.loads(manifest)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except HarborbookError as exc:
        return TagCheck(repository, tag, manifest_digest, problems=(f"pull failed: {exc.message}",))
    except (ValueError, KeyError, TypeError) as exc:
        return TagCheck(repository, tag, manifest_digest, problems=(f"the manifest is unreadable: {exc}",))
    tally = _Tally()
    served = sha256_digest(manifest)
    if served != manifest_digest:
        tally.problems.append(f"manifest digest {served} != {manifest_digest}")
    if header_digest and header_digest != served:
        tally.problems.append(f"Docker-Content-Digest {header_digest} != the bytes' {served}")
    try:
        if _is_list(doc, content_type):
            _check_list(client, repository, doc, tally)
        else:
            _check_image(client, repository, manifest, doc, tally)
    except (KeyError, TypeError, AttributeError) as exc:
        tally.problems.append(f"the manifest is unreadable: {type(exc).__name__} {exc}")
    return TagCheck(repository, tag, manifest_digest, served, tally.blobs, tally.bytes + len(manifest),
                    tuple(tally.problems), tuple(tally.bad))


__all__ = ["ACCEPT_ANY", "DOCKER_LIST", "OCI_INDEX", "TagCheck", "verify_tag", "sha256_digest"]
