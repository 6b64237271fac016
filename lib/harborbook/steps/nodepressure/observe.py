"""Step 3: what the node's filesystems hold, and which of them is nodefs and which imagefs.

nodefs is the filesystem of the kubelet's root directory; imagefs is the filesystem of the
container runtime's data root (Docker's ``data-root``/``graph`` in daemon.json, containerd's
``root``). The reference node had moved Docker to a 99 GB second disk (6% used) while the 5.8 GB
root filesystem — where the kubelet lives — was 92% full: the big empty disk was irrelevant to
the nodefs signal. This step names both filesystems with their devices, so that confusion is
answered on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ...kubelet import config as kubeletconfig
from ...errors import HarborbookError
from ...eviction import FsUsage, Observation, observations_from_df, observations_from_summary
from ...eviction.verdict import human
from ...kube import Kube
from ...nodeshell import NodeShell
from ...runbook import Status, StepResult
from .inforce import InForce


@dataclass
class Filesystem:
    role: str  # nodefs | imagefs
    path: str  # the directory that decides it (kubelet root dir / runtime data root)
    device: str
    mount: str
    capacity: int
    available: int
    inodes: int | None = None
    inodes_free: int | None = None

    def usage(self) -> FsUsage:
        return FsUsage(self.available, self.capacity, self.inodes_free, self.inodes)


@dataclass
class Observed:
    observations: dict[str, Observation]
    imagefs_separate: bool
    source: str  # stats/summary | df through the node shell
    filesystems: list[Filesystem] = field(default_factory=list)
    runtime: str = "?"
    pods_active: int | None = None


def parse_df(text: str) -> tuple[str, int, int, str]:
    """(device, total, available, mount point) from `df -P -B1 PATH` (or the inode columns of -i)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        raise HarborbookError(f"unexpected df output: {text.strip()[:120]!r}")
    # A long device name wraps onto its own line in some df versions: join the data lines.
    fields = " ".join(lines[1:]).split()
    if len(fields) < 6:
        raise HarborbookError(f"unexpected df output: {text.strip()[:120]!r}")
    device, total, _used, available = fields[0], int(fields[1]), fields[2], int(fields[3])
    return device, total, available, " ".join(fields[5:])


def runtime_root(shell: NodeShell, argv: list[str], version: str) -> tuple[str, str]:
    """(runtime, data root) as configured on the node."""
    read = lambda path: (lambda r: r[1] if r[0] == 0 else None)(shell.run(["cat", path], check=False))  # noqa: E731
    endpoint = kubeletconfig.flag_value(argv[1:], "container-runtime-endpoint") or ""
    daemon = read("/etc/docker/daemon.json")
    if "containerd" in endpoint or (daemon is None and read("/etc/containerd/config.toml") is not None):
        return "containerd", kubeletconfig.containerd_root(read("/etc/containerd/config.toml"))
    return "docker", kubeletconfig.docker_data_root(daemon)


def df(shell: NodeShell, role: str, path: str) -> Filesystem:
    rc, out, err = shell.run(["df", "-P", "-B1", path], check=False)
    if rc != 0:
        raise HarborbookError(f"df {path} failed on the node: {err.strip()[:200]}")
    device, total, available, mount = parse_df(out)
    fs = Filesystem(role, path, device, mount, total, available)
    rc, out, _ = shell.run(["df", "-P", "-i", path], check=False)
    if rc == 0:
        _, inodes, inodes_free, _ = parse_df(out)
        fs.inodes, fs.inodes_free = inodes, inodes_free
    return fs


def observe(kube: Kube, node: str, state: InForce | None, shell: NodeShell | None = None) -> StepResult[Observed]:
    """stats/summary when the node serves it; else df through the node shell."""
    from .clusterview import FLEET, fleet_skip

    if node == FLEET or state is None:
        return fleet_skip("observations")
    status, summary = kube.node_proxy_json(node, "stats/summary")
    if summary:
        observations = observations_from_summary(summary)
        fs, image = (summary.get("node") or {}).get("fs") or {}, ((summary.get("node") or {}).get("runtime") or {}).get("imageFs") or {}
        separate = bool(image) and (fs.get("capacityBytes"), fs.get("availableBytes")) != (
            image.get("capacityBytes"), image.get("availableBytes"))
        observed = Observed(observations, separate, "stats/summary", pods_active=len(summary.get("pods") or []))
        rows: list[dict[str, object]] = [{"role": "nodefs", "filesystem": "node.fs", "size": human(fs.get("capacityBytes") or 0, "x"),
                 "available": human(fs.get("availableBytes") or 0, "x")},
                {"role": "imagefs", "filesystem": "node.runtime.imageFs" if separate else "(= nodefs)",
                 "size": human(image.get("capacityBytes") or 0, "x"), "available": human(image.get("availableBytes") or 0, "x")}]
        return StepResult("observations", Status.OK, f"from stats/summary; imagefs {'separate' if separate else 'is nodefs'}",
                          table=pd.DataFrame(rows), value=observed)
    if shell is None:
        return StepResult("observations", Status.FAILED, f"stats/summary answered {status} and no node shell is configured",
                          hint="set node_pressure.access (ssh, debug-pod or chroot) so df can be read on the node")
    runtime, data_root = runtime_root(shell, state.argv, state.version)
    nodefs = df(shell, "nodefs", state.root_dir)
    try:
        imagefs = df(shell, "imagefs", data_root)
    except HarborbookError:
        imagefs = Filesystem("imagefs", data_root, nodefs.device, nodefs.mount, nodefs.capacity, nodefs.available,
                             nodefs.inodes, nodefs.inodes_free)
    separate = imagefs.mount != nodefs.mount
    observed = Observed(observations_from_df(nodefs.usage(), imagefs.usage() if separate else None), separate,
                        "df through the node shell", [nodefs, imagefs], runtime)
    rows = [{"role": f.role, "directory": f.path, "device": f.device, "mount": f.mount, "size": human(f.capacity, "x"),
             "used %": round(100 * (f.capacity - f.available) / f.capacity, 1) if f.capacity else None,
             "available": human(f.available, "x")} for f in (nodefs, imagefs)]
    summary_text = (f"nodefs {nodefs.mount} ({nodefs.device}) holds the kubelet's {state.root_dir}; imagefs "
                    + (f"{imagefs.mount} ({imagefs.device}) holds {runtime}'s {data_root}: a separate disk, so freeing or "
                       "having space there does nothing for nodefs" if separate else f"is the same filesystem ({runtime} data in {data_root})"))
    return StepResult("observations", Status.OK, summary_text, table=pd.DataFrame(rows), value=observed)
