"""The SSH transport: the OpenSSH client with host keys checked against a known_hosts file (never
accepted blindly), key or agent authentication, and ``sudo -n`` when the login is not root."""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Callable, Sequence

from .base import NodeShell, NodeShellError, Result


class SshShell(NodeShell):
    transport = "ssh"

    def __init__(self, node: str, host: str, *, user: str = "root", port: int = 22,
                 identity_file: str | None = None, known_hosts: str | None = None,
                 timeout: float = 120.0, clock: Callable[[], float] = time.time):
        super().__init__(node, clock)
        self.host, self.user, self.port = host, user, port
        self.identity_file, self.known_hosts, self.timeout = identity_file, known_hosts, timeout

    def ssh_argv(self) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR", "-p", str(self.port)]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
        if self.identity_file:
            argv += ["-i", self.identity_file, "-o", "IdentitiesOnly=yes"]
        return argv + [f"{self.user}@{self.host}", "--"]

    def remote_command(self, argv: Sequence[str]) -> str:
        words = list(argv) if self.user == "root" else ["sudo", "-n", "--", *argv]
        return shlex.join(words)

    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> Result:
        try:
            done = subprocess.run(self.ssh_argv() + [self.remote_command(argv)], input=stdin or b"",
                                  capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise NodeShellError(f"{self.node}: ssh `{' '.join(argv)}` did not finish within {self.timeout:.0f}s") from None
        except OSError as exc:
            raise NodeShellError(f"{self.node}: cannot run ssh: {exc.strerror}", hint="install openssh-client") from None
        err = done.stderr.decode(errors="replace")
        if done.returncode == 255:      # ssh's own failure: unreachable, host key, authentication
            raise NodeShellError(f"{self.node}: ssh to {self.user}@{self.host}:{self.port} failed: "
                                 f"{err.strip().splitlines()[-1] if err.strip() else 'exit status 255'}",
                                 hint="check the host key in known_hosts and the key or agent used")
        return done.returncode, done.stdout.decode(errors="replace"), err
