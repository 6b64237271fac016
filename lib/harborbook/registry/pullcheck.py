"""One tag pulled and checked against what a record says it was (backup drill, migration).

The manifest must have the recorded digest, and every blob it references must hash to its own
digest: a registry that serves a tag whose layer is damaged is caught here, naming the blob.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import HarborbookError
from .client import RegistryClient
from .image import sha256_digest


@dataclass(frozen=True)
class TagCheck:
    repository: str
    tag: str
    expected: str  # the recorded manifest digest
    pulled: str | None  # the digest of the manifest pulled (None: the pull failed)
    blobs: int = 0
    bytes: int = 0
    problems: tuple[str, ...] = field(default=())
    bad_blobs: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def row(self) -> dict[str, object]:
        return {"repository": self.repository, "tag": self.tag, "digest": self.expected,
                "pulled": self.pulled or "", "blobs": self.blobs, "bytes": self.bytes,
                "ok": self.ok, "problem": "; ".join(self.problems)}


def verify_tag(client: RegistryClient, repository: str, tag: str, manifest_digest: str) -> TagCheck:
    """Pull ``repository:tag``; same manifest digest, every layer's bytes match its digest."""
    try:
        pulled = client.pull(repository, tag)
    except HarborbookError as exc:
        return TagCheck(repository, tag, manifest_digest, None, problems=(f"pull failed: {exc.message}",))
    problems = []
    if pulled.digest != manifest_digest:
        problems.append(f"manifest digest {pulled.digest} != recorded {manifest_digest}")
    if pulled.header_digest and pulled.header_digest != pulled.digest:
        problems.append(f"Docker-Content-Digest {pulled.header_digest} != the manifest's {pulled.digest}")
    bad = []
    for digest, data in pulled.blobs.items():
        actual = sha256_digest(data)
        if actual != digest:
            bad.append(digest)
            problems.append(f"blob {digest} has bytes hashing to {actual}")
    return TagCheck(repository, tag, manifest_digest, pulled.digest, len(pulled.blobs),
                    sum(len(d) for d in pulled.blobs.values()), tuple(problems), tuple(bad))
