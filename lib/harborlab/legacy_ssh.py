"""SSH to the legacy Harbor's host: the lab's own sshd, key-only, on loopback.

A real old Harbor is another machine; a migration reaches its ``/data/registry`` over SSH.
The lab runs Debian's OpenSSH ``sshd`` on ``127.0.0.1:<legacy-ssh>`` with its own config,
host key and ``authorized_keys`` (all under ``<state>/legacy/ssh``), so the tree is
``ssh://root@127.0.0.1:<port>/<registry_path>``. The client key is the lab secret
``legacy-ssh-key``; a ``known_hosts`` file for the host key sits next to the config, so
clients can keep ``StrictHostKeyChecking=yes``.

Settings, from sshd_config(5) of OpenSSH 9.2: key-only (``PasswordAuthentication no``,
``KbdInteractiveAuthentication no``, ``PermitRootLogin prohibit-password``), no PAM, no pid file
(``PidFile none``: the system's /run/sshd.pid is not ours), and ``StrictModes no`` because the
lab's state directory may sit under a world-writable directory such as /tmp, which strict mode
refuses for an ``AuthorizedKeysFile`` outside a home. The authorized key carries ``restrict``
(no forwarding, no pty): commands such as ``rsync``, ``cat`` or ``sha256sum`` need none.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from harborlab.errors import LabError

if TYPE_CHECKING:
    from harborlab.lab import Lab

PROCESS = "legacy-sshd"
PORT = "legacy-ssh"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
KEY_SECRET = "legacy-ssh-key"
USER = "root"
# sshd's privilege separation directory (Debian's ssh.service makes it as RuntimeDirectory).
PRIVSEP_DIR = Path("/run/sshd")


def folder(lab: "Lab") -> Path:
    return lab.path("legacy", "ssh")


def known_hosts(lab: "Lab") -> Path:
    return folder(lab) / "known_hosts"


def sshd_config(*, host: str, port: int, host_key: Path, authorized_keys: Path) -> str:
    return "\n".join([
        f"ListenAddress {host}:{port}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized_keys}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "PrintMotd no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "Subsystem sftp internal-sftp",
        "LogLevel INFO",
        "",
    ])


def _keygen(path: Path, comment: str) -> None:
    done = subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"ssh-keygen failed for {path}: {done.stderr.strip()[:200]}")
    os.chmod(path, 0o600)


def prepare(lab: "Lab") -> None:
    """Keys, authorized_keys, known_hosts and the config (existing keys are kept)."""
    ssh = folder(lab)
    ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh, 0o700)
    host_key = ssh / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key, "harborlab-legacy-host")
    client_key = lab.secret(KEY_SECRET)
    if not client_key.exists():
        lab.prepare()
        _keygen(client_key, "harborlab-legacy-client")
    client_pub = Path(f"{client_key}.pub").read_text().strip()
    authorized = ssh / "authorized_keys"
    authorized.write_text(f"restrict {client_pub}\n")
    os.chmod(authorized, 0o600)
    port = lab.ports[PORT]
    host_pub = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
    known_hosts(lab).write_text(f"[{lab.host}]:{port} {host_pub}\n")
    (ssh / "sshd_config").write_text(sshd_config(host=lab.host, port=port, host_key=host_key,
                                                 authorized_keys=authorized))


def banner(host: str, port: int, timeout: float = 3) -> str | None:
    """The server's identification line (RFC 4253 4.2), or None when nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            line = conn.makefile("rb").readline(256)
    except OSError:
        return None
    text = line.decode(errors="replace").strip()
    return text if text.startswith("SSH-") else None


def start(lab: "Lab") -> int:
    prepare(lab)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    pid = lab.spawn(PROCESS, [SSHD, "-D", "-e", "-f", str(folder(lab) / "sshd_config")])
    port = lab.ports[PORT]
    lab.wait_for(f"the legacy host's sshd on {lab.host}:{port}", lambda: banner(lab.host, port) is not None,
                 15, log=PROCESS)
    return pid


def record(lab: "Lab", registry_path: Path) -> dict:
    port = lab.ports[PORT]
    return {
        "url": f"ssh://{USER}@{lab.host}:{port}{registry_path}",
        "host": lab.host,
        "port": port,
        "user": USER,
        "key_file": str(lab.secret(KEY_SECRET)),
        "known_hosts": str(known_hosts(lab)),
        "pid": lab.pid(PROCESS),
    }


__all__ = ["PORT", "PROCESS", "banner", "known_hosts", "prepare", "record", "sshd_config", "start"]
