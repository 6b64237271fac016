"""``_REDIS_URL`` read the way Harbor 1.2's ui reads it: as beego's redis session "save path".

Written from the sources Harbor v1.2.0 builds with (beego v1.6.1, per src/vendor/vendor.json):

- Harbor ``src/ui/main.go`` ``main()``: a non-empty ``os.Getenv("_REDIS_URL")`` (not trimmed)
  selects ``SessionProvider = "redis"`` with ``SessionProviderConfig`` = the value, unchanged
  (beego ``hooks.go`` ``registerSession`` passes it on through JSON).
- beego ``session/redis/sess_redis.go`` ``Provider.SessionInit``: ``strings.Split(savePath, ",")``
  with no quoting or trimming; field 0 is the address given to ``redis.Dial("tcp", ...)``;
  field 1 the pool size (``strconv.Atoi``; an error or a value <= 0 means ``MaxPoolSize``, 100);
  field 2 the password (``AUTH`` only when non-empty); field 3 the db (``Atoi``; an error or a
  value < 0 means 0). Fields after the fourth are ignored. A password with a comma therefore
  spills into the db field: what beego does, so what the lab does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import LabError

MAX_POOL_SIZE = 100  # sess_redis.go: var MaxPoolSize = 100

_ATOI = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi (base 10): an optional sign, ASCII digits only
_INT64 = (-(2**63), 2**63 - 1)       # Atoi parses into Go's int, 64 bits on amd64


@dataclass(frozen=True)
class SessionSavePath:
    """What ``SessionInit`` keeps from the save path. The password never appears in the repr."""

    address: str
    pool_size: int = MAX_POOL_SIZE
    password: str = field(default="", repr=False)
    db: int = 0


def go_atoi(text: str) -> int | None:
    """``strconv.Atoi``: the number, or None where Go returns an error (spaces, '_', overflow)."""
    if not _ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


def parse_save_path(value: str) -> SessionSavePath:
    """``SessionInit``'s reading of ``value`` (never fails: beego only fails when it dials)."""
    configs = value.split(",")
    pool = go_atoi(configs[1]) if len(configs) > 1 else None
    db = go_atoi(configs[3]) if len(configs) > 3 else None
    return SessionSavePath(
        address=configs[0],
        pool_size=pool if pool is not None and pool > 0 else MAX_POOL_SIZE,
        password=configs[2] if len(configs) > 2 else "",
        db=db if db is not None and db >= 0 else 0,
    )


def split_host_port(address: str) -> tuple[str, int]:
    """Go's ``net.SplitHostPort`` plus a numeric port, as ``redis.Dial("tcp", address)`` needs.

    ``host:port`` with exactly one colon, or ``[v6-host]:port``; an empty host is allowed
    (Go dials the local system). Errors name the address, which holds no password.
    """
    if address.startswith("["):
        close = address.find("]")
        host, rest = (address[1:close], address[close + 1:]) if close > 0 else ("", "")
        ok = close > 0 and rest.startswith(":")
        port = rest[1:]
    else:
        host, _, port = address.partition(":")
        ok = address.count(":") == 1
    if not ok or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise LabError(f"_REDIS_URL address {address!r} is not host:port",
                       hint="beego dials the first comma-separated field: host:port,poolsize,password,dbnum")
    return host, int(port)


def format_save_path(host: str, port: int, password: str = "", db: int = 0,
                     pool_size: int = MAX_POOL_SIZE) -> str:
    """The four fields in ``SessionInit``'s order (for the lab's own test fixtures)."""
    return f"{host}:{port},{pool_size},{password},{db}"


__all__ = ["MAX_POOL_SIZE", "SessionSavePath", "format_save_path", "go_atoi", "parse_save_path",
           "split_host_port"]
