"""Lab profiles: which Kubernetes the emulator pretends to be.

``article`` is the era of the reference deployment (kubelet 1.7.5), served with the oldest API
schemas available (1.25); ``modern`` is a current cluster. The version can be overridden (tests
use 1.31 to see in-tree cephfs refused).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    version: str              # what /version reports and which schemas validate writes
    kubelet_version: str      # nodes' status.nodeInfo.kubeletVersion
    container_runtime: str
    node_proxy_forbidden: bool  # the operator of that era had no nodes/proxy rights

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.version.lstrip("v").split(".")[:2]
        return int(major), int(minor)


PROFILES = {
    "article": Profile("article", "v1.25.16", "v1.7.5", "docker://1.12.6", True),
    "modern": Profile("modern", "v1.30.14", "v1.30.14", "containerd://1.7.24", False),
}


def profile(name: str, version: str | None = None) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    chosen = PROFILES[name]
    return replace(chosen, version=version) if version else chosen


def version_info(prof: Profile) -> dict:
    major, minor = prof.minor
    return {"major": str(major), "minor": str(minor), "gitVersion": prof.version,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc",
            "platform": "linux/amd64"}
