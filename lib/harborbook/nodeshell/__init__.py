"""Node shells: one interface (``run``, ``read``, ``write`` with atomic writes and backups) over
three transports -- ``ssh``, ``debug-pod`` and ``chroot`` -- so the disk-pressure runbook runs the
same code on any node."""

from .base import NodeShell, NodeShellError, backup_path
from .chroot import ChrootShell
from .debugpod import DebugPodShell, debug_pod_manifest
from .select import for_node
from .ssh import SshShell

__all__ = ["ChrootShell", "DebugPodShell", "NodeShell", "NodeShellError", "SshShell", "backup_path",
           "debug_pod_manifest", "for_node"]
