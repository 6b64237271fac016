"""The eviction vocabulary: signals, where the Summary API reports them, defaults by version.

Only names and tables live here (no decisions, no I/O), so the runbook and the lab's
kubelet simulator read the very same facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

DISK_PRESSURE = "DiskPressure"
MEMORY_PRESSURE = "MemoryPressure"
PID_PRESSURE = "PIDPressure"


class KubeletVersion(NamedTuple):
    """major.minor of a kubelet; patch levels never change eviction behaviour."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str | KubeletVersion | tuple[int, int]) -> KubeletVersion:
        """Accept "v1.7.5", "1.28", "v1.30.2+k3s1" or a (major, minor) pair."""
        if isinstance(text, tuple):
            return cls(int(text[0]), int(text[1]))
        match = re.match(r"^\s*v?(\d+)\.(\d+)", text)
        if match is None:
            raise ValueError(f"not a Kubernetes version: {text!r} (expected e.g. v1.28.3)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}"


V = KubeletVersion


@dataclass(frozen=True)
class SignalSpec:
    """One eviction signal: how to observe it and what the kubelet calls it.

    ``available``/``capacity`` are sums of signed Summary API field paths (relative to
    the summary's ``node`` object), so memory (available + workingSet) and pids
    (maxpid - curproc) are data, not special cases.
    """

    name: str
    available: tuple[tuple[int, tuple[str, ...]], ...]
    capacity: tuple[tuple[int, tuple[str, ...]], ...]
    condition: str
    resource_legacy: str  # the resource name in logs and events up to 1.7
    resource: str  # the resource name from 1.8 on
    filesystem: str | None  # "nodefs" | "imagefs" | "containerfs" | None
    since: KubeletVersion


_FS = ("fs",)
_IMAGEFS = ("runtime", "imageFs")
_CONTAINERFS = ("runtime", "containerFs")

SIGNALS: dict[str, SignalSpec] = {
    spec.name: spec
    for spec in (
        SignalSpec("memory.available", ((1, ("memory", "availableBytes")),),
                   ((1, ("memory", "availableBytes")), (1, ("memory", "workingSetBytes"))),
                   MEMORY_PRESSURE, "memory", "memory", None, V(1, 0)),
        SignalSpec("nodefs.available", ((1, _FS + ("availableBytes",)),),
                   ((1, _FS + ("capacityBytes",)),),
                   DISK_PRESSURE, "nodefs", "ephemeral-storage", "nodefs", V(1, 0)),
        SignalSpec("nodefs.inodesFree", ((1, _FS + ("inodesFree",)),), ((1, _FS + ("inodes",)),),
                   DISK_PRESSURE, "nodefsInodes", "inodes", "nodefs", V(1, 0)),
        SignalSpec("imagefs.available", ((1, _IMAGEFS + ("availableBytes",)),),
                   ((1, _IMAGEFS + ("capacityBytes",)),),
                   DISK_PRESSURE, "imagefs", "ephemeral-storage", "imagefs", V(1, 0)),
        SignalSpec("imagefs.inodesFree", ((1, _IMAGEFS + ("inodesFree",)),),
                   ((1, _IMAGEFS + ("inodes",)),),
                   DISK_PRESSURE, "imagefsInodes", "inodes", "imagefs", V(1, 0)),
        # Observed from the pods cgroup, not the Summary API: accepted, never observed here.
        SignalSpec("allocatableMemory.available", (), (), MEMORY_PRESSURE, "memory", "memory",
                   None, V(1, 6)),
        SignalSpec("pid.available", ((1, ("rlimit", "maxpid")), (-1, ("rlimit", "curproc"))),
                   ((1, ("rlimit", "maxpid")),), PID_PRESSURE, "pids", "pids", None, V(1, 10)),
        SignalSpec("containerfs.available", ((1, _CONTAINERFS + ("availableBytes",)),),
                   ((1, _CONTAINERFS + ("capacityBytes",)),),
                   DISK_PRESSURE, "ephemeral-storage", "ephemeral-storage", "containerfs", V(1, 29)),
        SignalSpec("containerfs.inodesFree", ((1, _CONTAINERFS + ("inodesFree",)),),
                   ((1, _CONTAINERFS + ("inodes",)),),
                   DISK_PRESSURE, "inodes", "inodes", "containerfs", V(1, 29)),
    )
}

# Default hard thresholds on Linux, by the release that introduced each one.
DEFAULT_HARD_BY_VERSION: tuple[tuple[KubeletVersion, str, str], ...] = (
    (V(1, 0), "memory.available", "100Mi"),
    (V(1, 7), "nodefs.available", "10%"),
    (V(1, 7), "nodefs.inodesFree", "5%"),
    (V(1, 9), "imagefs.available", "15%"),
    (V(1, 30), "imagefs.inodesFree", "5%"),
)


def signals_for(version: KubeletVersion | str) -> tuple[str, ...]:
    """The signal names a kubelet of this version accepts."""
    version = KubeletVersion.parse(version)
    return tuple(name for name, spec in SIGNALS.items() if version >= spec.since)


def default_hard(version: KubeletVersion | str) -> dict[str, str]:
    """The built-in evictionHard map of a kubelet of this version (Linux)."""
    version = KubeletVersion.parse(version)
    return {signal: value for since, signal, value in DEFAULT_HARD_BY_VERSION if version >= since}


def resource_name(signal: str, version: KubeletVersion | str) -> str:
    """The resource the kubelet names in its logs/events ("nodefs" in 1.7, "ephemeral-storage" later)."""
    spec = SIGNALS[signal]
    return spec.resource_legacy if KubeletVersion.parse(version) < V(1, 8) else spec.resource


def containerfs_source(imagefs_separate: bool, split_image_fs: bool) -> str:
    """Which filesystem containerfs thresholds are copied from (UpdateContainerFsThresholds).

    Containers' writable layers live on nodefs unless the runtime keeps both images and
    containers on a separate image filesystem; a split image filesystem (images apart,
    containers on nodefs) also means nodefs.
    """
    return "imagefs" if imagefs_separate and not split_image_fs else "nodefs"
