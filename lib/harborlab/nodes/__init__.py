"""Lab nodes on real filesystems: loop-mounted ext4 roots with the kubelet's files per profile,
lab-node-3's second disk at /data, and the lab programs that talk to each node's kubelet simulator.
"""

from .component import NodeRoots
from .layout import NODE_NAMES, NodeLayout, Settings, layouts, settings_path

__all__ = ["NODE_NAMES", "NodeLayout", "NodeRoots", "Settings", "layouts", "settings_path"]
