"""What the kubelet sees of its node: statvfs of nodefs (the root) and imagefs (the runtime's data
root), memory and pids, as numbers and as the Summary API document (the real field names).

available = f_bavail x f_frsize (ext4's reserved blocks are not available), capacity = f_blocks x
f_frsize, inodes free = f_favail, inodes = f_files: what cadvisor reports to the eviction manager.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .eviction import Fs


@dataclass(frozen=True)
class FsObservation:
    path: str            # inside the node
    device: int
    capacity: int
    available: int
    used: int
    inodes: int
    inodes_free: int

    def fs(self) -> Fs:
        return Fs(self.available, self.capacity, self.inodes_free, self.inodes)

    def summary(self, stamp: str) -> dict:
        return {"time": stamp, "availableBytes": self.available, "capacityBytes": self.capacity,
                "usedBytes": self.used, "inodesFree": self.inodes_free, "inodes": self.inodes,
                "inodesUsed": self.inodes - self.inodes_free}


def statvfs_of(host_path: Path, node_path: str) -> FsObservation:
    st = os.statvfs(host_path)
    return FsObservation(node_path, os.stat(host_path).st_dev, st.f_blocks * st.f_frsize,
                         st.f_bavail * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize,
                         st.f_files, st.f_favail)


def memory(meminfo: str) -> tuple[int, int]:
    """(availableBytes, workingSetBytes) from /proc/meminfo text."""
    fields = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            fields[key] = int(parts[0]) * 1024
    available = fields.get("MemAvailable", 0)
    return available, max(0, fields.get("MemTotal", 0) - available)


def host_rlimit() -> tuple[int, int]:
    """(maxpid, curproc) of the machine the lab runs on."""
    maxpid = int(Path("/proc/sys/kernel/pid_max").read_text().strip())
    curproc = sum(1 for entry in os.listdir("/proc") if entry.isdigit())
    return maxpid, curproc


def summary_document(node_name: str, nodefs: FsObservation, imagefs: FsObservation, started: datetime,
                     now: datetime, containerfs: bool) -> dict:
    """``/stats/summary`` for the node (pods omitted: the lab's pods have no cgroups to read)."""
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    available, working = memory(Path("/proc/meminfo").read_text())
    maxpid, curproc = host_rlimit()
    runtime = {"imageFs": imagefs.summary(stamp)}
    if containerfs:
        runtime["containerFs"] = imagefs.summary(stamp) if imagefs.device != nodefs.device else nodefs.summary(stamp)
    return {"node": {"nodeName": node_name,
                     "startTime": started.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "memory": {"time": stamp, "availableBytes": available, "usageBytes": working,
                                "workingSetBytes": working},
                     "fs": nodefs.summary(stamp), "runtime": runtime,
                     "rlimit": {"time": stamp, "maxpid": maxpid, "curproc": curproc}},
            "pods": []}
