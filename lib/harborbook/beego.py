"""What Harbor 1.2's ui inherits from beego: the Redis session address and the password hash.

``_REDIS_URL`` is beego's redis session "save path": ``host:port,poolsize,password,dbnum``.
Beego splits it on commas with no quoting, so a password containing a comma silently
shifts the fields (the rest of the password becomes the db number): we refuse to build or
accept such a value rather than let the ui fall back to in-memory sessions unnoticed.

Harbor 1.2 stores ``hex(PBKDF2-SHA1(password, salt, 4096 iterations, 16 bytes))`` with a
per-user salt in ``user.password`` / ``user.salt``.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _random
import string
from dataclasses import dataclass, field

from .errors import HarborbookError

DEFAULT_POOL_SIZE = 100
DEFAULT_DB = 0
HASH_ITERATIONS = 4096
HASH_BYTES = 16
SALT_LENGTH = 32
_SALT_ALPHABET = string.ascii_lowercase + string.digits  # Harbor 1.2 utils.GenerateRandomString


class RedisUrlError(HarborbookError):
    """A ``_REDIS_URL`` value cannot be built or parsed."""


@dataclass(frozen=True)
class RedisSessionUrl:
    """The parsed form of ``_REDIS_URL``. The password never appears in the repr."""

    host: str
    port: int
    pool_size: int = DEFAULT_POOL_SIZE
    password: str = field(default="", repr=False)
    db: int = DEFAULT_DB

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def build_redis_url(
    host: str, port: int, password: str = "", db: int = DEFAULT_DB, pool_size: int = DEFAULT_POOL_SIZE
) -> str:
    """``host:port,poolsize,password,dbnum``; refuses values beego would misread."""
    if not host or any(c in host for c in ",: "):
        raise RedisUrlError(f"redis host {host!r} cannot be written in _REDIS_URL")
    if not 0 < int(port) < 65536:
        raise RedisUrlError(f"redis port {port} is out of range")
    if "," in password:
        raise RedisUrlError(
            "the Redis password contains a comma, which beego's _REDIS_URL format cannot carry "
            "(fields are split on commas: the ui would use a truncated password and a wrong db)",
            hint="choose a Redis password without ',' (requirepass) and update the secret",
            see="00-preflight",
        )
    if int(db) < 0:
        raise RedisUrlError(f"redis db {db} is negative", hint="use a db index >= 0")
    if int(pool_size) <= 0:
        pool_size = DEFAULT_POOL_SIZE
    return f"{host}:{int(port)},{int(pool_size)},{password},{int(db)}"


def _int_or(text: str, default: int, minimum: int) -> int:
    # Go's strconv.Atoi, as SessionInit uses it: a sign and ASCII digits only (no spaces, no '_',
    # no other scripts' digits, 64-bit range); anything else is an error, hence the default.
    if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**63) <= int(text) < 2**63:
        return default
    value = int(text)
    return value if value >= minimum else default


def parse_redis_url(value: str) -> RedisSessionUrl:
    """Parse ``_REDIS_URL`` the way beego does (defaults included), refusing ambiguous values."""
    fields = value.split(",")  # beego neither trims the value nor its fields
    if len(fields) > 4:
        raise RedisUrlError(
            f"_REDIS_URL has {len(fields)} comma-separated fields, beego reads at most 4 "
            "(a password with a comma?)",
            hint="use a Redis password without ','",
        )
    address = fields[0]
    host, sep, port_text = address.rpartition(":")
    if (not sep or not host or any(c.isspace() for c in host) or not port_text.isascii()
            or not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise RedisUrlError(
            "_REDIS_URL does not start with host:port",
            hint="the format is host:port,poolsize,password,dbnum",
        )
    pool = _int_or(fields[1], DEFAULT_POOL_SIZE, 1) if len(fields) > 1 else DEFAULT_POOL_SIZE
    password = fields[2] if len(fields) > 2 else ""
    db = _int_or(fields[3], DEFAULT_DB, 0) if len(fields) > 3 else DEFAULT_DB
    return RedisSessionUrl(host=host, port=int(port_text), pool_size=pool, password=password, db=db)


def password_hash(password: str, salt: str) -> str:
    """Harbor 1.2's stored form of ``password`` (hex PBKDF2-SHA1, 4096 rounds, 16 bytes)."""
    key = hashlib.pbkdf2_hmac(
        "sha1", password.encode("utf-8"), salt.encode("utf-8"), HASH_ITERATIONS, HASH_BYTES
    )
    return key.hex()


def password_matches(password: str, salt: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash, compared exactly as Harbor 1.2's
    ``dao.LoginByDb`` does (no trimming or case folding: a hash Harbor would refuse is refused)."""
    return _random.compare_digest(password_hash(password, salt).encode(), stored.encode("utf-8"))


def new_salt() -> str:
    """A random salt like Harbor's (32 characters of a-z0-9)."""
    return "".join(_random.choice(_SALT_ALPHABET) for _ in range(SALT_LENGTH))
