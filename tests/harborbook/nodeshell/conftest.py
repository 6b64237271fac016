import os
import shutil
import socket
import subprocess
import time

import pytest

from harborbook.nodeshell import ChrootShell, DebugPodShell, SshShell
from tests.support.labnodes import start, stop

NODE = "lab-node-2"


@pytest.fixture(scope="module")
def lab_nodes(tmp_path_factory):
    nodes = start(tmp_path_factory.mktemp("lab"), "article")
    try:
        yield nodes
    finally:
        stop(nodes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd on loopback with its own host key and a test key for root; stopped by PID."""
    if os.geteuid() != 0 or not shutil.which("sshd"):
        pytest.skip("the ssh contract needs root and sshd")
    home = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "client_key")], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    os.chmod(home / "authorized_keys", 0o600)
    port = _free_port()
    (home / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home / 'host_key'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(home / "sshd_config")],
                            stderr=open(home / "sshd.log", "wb"), start_new_session=True)
    host_pub = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield home, port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["chroot", "ssh", "debug-pod"])
def shell(request, tmp_path):
    """(shell, a scratch directory as the node sees it) for each transport."""
    if request.param == "ssh":
        home, port = request.getfixturevalue("sshd")
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        yield SshShell("localhost", "127.0.0.1", port=port, identity_file=str(home / "client_key"),
                       known_hosts=str(home / "known_hosts")), str(scratch)
        return
    nodes = request.getfixturevalue("lab_nodes")
    scratch = f"/tmp/contract-{request.param}-{os.getpid()}"
    (nodes.root(NODE) / scratch.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if request.param == "chroot":
        yield ChrootShell(NODE, str(nodes.root(NODE))), scratch
        return
    with DebugPodShell(NODE, nodes.api().api_client, start_timeout=20) as debug:
        yield debug, scratch
