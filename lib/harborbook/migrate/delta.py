"""What a copy would still have to do: blobs absent or unverified in the target, links to write.

The cut-over plan runs this against the live source after the bulk copy: its size, at the
throughput the bulk copy measured, is the estimate of the final copy while the old registry is
read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .copy import link_repositories
from .inventory import Inventory
from .journal import Journal


@dataclass
class Delta:
    copy: dict[str, int] = field(default_factory=dict)    # absent from the target: digest -> size
    verify: dict[str, int] = field(default_factory=dict)  # present but never verified: hashed first
    links: int = 0                                        # link files to write or rewrite
    tags: list[str] = field(default_factory=list)         # repo:tag new or moved since the copy

    @property
    def copy_bytes(self) -> int:
        return sum(self.copy.values())

    @property
    def verify_bytes(self) -> int:
        return sum(self.verify.values())

    @property
    def empty(self) -> bool:
        return not (self.copy or self.verify or self.links)

    def estimate(self, bytes_per_second: float | None, seconds_per_link: float = 0.002) -> float | None:
        """Seconds for this delta at a measured throughput (None when nothing was measured)."""
        if self.empty:
            return 0.0
        if not bytes_per_second:
            return None
        return (self.copy_bytes + self.verify_bytes) / bytes_per_second + self.links * seconds_per_link


def delta(inv: Inventory, target: Path, journal: Journal) -> Delta:
    """Compare a source inventory with the target tree; nothing is written or hashed."""
    out = Delta()
    for digest, size in inv.blobs.items():
        try:
            st = os.stat(layout.blob_data(target, digest))
        except FileNotFoundError:
            out.copy[digest] = size
            continue
        if not journal.verified(digest, st):
            out.verify[digest] = size
    # Links: as if every blob that will be there were good (corrupt ones show up when copied).
    links = link_repositories(inv, target, set(inv.blobs), dry_run=True)
    out.links = links.written
    for repo in inv.repositories.values():
        for tag, digest in repo.tags.items():
            current = layout.tag_current_link(target, repo.name, tag)
            try:
                held = current.read_text(encoding="ascii").strip()
            except FileNotFoundError:
                held = ""
            if held != digest:
                out.tags.append(f"{repo.name}:{tag}")
    out.tags.sort()
    return out
