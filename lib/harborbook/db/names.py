"""Database, table and account names checked against MySQL's grammar before any SQL is built.

MySQL rules (identifiers, user accounts): a name is at most 64 characters (user names 32 in
MySQL 5.7+ - MariaDB allows 80, we keep the portable limit; host parts 255), cannot contain
NUL or characters outside the Basic Multilingual Plane, and may not end with a space. Database
names also cannot contain '/', '\\' or '.' (they become directory names). We additionally keep
database names to the unquoted-identifier alphabet, so that every tool (mysql client, Harbor's
adminserver, a DSN) handles them without quoting, and refuse all-digit names, which MySQL reads
as numbers.
"""

from __future__ import annotations

import re

from ..errors import HarborbookError

MAX_IDENT = 64
MAX_USER = 32
MAX_HOST = 255
STAGING_SUFFIX = "__staging"
BACKUP_INFIX = "__bak_"
# Database names: the unquoted identifier alphabet (ASCII part), not only digits.
_DB_NAME = re.compile(r"(?!\d+$)[A-Za-z0-9_$]+")
# Host part of an account: host name, IP, wildcard patterns (% _), netmask, IPv6.
_HOST = re.compile(r"[A-Za-z0-9_.%:\-/]+")


class InvalidNameError(HarborbookError):
    """A name that MySQL would refuse or misread (never reaches the server)."""


def _common(kind: str, name: object, limit: int) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"{kind} name is empty", hint=f"set a {kind} name in the params file")
    if len(name) > limit:
        raise InvalidNameError(f"{kind} name '{name[:limit]}...' is longer than {limit} characters",
                         hint=f"MySQL limits {kind} names to {limit} characters")
    if "\x00" in name or any(ord(ch) > 0xFFFF for ch in name):
        raise InvalidNameError(f"{kind} name contains NUL or a character outside the BMP",
                         hint="MySQL does not allow these in names")
    if name.endswith(" "):
        raise InvalidNameError(f"{kind} name '{name}' ends with a space",
                         hint="MySQL does not allow names that end with a space")
    return name


def check_database(name: object, *, reserve: int = 0) -> str:
    """A database name we can create; ``reserve`` characters are kept for derived names."""
    name = _common("database", name, MAX_IDENT - reserve)
    if not _DB_NAME.fullmatch(name):
        raise InvalidNameError(
            f"database name '{name}' is not a plain MySQL identifier",
            hint="use letters, digits, '_' or '$', not only digits (e.g. registry_k8s)")
    return name


def check_user(name: object) -> str:
    """A user name (the part before '@')."""
    name = _common("user", name, MAX_USER)
    if any(ch in name for ch in "'\"`\\@") or any(ord(ch) < 32 for ch in name):
        raise InvalidNameError(f"user name '{name}' contains a quote, '@', '\\' or a control character",
                         hint="use letters, digits, '_', '.' or '-'")
    return name


def check_host(host: object) -> str:
    """The host part of an account ('%' = any host)."""
    host = _common("host", host, MAX_HOST)
    if not _HOST.fullmatch(host):
        raise InvalidNameError(f"account host '{host}' is not a host name, address or pattern",
                         hint="use '%', a host name, an IP address or a pattern like 10.0.%")
    return host


def quote_ident(name: str) -> str:
    """`name` quoted as an identifier (names are checked first; quoting is belt and braces)."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    """A SQL string literal (for account names in GRANT/CREATE USER)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "\\0")
    return "'" + escaped + "'"


def account(user: str, host: str) -> str:
    return f"{quote_string(user)}@{quote_string(host)}"


def staging_name(target: str) -> str:
    return target + STAGING_SUFFIX


def backup_name(target: str, stamp: str) -> str:
    """The database that receives replaced tables; ``stamp`` is YYYYmmddHHMMSS (from the caller)."""
    return target + BACKUP_INFIX + stamp


# Characters reserved in the target name for the longest derived name (backup).
RESERVED = max(len(STAGING_SUFFIX), len(BACKUP_INFIX) + 14)
