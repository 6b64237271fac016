"""``NodeRoots``: the lab nodes' root filesystems as a lab component.

``up`` (idempotent) per node: create the ext4 image(s) if missing, loop-mount the root (and
lab-node-3's second disk at /data), provision the skeleton and the profile's kubelet files (only
files that do not exist yet, so an operator's edits survive an ``up``), bind the host's /usr
read-only (the host is merged-/usr: /bin and /lib64 are symlinks into it, /lib is the node's own
so that /lib/systemd/system can hold the kubelet unit), bind the node-owned /usr/local over the
host's (the lab programs come first in PATH), bind the lab systemctl/journalctl over the host's
copies, and bind /proc read-only so ``chroot <root> df -P /`` works for real.
``down`` unmounts in reverse order; the kubelet simulators live in the API emulator and keep no
file open on a node, so nothing holds the mounts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harborlab.component import DOWN, OK, RUNNING, STARTED, REPAIRED, StatusRow

from . import files, mounts
from .bin import __file__ as _bin_init
from .layout import (DATA_MOUNT, LAB_PROGRAMS, SHADOWED, SOCKET_NAME_PATH, NodeLayout, layouts,
                     settings_from_options, settings_path, DEFAULT_DATA_MIB, DEFAULT_ROOT_MIB)

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "nodes"
BIN_DIR = Path(_bin_init).parent
PROGRAM_SOURCES = {"systemctl": "systemctl.py", "journalctl": "journalctl.py", "crictl": "images.py",
                   "docker": "images.py", "nodeclient.py": "nodeclient.py"}


def provision(node: NodeLayout, profile: str, runtime_root: str) -> None:
    """Skeleton, kubelet files and lab programs inside a mounted root (existing files are kept)."""
    root = node.root
    for directory in files.DIRECTORIES:
        (root / directory).mkdir(parents=True, exist_ok=True)
    for link, target in files.SYMLINKS.items():
        path = root / link
        if not path.is_symlink() and not path.exists():
            path.symlink_to(target)
    (root / "tmp").chmod(0o1777)
    (root / runtime_root.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path, text in files.node_files(profile, node.name, node.has_data_disk).items():
        target = node.inside(path)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    socket_file = node.inside(SOCKET_NAME_PATH)
    if not socket_file.exists():
        # A per-lab random part: two labs (or test runs) never share a simulator's socket.
        socket_file.write_text(f"harborlab-kubelet-{node.name}-{secrets.token_hex(6)}\n")
    local_bin = node.home / "usr-local" / "bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    (node.home / "usr-local" / "sbin").mkdir(exist_ok=True)
    for program, source in PROGRAM_SOURCES.items():
        target = local_bin / program
        shutil.copyfile(BIN_DIR / source, target)
        target.chmod(0o755 if program in LAB_PROGRAMS else 0o644)
    null = root / "dev" / "null"
    if not null.exists():
        os.mknod(null, 0o666 | 0o020000, os.makedev(1, 3))


def mount_node(node: NodeLayout, profile: str, root_mib: int, data_mib: int) -> int:
    """Create and mount everything of one node; returns how many mounts were already there."""
    present = sum(1 for p in node.mount_points() if mounts.is_mounted(p))
    mounts.make_image(node.root_image, root_mib, node.name)
    mounts.mount_image(node.root_image, node.root)
    if node.has_data_disk:
        mounts.make_image(node.data_image, data_mib, node.name + "-data")
        mounts.mount_image(node.data_image, node.inside(DATA_MOUNT))
    runtime_root = files.runtime_root(profile, node.has_data_disk)
    provision(node, profile, runtime_root)
    mounts.bind(Path("/usr"), node.inside("/usr"), read_only=True)
    mounts.bind(node.home / "usr-local", node.inside("/usr/local"), read_only=False)
    for path in SHADOWED:
        mounts.bind(node.home / "usr-local" / "bin" / Path(path).name, node.inside(path), read_only=True)
    mounts.bind(Path("/proc"), node.inside("/proc"), read_only=True)
    return present


def unmount_node(node: NodeLayout) -> list[str]:
    """Unmount in reverse order; returns the problems (the rest is still attempted)."""
    problems = []
    for point in reversed(node.mount_points()):
        try:
            mounts.unmount(point)
        except Exception as exc:  # noqa: BLE001 - report and go on: down must release the rest
            problems.append(str(exc))
    return problems


class NodeRoots:
    """The lab component; the lead adds it to the default list before the kube API emulator."""

    name = NAME

    def __init__(self, names: tuple[str, ...] | None = None):
        self.names = names

    def _nodes(self, lab: "Lab") -> list[NodeLayout]:
        return layouts(lab.state, self.names) if self.names else layouts(lab.state)

    def up(self, lab: "Lab") -> str:
        started = time.monotonic()
        nodes = self._nodes(lab)
        total = sum(len(n.mount_points()) for n in nodes)
        present = 0
        root_mib = int(lab.options.get("node_root_mib") or DEFAULT_ROOT_MIB)
        data_mib = int(lab.options.get("node_data_mib") or DEFAULT_DATA_MIB)
        for node in nodes:
            present += mount_node(node, lab.profile, root_mib, data_mib)
        settings = settings_from_options(lab.profile, lab.options, {n.name: str(n.root) for n in nodes})
        path = settings_path(lab.state)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(settings.to_json())
        os.replace(tmp, path)
        lab.record(NAME, {"nodes": {n.name: {"root": str(n.root), "data": str(n.inside(DATA_MOUNT))
                                             if n.has_data_disk else None} for n in nodes},
                          "settings": str(path), "up_seconds": round(time.monotonic() - started, 3)})
        return STARTED if present == 0 else RUNNING if present == total else REPAIRED

    def status(self, lab: "Lab") -> list[StatusRow]:
        rows = []
        for node in self._nodes(lab):
            missing = [str(p) for p in node.mount_points() if not mounts.is_mounted(p)]
            if missing:
                rows.append(StatusRow(f"node-{node.name}", None, str(node.root), DOWN,
                                      f"not mounted: {', '.join(Path(m).name for m in missing)}"))
                continue
            stat = os.statvfs(node.root)
            used = 100 * (stat.f_blocks - stat.f_bfree) / max(1, stat.f_blocks - stat.f_bfree + stat.f_bavail)
            rows.append(StatusRow(f"node-{node.name}", None, str(node.root), OK,
                                  f"/ {used:.0f}% used, {stat.f_bavail * stat.f_frsize // 2**20} MiB available"))
        return rows

    def down(self, lab: "Lab") -> None:
        problems = []
        for node in self._nodes(lab):
            problems += unmount_node(node)
        if problems:
            from harborlab.lab import LabError
            raise LabError("node roots left mounted: " + "; ".join(problems),
                           hint="stop the processes using them (fuser -vm PATH), then lab down again")
