"""The Harbor database and its user: created once, privileges on that database only.

The reference procedure granted the Harbor user ``ALL PRIVILEGES ON *.*`` WITH GRANT OPTION;
Harbor needs its own database, nothing more. We never revoke on our own (someone may rely on
it), we warn and show the REVOKE statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pymysql

from .connection import Endpoint, Login, connect, query, wrap
from .names import account, check_database, check_host, check_user, quote_ident
from ..errors import TransportError
from ..secrets import SecretRef

CHARSET = "utf8"
COLLATION = "utf8_general_ci"


@dataclass
class AccountResult:
    status: str  # changed | unchanged | planned
    actions: list[str] = field(default_factory=list)  # SQL done (or planned), secrets masked
    warnings: list[str] = field(default_factory=list)
    revoke: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, str]]:
        return [{"action": a} for a in self.actions]


def _grant_lines(conn: pymysql.Connection, user: str, host: str) -> list[str] | None:
    try:
        return [str(r[0]) for r in query(conn, f"SHOW GRANTS FOR {account(user, host)}")]
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] == 1141:  # no such grant: the user does not exist
            return None
        raise


def has_database_grant(lines: list[str], database: str) -> bool:
    """Whether SHOW GRANTS lines include ALL PRIVILEGES on ``database``.* (pure)."""
    pattern = re.compile(r"GRANT ALL PRIVILEGES ON `" + re.escape(database.replace("_", "\\_"))
                         + r"`\.\*|GRANT ALL PRIVILEGES ON `" + re.escape(database) + r"`\.\*")
    return any(pattern.search(line) for line in lines)


def global_all(lines: list[str]) -> bool:
    """Whether the account holds ALL PRIVILEGES ON *.* (pure)."""
    return any(re.search(r"GRANT ALL PRIVILEGES ON \*\.\*", line) for line in lines)


def revoke_statements(user: str, host: str) -> list[str]:
    who = account(user, host)
    return [f"REVOKE ALL PRIVILEGES ON *.* FROM {who};",
            f"REVOKE GRANT OPTION ON *.* FROM {who};"]


def _pct(text: str) -> str:
    """Literal text inside a statement pymysql formats with args: its % must be doubled
    (the usual account host '%' otherwise breaks the formatting)."""
    return text.replace("%", "%%")


def _password_works(endpoint: Endpoint, user: str, password: str, database: str) -> bool:
    try:
        connect(endpoint, Login(user, password), database=database, timeout=5).close()
        return True
    except TransportError:
        return False


def ensure_account(conn: pymysql.Connection, endpoint: Endpoint, *, database: str, user: str,
                   password: SecretRef | str, host: str = "%", dry_run: bool = False
                   ) -> AccountResult:
    """CREATE DATABASE (utf8), the user with its password, GRANT ALL on that database only."""
    check_database(database)
    check_user(user)
    check_host(host)
    who = account(user, host)
    db = quote_ident(database)
    result = AccountResult("unchanged")
    secret = password.reveal() if isinstance(password, SecretRef) else password
    try:
        exists = query(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                             "WHERE SCHEMA_NAME=%s", (database,))
        plan: list[tuple[str, str, tuple]] = []  # (shown, sql, args)
        if not exists:
            sql = f"CREATE DATABASE {db} CHARACTER SET {CHARSET} COLLATE {COLLATION}"
            plan.append((sql, sql, ()))
        grants = _grant_lines(conn, user, host)
        if grants is None:
            plan.append((f"CREATE USER {who} IDENTIFIED BY '***'",
                         f"CREATE USER {_pct(who)} IDENTIFIED BY %s", (secret,)))
            grants = []
        elif not (exists and _password_works(endpoint, user, secret, database)):
            plan.append((f"ALTER USER {who} IDENTIFIED BY '***'",
                         f"ALTER USER {_pct(who)} IDENTIFIED BY %s", (secret,)))
        if not has_database_grant(grants, database):
            sql = f"GRANT ALL PRIVILEGES ON {db}.* TO {who}"
            plan.append((sql, sql, ()))
        if global_all(grants):
            result.warnings.append(
                f"{user}@{host} holds ALL PRIVILEGES ON *.* (the reference procedure granted "
                "it); Harbor needs privileges on its own database only")
            result.revoke = revoke_statements(user, host)
        result.actions = [shown for shown, _, _ in plan]
        if dry_run:
            result.status = "planned" if plan else "unchanged"
            return result
        with conn.cursor() as cur:
            for _, sql, args in plan:
                cur.execute(sql, args or None)
        result.status = "changed" if plan else "unchanged"
        return result
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, None, "creating the database and user",
                   secrets=(secret,)) from None
