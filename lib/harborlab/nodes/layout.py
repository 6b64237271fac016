"""Where each lab node lives: its images, its root tree, its mounts, and the lab settings the
kubelet simulator reads. Vocabulary only (paths and tables), no I/O beyond reading settings.

Layout under the lab state directory::

    nodes/settings.json              housekeeping/transition/restart periods, profile, node list
    nodes/<name>/root.img            ext4 image of the node's /           (loop-mounted)
    nodes/<name>/data.img            lab-node-3 only: the second disk     (loop-mounted at /data)
    nodes/<name>/root/               the node's / (mount point)
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

NODE_NAMES = ("lab-node-1", "lab-node-2", "lab-node-3")
# The reference node had Docker's data moved to a second disk; lab-node-3 reproduces it.
DATA_DISK_NODES = frozenset({"lab-node-3"})
DATA_MOUNT = "/data"

DEFAULT_ROOT_MIB = 256
DEFAULT_DATA_MIB = 512
DEFAULT_HOUSEKEEPING = 10.0      # the kubelet's housekeeping period
DEFAULT_RESTART_SEC = 10.0       # RestartSec= of the kubelet unit

# Lab programs written into the node's /usr/local/bin (a node-owned bind over the host's); the
# two systemd ones are also bound over the host's /usr/bin copies so absolute paths hit them too.
LAB_PROGRAMS = ("systemctl", "journalctl", "crictl", "docker")
SHADOWED = ("/usr/bin/systemctl", "/usr/bin/journalctl")

# Inside the root: the simulator's journal and the control socket's name file.
JOURNAL_PATH = "/var/lib/harborlab/journal/kubelet.jsonl"
SOCKET_NAME_PATH = "/etc/harborlab/kubelet-socket"
HOSTNAME_PATH = "/etc/hostname"


@dataclass(frozen=True)
class NodeLayout:
    name: str
    home: Path          # <state>/nodes/<name>

    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def root_image(self) -> Path:
        return self.home / "root.img"

    @property
    def data_image(self) -> Path:
        return self.home / "data.img"

    @property
    def has_data_disk(self) -> bool:
        return self.name in DATA_DISK_NODES

    def inside(self, path: str) -> Path:
        """The host path of ``path`` as seen inside the node (``/etc/x`` -> ``<root>/etc/x``)."""
        return self.root / posixpath.normpath("/" + path).lstrip("/")

    def mount_points(self) -> list[Path]:
        """Every mount of the node, in mount order (unmount in reverse)."""
        points = [self.root]
        if self.has_data_disk:
            points.append(self.inside(DATA_MOUNT))
        points += [self.inside("/usr"), self.inside("/usr/local")]
        points += [self.inside(p) for p in SHADOWED]
        points.append(self.inside("/proc"))
        return points


def layouts(state: Path, names: tuple[str, ...] = NODE_NAMES) -> list[NodeLayout]:
    return [NodeLayout(name, Path(state) / "nodes" / name) for name in names]


def settings_path(state: Path) -> Path:
    return Path(state) / "nodes" / "settings.json"


@dataclass(frozen=True)
class Settings:
    """What the kubelet simulators need to know, written by ``NodeRoots.up``."""

    profile: str
    nodes: dict[str, str]                 # name -> root path
    housekeeping: float = DEFAULT_HOUSEKEEPING
    transition: float | None = None       # replaces the 5m default when set (lab tests: ~2 s)
    restart_sec: float = DEFAULT_RESTART_SEC

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def settings_from_options(profile: str, options: dict, roots: dict[str, str]) -> Settings:
    """Lab options (``Lab(..., kubelet_housekeeping=1, kubelet_transition=2)``) to settings."""
    housekeeping = float(options.get("kubelet_housekeeping") or DEFAULT_HOUSEKEEPING)
    transition = options.get("kubelet_transition")
    restart = options.get("kubelet_restart_sec")
    return Settings(profile, roots, housekeeping, float(transition) if transition else None,
                    float(restart) if restart else min(DEFAULT_RESTART_SEC, housekeeping))
