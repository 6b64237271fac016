"""Lab scenarios on the node roots: ``disk-pressure`` fills a node's root filesystem with real files
(rotated logs under /var/log, an archived journal, unused image layers when the image store shares
the root) to a requested use, as on the reference node (root at 92%, the image disk nearly
empty); ``clear`` removes what the scenario wrote (whatever a cleanup left).

The plan is a pure function of the numbers; the files are allocated for real (``fallocate``), so
statvfs, ``df`` and the kubelet simulator all see the same use.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harborlab.lab import LabError
from harborlab.nodes import files
from harborlab.nodes.bin import nodeclient
from harborlab.nodes.layout import NODE_NAMES, NodeLayout, layouts

MANIFEST = "var/lib/harborlab/scenario.json"
# Where the filler goes, as shares of the bytes to write: policy as data.
SHARES_SEPARATE_IMAGEFS = (("log", 0.55), ("journal", 0.45))
SHARES_SHARED_IMAGEFS = (("log", 0.40), ("journal", 0.35), ("image", 0.25))
LOG_NAMES = ("syslog.2.gz", "syslog.3.gz", "kern.log.1", "daemon.log.1", "syslog.4.gz", "messages.1")
DATA_DISK_LAYER = 8 * 1024 * 1024     # the image disk stays nearly empty: one small unused layer
SLACK_BLOCKS = 8                      # per file: extent blocks and rounding


@dataclass(frozen=True)
class Piece:
    kind: str          # "log" | "journal" | "image"
    path: str          # inside the node
    size: int


def parse_used(text: str) -> float:
    value = text.strip().rstrip("%")
    try:
        used = float(value)
    except ValueError:
        raise LabError(f"--used {text!r} is not a percentage", hint="e.g. --used 92%") from None
    if not 1 <= used <= 99:
        raise LabError(f"--used {text} is out of range", hint="between 1% and 99%")
    return used


def bytes_to_fill(used: int, available: int, target_percent: float, block: int) -> int:
    """Bytes to write so that df's Use% (used / (used + avail), rounded up) reaches the target."""
    total = used + available
    wanted = math.ceil(total * target_percent / 100)
    return max(0, wanted - used + block)


def plan(amount: int, shared_image_store: bool, image_root: str, runtime: str, machine_id: str,
         block: int) -> list[Piece]:
    """Split ``amount`` bytes over the scenario's files (sizes rounded to blocks)."""
    shares = SHARES_SHARED_IMAGEFS if shared_image_store else SHARES_SEPARATE_IMAGEFS
    pieces: list[Piece] = []
    for kind, share in shares:
        part = int(amount * share)
        if kind == "log":
            count = len(LOG_NAMES)
            pieces += [Piece(kind, f"/var/log/{name}", part // count) for name in LOG_NAMES]
        elif kind == "journal":
            pieces.append(Piece(kind, f"/var/log/journal/{machine_id}/system@00058f2e8c1b5e3a-0123456789abcdef.journal~",
                                part))
        else:
            layers = f"{image_root}/{nodeclient.LAYER_DIRS[runtime]}"
            pieces += [Piece(kind, f"{layers}/{i:064x}/layer.tar", part // 3) for i in range(0xa1, 0xa4)]
    return [Piece(p.kind, p.path, max(block, p.size - p.size % block - SLACK_BLOCKS * block)) for p in pieces]


def _allocate(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except OSError as exc:
            raise LabError(f"cannot allocate {size} bytes for {path}: {exc.strerror}",
                           hint="the node's disk is smaller than the scenario asks; use a lower --used") from None


def _mark_layer(path: Path) -> None:
    (path.parent / nodeclient.UNUSED_MARKER).write_text("unused image layer (harborlab scenario)\n")


def _node(state: Path, name: str) -> NodeLayout:
    if name not in NODE_NAMES:
        raise LabError(f"unknown lab node {name!r}", hint=f"one of: {', '.join(NODE_NAMES)}")
    node = next(n for n in layouts(state) if n.name == name)
    if not os.path.ismount(node.root):
        raise LabError(f"the root of {name} is not mounted at {node.root}", hint="run `harborbook lab up` first")
    return node


# The kubelet's own files on a lab node: what a fix of 06 edits, and what a reset puts back.
KUBELET_FILES_PREFIXES = ("/lib/systemd/system/kubelet", "/etc/systemd/system/kubelet.service.d/",
                          "/var/lib/kubelet/", "/etc/default/kubelet")


def reset_kubelet(state: Path, name: str) -> list[str]:
    """Put ``name``'s kubelet back as provisioned: its unit, drop-ins and config rewritten, drop-ins
    added since removed (backups beside them stay), then daemon-reload and restart through the
    node's systemctl — so the reference incident can be staged again after a fix."""
    node = _node(state, name)
    profile = json.loads((Path(state) / "nodes" / "settings.json").read_text()).get("profile", "article")
    wanted = {path: text for path, text in files.node_files(profile, name, node.has_data_disk).items()
              if path.startswith(KUBELET_FILES_PREFIXES)}
    changed = []
    dropins = node.inside("/etc/systemd/system/kubelet.service.d")
    for extra in sorted(dropins.glob("*.conf")) if dropins.is_dir() else []:
        inside = "/" + extra.relative_to(node.root).as_posix()
        if inside not in wanted:
            extra.unlink()
            changed.append(inside)
    for path, text in wanted.items():
        target = node.inside(path)
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(path)
    if changed:
        socket_file = str(node.inside(nodeclient.SOCKET_NAME_FILE))
        try:
            for command in ({"cmd": "daemon-reload", "units": []}, {"cmd": "restart", "units": ["kubelet.service"]}):
                answer = nodeclient.request(command, name_file=socket_file)
                if answer.get("rc"):
                    raise LabError(f"{name}: systemctl {command['cmd']} failed: {answer.get('stderr', '').strip()}")
        except OSError as exc:
            raise LabError(f"{name}: its kubelet does not answer ({exc.strerror or exc})",
                           hint="run `harborbook lab up` first") from None
    return changed


def disk_pressure(state: Path, name: str = "lab-node-3", used: str = "92%", reset: bool = False) -> dict:
    """Fill ``name``'s root to ``used``; returns what was written and df's numbers after.

    With ``reset``, first undo what an earlier run did on the node (a cleanup's leftovers, a
    changed kubelet), so the incident is the reference one every time."""
    if reset:
        clear(state, name)
        reset_kubelet(state, name)
    node = _node(state, name)
    target = parse_used(used)
    profile = json.loads((Path(state) / "nodes" / "settings.json").read_text()).get("profile", "article")
    runtime = "docker" if profile == "article" else "containerd"
    image_root = files.runtime_root(profile, node.has_data_disk)
    shared = os.stat(node.inside(image_root)).st_dev == os.stat(node.root).st_dev
    st = os.statvfs(node.root)
    amount = bytes_to_fill((st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize, target, st.f_frsize)
    machine_id = (node.inside("/etc/machine-id").read_text().strip() if node.inside("/etc/machine-id").exists()
                  else "0" * 32)
    pieces = plan(amount, shared, image_root, runtime, machine_id, st.f_frsize)
    if not shared and node.has_data_disk:
        layer = f"{image_root}/{nodeclient.LAYER_DIRS[runtime]}/{0xd1:064x}/layer.tar"
        pieces.append(Piece("image", layer, DATA_DISK_LAYER))
    written = []
    for piece in pieces:
        target_path = node.inside(piece.path)
        _allocate(target_path, piece.size)
        if piece.kind == "image":
            _mark_layer(target_path)
        written.append(piece.path)
    manifest = node.root / MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"files": written}, indent=1) + "\n")
    after = os.statvfs(node.root)
    use = 100 * (after.f_blocks - after.f_bfree) / (after.f_blocks - after.f_bfree + after.f_bavail)
    return {"node": name, "files": written, "used_percent": math.ceil(use),
            "available_bytes": after.f_bavail * after.f_frsize, "capacity_bytes": after.f_blocks * after.f_frsize}


def clear(state: Path, name: str | None = None) -> list[str]:
    """Remove the scenario's files from one node (or every node); returns the paths removed."""
    removed = []
    for node in layouts(state):
        if name not in (None, node.name) or not os.path.ismount(node.root):
            continue
        manifest = node.root / MANIFEST
        if not manifest.exists():
            continue
        for path in json.loads(manifest.read_text()).get("files", []):
            target = node.inside(path)
            if target.parent.joinpath(nodeclient.UNUSED_MARKER).exists():
                shutil.rmtree(target.parent, ignore_errors=True)
            elif target.exists():
                target.unlink()
            else:
                continue
            removed.append(f"{node.name}:{path}")
        manifest.unlink()
    return removed
