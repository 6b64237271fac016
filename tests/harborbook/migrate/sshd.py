"""A private OpenSSH sshd on a free loopback port, key-only, for the SSH source's tests.

Like the lab's legacy host (harborlab/legacy_ssh.py) but owned by the test: its own host key,
client key, authorized_keys and known_hosts in a temporary directory. Needs Debian's
openssh-server and root (sshd switches to the logged-in user), hence the ``lab`` marker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harborbook.migrate.sshsource import SshSource
from harborbook.params.sshurl import parse_url
from harborbook.secrets import SecretRef

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    host: str
    port: int
    key: Path  # the client's private key (0600)
    known_hosts: Path
    folder: Path

    def url(self, path: Path | str) -> str:
        return f"ssh://root@{self.host}:{self.port}{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True,
                   timeout=30)


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.makefile("rb").readline(64).startswith(b"SSH-")
    except OSError:
        return False


@contextlib.contextmanager
def sshd(folder: Path) -> Iterator[Sshd]:
    why = ("openssh-server is not installed" if not os.path.exists(SSHD) else
           "ssh-keygen/ssh (openssh-client) are not installed" if not shutil.which("ssh-keygen") else
           "sshd needs root" if os.geteuid() != 0 else None)
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    keygen(folder / "host_key")
    keygen(folder / "client_key")
    port = _free_port()
    (folder / "authorized_keys").write_text("restrict " + (folder / "client_key.pub").read_text())
    host_pub = " ".join((folder / "host_key.pub").read_text().split()[:2])
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    (folder / "sshd_config").write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
        "PidFile none", "AllowTcpForwarding no", "X11Forwarding no", "LogLevel ERROR", ""]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(folder / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while not _banner(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sshd did not start: {(folder / 'sshd.log').read_text()[-500:]}")
            time.sleep(0.05)
        yield Sshd("127.0.0.1", port, folder / "client_key", folder / "known_hosts", folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def connect(server: Sshd, path: Path | str, key: Path | None = None, known_hosts: Path | None = None) -> SshSource:
    """An SSH source for ``path`` on ``server``, with its client key and known_hosts unless given others."""
    return SshSource(parse_url(server.url(path)), SecretRef(f"file:{key or server.key}"),
                     known_hosts or server.known_hosts)
