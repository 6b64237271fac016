"""The chroot transport: a node's root directory on this machine (the lab's nodes; also a node's
disk mounted on a rescue machine). Commands run as ``chroot ROOT CMD`` with root's standard PATH."""

from __future__ import annotations

import os
import subprocess
from typing import Callable, Sequence
import time

from .base import NodeShell, NodeShellError, Result

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ChrootShell(NodeShell):
    transport = "chroot"

    def __init__(self, node: str, root: str, timeout: float = 120.0, clock: Callable[[], float] = time.time):
        super().__init__(node, clock)
        if not os.path.isdir(root):
            raise NodeShellError(f"{node}: the node root {root} is not a directory",
                                 hint="mount the node's disk there, or set node_pressure.access.root")
        self.root, self.timeout = root, timeout

    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> Result:
        env = {"PATH": PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/root"}
        try:
            done = subprocess.run(["chroot", self.root, *argv], input=stdin or b"", capture_output=True,
                                  timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired:
            raise NodeShellError(f"{self.node}: `{' '.join(argv)}` did not finish within {self.timeout:.0f}s") from None
        except OSError as exc:
            raise NodeShellError(f"{self.node}: cannot run chroot: {exc.strerror}", hint="the chroot shell needs root") from None
        return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
