"""The node shell a params file asks for (node_pressure.access), for one node."""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING

from .base import NodeShell
from .chroot import ChrootShell
from .debugpod import DebugPodShell
from .ssh import SshShell

if TYPE_CHECKING:
    from ..kube import Kube
    from ..params.models import Access


def for_node(access: Access | None, node: str, kube: Kube | None = None) -> NodeShell | None:
    """A shell on ``node`` through the configured transport; None without access or for the fleet.

    A debug pod is deleted when the shell is closed, and at the latest when the process exits
    (a notebook stopped by a failing cell still shuts its kernel down).
    """
    if access is None or node == "all":
        return None
    if access.kind == "chroot":
        return ChrootShell(node, str(access.root).replace("{node}", node))
    if access.kind == "ssh":
        return SshShell(node, access.host.replace("{node}", node), user=access.user, port=access.port,
                        identity_file=str(access.identity_file) if access.identity_file else None,
                        known_hosts=str(access.known_hosts) if access.known_hosts else None)
    if kube is None:
        raise ValueError("the debug-pod node shell needs the Kubernetes connection")
    shell = DebugPodShell(node, kube.api, namespace=access.namespace, image=access.image,
                          privileged=access.privileged, start_timeout=access.timeout)
    atexit.register(shell.close)
    return shell
