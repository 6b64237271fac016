"""``ssh://user@host[:port]/path``: where a tree lives on another host, parsed and checked.

Checked strictly because its parts end up as ssh's arguments: a user or host starting with '-'
would be read as an option, a password in the URL would be written into every output.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class SshLocation:
    """``ssh://user@host[:port]/path``, parsed and checked."""

    user: str
    host: str  # an IPv6 address keeps its brackets
    port: int
    path: str  # absolute, normalised

    def __str__(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}{self.path}"

    @property
    def address(self) -> str:
        return self.host.strip("[]")

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host (``[host]:port`` unless the port is 22)."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


def parse_url(text: str) -> SshLocation:
    """An ``ssh://`` URL, or a ValueError saying what is wrong (never echoing a password)."""
    if not text.startswith("ssh://"):
        raise ValueError("expected ssh://user@host[:port]/path")
    rest = text[len("ssh://"):]
    authority, slash, path = rest.partition("/")
    if not slash:
        raise ValueError("an ssh:// registry needs the path of the registry tree on the old host, "
                         "e.g. ssh://root@old-harbor/data/registry")
    user, at, hostport = authority.rpartition("@")
    if not at or not user:
        raise ValueError("an ssh:// registry names the user: ssh://user@host[:port]/path")
    if ":" in user:
        raise ValueError("a password in the URL is not allowed: give the key with migrate.source.ssh_key")
    if not _USER.fullmatch(user):
        raise ValueError(f"{user!r} is not a user name (letters, digits, '_', '.', '-'; not starting with '-')")
    if hostport.startswith("["):
        end = hostport.find("]") + 1
        host, rest = hostport[:end], hostport[end:]
        if not end or not _IPV6.fullmatch(host) or (rest and not rest.startswith(":")):
            raise ValueError(f"{hostport!r} is not a host name or [IPv6 address]")
        colon, port_text = rest[:1], rest[1:]
    else:
        host, colon, port_text = hostport.partition(":")
        if not _HOST.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name or address")
    if colon and not port_text:
        raise ValueError("an empty port after ':'")
    port = 22
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{port_text!r} is not a port (1-65535)")
        port = int(port_text)
    path = "/" + path
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        raise ValueError("the path holds control characters")
    if any(part == ".." for part in path.split("/")):
        raise ValueError("'..' is not allowed in the path")
    path = "/" + posixpath.normpath(path).lstrip("/")
    return SshLocation(user, host, port, path)
