"""Connections to MySQL/MariaDB servers: the first healthy endpoint, errors with hints.

A password is handed to pymysql and nowhere else: errors are rebuilt from the server's error
code with a hint naming the *params field* that holds the secret reference, and are raised
``from None`` so that pymysql's own exception (which can carry connection arguments) never
reaches a log or a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pymysql
import pymysql.err

from ..errors import SecretError, TransportError
from ..secrets import SecretRef, mask


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 3306

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Login:
    """Who connects: the password is a SecretRef (or a str), ``field`` is where params name it."""

    user: str
    password: SecretRef | str = field(repr=False)
    field: str = "database.target.admin_password"

    def reveal(self) -> str:
        return self.password.reveal() if isinstance(self.password, SecretRef) else self.password


@dataclass(frozen=True)
class ServerInfo:
    """What answered at an endpoint and whether it can take writes."""

    endpoint: str
    version: str
    kind: str  # galera | group-replication | plain
    healthy: bool
    detail: str

    def row(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "version": self.version, "kind": self.kind,
                "healthy": self.healthy, "detail": self.detail}


# MySQL client/server error code -> (what happened, hint); {field} names the secret's field.
ERROR_HINTS: dict[int, tuple[str, str]] = {
    1045: ("access denied for user '{user}'",
           "the password is wrong or the user does not exist: check the secret referenced by "
           "{field} (the value is never shown)"),
    1044: ("user '{user}' may not use this database",
           "grant the user privileges on the database, or use the admin account"),
    1049: ("unknown database", "check the database name in the params file"),
    2003: ("cannot connect to {endpoint}",
           "is the server running and listening there? check host/port in the params file"),
    2005: ("unknown host {endpoint}", "check the host name in the params file"),
    2006: ("the server at {endpoint} went away", "the server restarted or a node was killed: "
           "re-run the step, it resumes safely"),
    2013: ("lost the connection to {endpoint}", "the server restarted or a node was killed: "
           "re-run the step, it resumes safely"),
    1205: ("lock wait timeout on {endpoint}", "another session holds locks: retry"),
    1213: ("deadlock on {endpoint} (a Galera certification conflict?)", "retry the step"),
}
# Galera refuses writes while a node is outside the primary component (a peer just died or
# left and the cluster is re-forming); MariaDB reports it under several codes (1047, 1180...).
GALERA_NOT_PRIMARY = ("{endpoint}: the Galera cluster is re-forming (this node is not in the primary component)",
                      "a Galera node left or was killed during the step: wait until every node reports "
                      "wsrep_local_state_comment Synced (run 00), then re-run the step, it resumes safely")


def wrap(exc: BaseException, endpoint: Endpoint | str, login: Login | None = None,
         doing: str = "", secrets: tuple[str, ...] = ()) -> TransportError:
    """A TransportError for a pymysql error: code, message masked, hint; no password."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    server_msg = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    fmt = {"user": login.user if login else "?", "field": login.field if login else "?",
           "endpoint": str(endpoint)}
    what, hint = ERROR_HINTS.get(code or -1, ("{endpoint}: error", "see the server's error log"))
    if any(sign in server_msg.lower() for sign in ("primary component", "wsrep has not yet prepared")):
        what, hint = GALERA_NOT_PRIMARY
    try:
        # Also a reference never revealed in this process: the server may echo what it was sent.
        secret = login.reveal() if login else ""
    except SecretError:
        secret = ""
    detail = mask(server_msg, extra=(secret, *secrets))[:300]
    message = f"{what.format(**fmt)} ({code}: {detail})" if code else f"{what.format(**fmt)}: {detail}"
    if doing:
        message = f"{doing}: {message}"
    error = TransportError(message, hint=hint.format(**fmt), see="02-database")
    error.code = code  # type: ignore[attr-defined]
    return error


def connect(endpoint: Endpoint, login: Login, *, database: str | None = None,
            timeout: float = 10.0, read_timeout: float | None = None) -> pymysql.Connection:
    """A pymysql connection (utf8mb4, autocommit) or a TransportError."""
    try:
        return pymysql.connect(host=endpoint.host, port=endpoint.port, user=login.user,
                               password=login.reveal(), database=database, charset="utf8mb4",
                               autocommit=True, connect_timeout=timeout,
                               read_timeout=read_timeout, write_timeout=read_timeout,
                               local_infile=False)
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, login) from None


def clone(conn: pymysql.Connection, endpoint: Endpoint | str) -> pymysql.Connection:
    """Another session of the same user on the same server as ``conn`` (the import's extra
    loader connections): the settings are read back from ``conn``, so the secret is handed to
    pymysql again and nowhere else."""
    try:
        return pymysql.connect(host=conn.host, port=conn.port, user=conn.user,
                               password=conn.password, unix_socket=conn.unix_socket,
                               charset=conn.charset, autocommit=True,
                               connect_timeout=conn.connect_timeout,
                               read_timeout=conn._read_timeout, write_timeout=conn._write_timeout,
                               ssl=conn.ctx if getattr(conn, "_ssl_required", False) else None,
                               local_infile=False)
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, doing="opening another loader connection") from None


def query(conn: pymysql.Connection, sql: str, args: Any = None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _status(conn: pymysql.Connection, pattern: str) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in query(conn, "SHOW GLOBAL STATUS LIKE %s", (pattern,))}


def inspect(conn: pymysql.Connection, endpoint: Endpoint) -> ServerInfo:
    """Galera (wsrep_*), Group Replication (member state), or a plain server."""
    version = str(query(conn, "SELECT VERSION()")[0][0])
    wsrep = _status(conn, "wsrep%")
    if wsrep.get("wsrep_ready") is not None and wsrep.get("wsrep_cluster_size", "0") != "0":
        return galera_health(str(endpoint), version, wsrep)
    try:
        members = query(conn, "SELECT MEMBER_STATE FROM performance_schema."
                              "replication_group_members WHERE MEMBER_ID=@@server_uuid")
    except pymysql.err.MySQLError:
        members = []
    if members:
        state = str(members[0][0])
        return ServerInfo(str(endpoint), version, "group-replication", state == "ONLINE",
                          f"member state {state}")
    return ServerInfo(str(endpoint), version, "plain", True, "a single server (no replication)")


def galera_health(endpoint: str, version: str, wsrep: dict[str, str]) -> ServerInfo:
    """A Galera node takes writes when ready, Synced and part of a primary component (pure)."""
    ready = wsrep.get("wsrep_ready", "OFF").upper() == "ON"
    state = wsrep.get("wsrep_local_state_comment", "?")
    size = int(wsrep.get("wsrep_cluster_size", "0") or 0)
    status = wsrep.get("wsrep_cluster_status", "Primary")
    healthy = ready and state == "Synced" and status == "Primary" and size >= 1
    detail = f"wsrep_ready={'ON' if ready else 'OFF'}, {state}, cluster size {size}, {status}"
    return ServerInfo(endpoint, version, "galera", healthy, detail)


def first_healthy(endpoints: Iterable[Endpoint], login: Login, *, timeout: float = 5.0,
                  connector: Callable[..., pymysql.Connection] = connect,
                  ) -> tuple[pymysql.Connection, ServerInfo, list[ServerInfo]]:
    """Connect to the first endpoint that is healthy; every endpoint probed is reported.

    A wrong password fails at once (every node would refuse it); an unreachable or unhealthy
    node is skipped.
    """
    probed: list[ServerInfo] = []
    errors: list[str] = []
    for endpoint in endpoints:
        try:
            conn = connector(endpoint, login, timeout=timeout)
        except TransportError as exc:
            if getattr(exc, "code", None) in (1045, 1044):
                raise
            errors.append(exc.message)
            probed.append(ServerInfo(str(endpoint), "", "unreachable", False, exc.message))
            continue
        try:
            info = inspect(conn, endpoint)
        except pymysql.err.MySQLError as exc:
            conn.close()
            errors.append(wrap(exc, endpoint, login).message)
            continue
        probed.append(info)
        if info.healthy:
            return conn, info, probed
        conn.close()
    raise TransportError(
        "no healthy database endpoint: " + "; ".join(
            [e for e in errors] + [f"{p.endpoint}: {p.detail}" for p in probed if p.version]),
        hint="start the cluster (or bootstrap Galera) and check database.target.endpoints",
        see="02-database")
