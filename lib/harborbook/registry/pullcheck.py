"""One tag pulled through a registry and checked against what it must be.

Shared by the runbooks that must prove content survived a move (07 backup-restore, 08
migration): the manifest the registry serves for ``repository:tag`` must have the expected
digest, and every blob it references must come back with bytes whose sha256 is its digest and
whose length is the size the manifest declares. Content addressing makes that the same as
"the same bytes as before": no copy of the old bytes is needed to compare.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import TransportError
from .client import RegistryClient
from .image import sha256_digest


@dataclass(frozen=True)
class TagCheck:
    repository: str
    tag: str
    expected: str
    served: str | None = None  # the digest of the manifest bytes served
    blobs: int = 0
    bytes: int = 0
    problems: tuple[str, ...] = field(default_factory=tuple)

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


def verify_tag(client: RegistryClient, repository: str, tag: str, manifest_digest: str) -> TagCheck:
    """Pull ``repository:tag`` with ``client`` and check the digest and every blob's bytes."""
    try:
        pulled = client.pull(repository, tag)
    except TransportError as exc:
        return TagCheck(repository, tag, manifest_digest, problems=(f"pull failed: {exc.message}",))
    except (ValueError, KeyError, TypeError) as exc:
        return TagCheck(repository, tag, manifest_digest, problems=(f"the manifest is unreadable: {exc}",))
    problems = []
    served = pulled.digest
    if served != manifest_digest:
        problems.append(f"manifest digest {served} != {manifest_digest}")
    if pulled.header_digest and pulled.header_digest != served:
        problems.append(f"Docker-Content-Digest {pulled.header_digest} != the bytes' {served}")
    sizes = _declared_sizes(pulled.manifest)
    total = 0
    for digest, data in pulled.blobs.items():
        total += len(data)
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            problems.append(f"blob {digest}: the bytes served hash to {got}")
        elif digest in sizes and sizes[digest] != len(data):
            problems.append(f"blob {digest}: {len(data)} bytes, the manifest says {sizes[digest]}")
    return TagCheck(repository, tag, manifest_digest, served, len(pulled.blobs), total + len(pulled.manifest),
                    tuple(problems))


__all__ = ["TagCheck", "verify_tag", "sha256_digest"]
