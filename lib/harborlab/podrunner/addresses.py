"""Pod IPs: one loopback address per pod from 127.77.0.0/16.

Several labs (a developer's, a test run's) may share the machine, so each runner starts its
cursor at an offset derived from its state directory, skips addresses another process already
listens on, and does not hand out an address again until the cursor has gone round the block
(like a CNI's IPAM, which avoids reusing a just-freed IP).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path
from typing import Callable, Container

POD_NETWORK = ipaddress.ip_network("127.77.0.0/16")
# .0 and .255 of each /24 are avoided: some programs treat them as network/broadcast addresses.
_USABLE = [int(ip) for ip in POD_NETWORK.hosts() if int(ip) & 0xFF not in (0, 255)]


def first_cursor(state_key: str) -> int:
    """Where a runner with this state directory starts allocating."""
    return int.from_bytes(hashlib.sha256(state_key.encode()).digest()[:4], "big") % len(_USABLE)


def allocate(cursor: int, taken: Container[str], busy: Callable[[str], bool]) -> tuple[str, int]:
    """(address, next cursor): the first usable address from ``cursor`` that is neither ``taken``
    by one of our pods nor ``busy`` (someone listens on it)."""
    for step in range(len(_USABLE)):
        index = (cursor + step) % len(_USABLE)
        address = str(ipaddress.ip_address(_USABLE[index]))
        if address not in taken and not busy(address):
            return address, (index + 1) % len(_USABLE)
    raise RuntimeError(f"no free pod address left in {POD_NETWORK}")


def in_pod_network(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in POD_NETWORK
    except ValueError:
        return False


def port_clash(listening, ports, address: str, holder_of: Callable[[int], "tuple[int, str] | None"]) -> str | None:
    """Why the program cannot bind its ports on ``address`` (naming the port and who holds it),
    or None. ``listening`` are :class:`harborlab.procs.Listener`s; a wildcard listener on the
    same port clashes too."""
    wild = {"0.0.0.0", "::", address, "::ffff:" + address}
    for port in ports:
        busy = [item for item in listening if item.port == port and item.host in wild]
        if busy:
            holder = holder_of(busy[0].inode)
            who = f" by {holder[1]} (pid {holder[0]})" if holder else ""
            return f"port {address}:{port} is already in use{who}"
    return None


def socket_holder(inode: int) -> "tuple[int, str] | None":
    """(pid, command) of the process owning socket ``inode``.

    Like :func:`harborlab.procs.socket_holder`, but an fd that vanishes while a process's fd
    directory is read (the scanning process's own directory handle is always one) skips that
    fd, not the whole process: otherwise a holder that is this very process goes unnamed."""
    needle = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == needle:
                    return int(entry.name), (entry / "comm").read_text().strip()
            except OSError:
                continue
    return None
