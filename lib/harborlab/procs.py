"""Processes and listening sockets, seen through /proc.

The lab stops only what it started, by PID. A PID alone is not proof of
identity (PIDs are reused), so next to each pid file the lab keeps the
process's start time from /proc/<pid>/stat, and ``is_ours`` checks both before
anything is signalled. Daemons also carry ``HARBORLAB_ID=<state>:<name>`` in
their environment, for people reading /proc.

Parsing of /proc files is kept in pure functions so it can be tested on text.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MARKER_VAR = "HARBORLAB_ID"

# Popen objects of the daemons this Python process started. Keeping them lets a
# dead child be reaped (no zombie that looks alive to kill(pid, 0)) and stops
# Popen.__del__ from warning about a still-running child.
_CHILDREN: dict[int, subprocess.Popen] = {}

TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket from /proc/net/tcp{,6}."""

    host: str
    port: int
    inode: int


def marker(state: Path, name: str) -> str:
    return f"{state.resolve()}:{name}"


def remember(proc: subprocess.Popen) -> None:
    _CHILDREN[proc.pid] = proc


def reap(pid: int) -> None:
    """Collect the exit status of our own dead child so it stops looking alive."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def proc_state(stat_text: str) -> str:
    """The one-letter state from /proc/<pid>/stat text (comm may hold spaces or parens)."""
    return stat_text[stat_text.rindex(")") + 2]


def alive(pid: int) -> bool:
    """True when pid is a live process (zombies count as dead)."""
    reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return proc_state(stat) not in ("Z", "X")


def start_ticks(stat_text: str) -> int:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.

    A (pid, start time) pair names one process for good, even after the pid is
    reused; unlike the environment it survives daemons that rewrite their
    argv/environ area for a process title (redis-server does).
    """
    return int(stat_text[stat_text.rindex(")") + 2 :].split()[19])


def started_at(pid: int) -> int | None:
    try:
        return start_ticks(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def environ_has(environ: bytes, var: str, value: str) -> bool:
    return f"{var}={value}".encode() in environ.split(b"\0")


def is_ours(pid: int, ticks: int | None) -> bool:
    """pid is alive and is the very process started at ``ticks``."""
    return ticks is not None and alive(pid) and started_at(pid) == ticks


def signal_and_wait(pid: int, timeout: float) -> bool:
    """SIGTERM pid, wait up to timeout, then SIGKILL pid and its process group.

    The group goes too because daemons spawned in their own session (rsync SST
    helpers of mariadbd, for instance) must not outlive them. Returns True when
    SIGKILL was needed.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_dead(pid, timeout):
        _kill_group_leftovers(pid)
        return False
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    wait_dead(pid, 5)
    return True


def _kill_group_leftovers(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return not alive(pid)


def _hex_to_ipv4(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    return ".".join(str(b) for b in reversed(raw))


def _hex_to_ipv6(hex_addr: str) -> str:
    # /proc stores the address as four host-order (little-endian) 32-bit words.
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def parse_net_tcp(text: str, ipv6: bool = False) -> list[Listener]:
    """Listening sockets from the text of /proc/net/tcp (or tcp6 with ipv6=True)."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        addr, port_hex = fields[1].rsplit(":", 1)
        host = _hex_to_ipv6(addr) if ipv6 else _hex_to_ipv4(addr)
        found.append(Listener(host=host, port=int(port_hex, 16), inode=int(fields[9])))
    return found


def listeners() -> list[Listener]:
    result = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            result += parse_net_tcp(Path(path).read_text(), ipv6=v6)
        except FileNotFoundError:
            pass
    return result


def conflicts(listening: list[Listener], port: int, host: str) -> list[Listener]:
    """Listeners that stop us binding host:port (same port on host or a wildcard)."""
    wild = {"0.0.0.0", "::", host, "::ffff:" + host}
    return [item for item in listening if item.port == port and item.host in wild]


def socket_holder(inode: int) -> tuple[int, str] | None:
    """(pid, command) of the process owning socket inode, when visible."""
    needle = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == needle:
                    comm = (entry / "comm").read_text().strip()
                    return int(entry.name), comm
        except OSError:
            continue
    return None


def ports_listened_by(pids: set[int]) -> list[int]:
    """Ports on which any of pids is still listening (used to prove a clean down)."""
    inodes = {item.inode: item.port for item in listeners()}
    ports = []
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in inodes:
                        ports.append(inodes[inode])
        except OSError:
            continue
    return sorted(set(ports))


def parse_mounts(text: str) -> dict[str, str]:
    """mountpoint -> fstype from /proc/self/mounts text (octal escapes decoded)."""
    mounts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = fields[1].encode().decode("unicode_escape")
            mounts[point] = fields[2]
    return mounts


def mount_type(path: Path) -> str | None:
    return parse_mounts(Path("/proc/self/mounts").read_text()).get(str(path))
