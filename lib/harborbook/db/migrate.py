"""Runbook 02's migration: dump -> rename -> staged import -> verify -> atomic swap.

The target is touched by exactly one statement, the final ``RENAME TABLE``; everything before
happens in ``<target>__staging``, which every run drops and rebuilds. An interruption anywhere
(connection lost, a node killed, a bad dump) therefore leaves the target as it was, and running
again completes the job.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pymysql

from ..errors import HarborbookError
from ..sqldump import DumpReader, DumpTransform
from . import swap as swapping
from .connection import Endpoint, Login, connect, query, wrap
from .load import DEFAULT_CONNECTIONS, load, run_deferred, server_tables
from .names import RESERVED, check_database, quote_ident, staging_name
from .source import server_dump
from .verify import HARBOR_SEEDS, TableCheck, TableStats, compare, identical, measure, missing_seeds


class VerificationError(HarborbookError):
    """The staged copy differs from the source; the target was not touched."""


@dataclass(frozen=True)
class DumpFile:
    path: Path
    database: str = "registry"  # the database name inside the dump
    require_trailer: bool = True


@dataclass(frozen=True)
class SourceServer:
    endpoint: Endpoint
    login: Login
    database: str = "registry"


@dataclass
class MigrationResult:
    status: str  # changed | unchanged | planned
    target: str
    staging: str
    action: str = ""  # move | replace | unchanged (the swap)
    backup: str | None = None
    checks: list[TableCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # SQL run on the target (or planned)
    artifact: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    rows_loaded: int = 0
    retries: int = 0  # statements retried after a certification failure or lock wait timeout

    def table(self) -> list[dict[str, Any]]:
        return [c.row() for c in self.checks]

    @property
    def summary(self) -> str:
        rows = sum(c.rows_target or 0 for c in self.checks)
        return (f"{self.status}: {len(self.checks)} tables, {rows} rows -> {self.target}"
                + (f" (old tables in {self.backup})" if self.backup else ""))


@contextlib.contextmanager
def _open_source(source: DumpFile | SourceServer) -> Iterator[DumpReader]:
    if isinstance(source, DumpFile):
        with DumpReader.open(source.path, require_trailer=source.require_trailer) as reader:
            yield reader
    else:
        with server_dump(source.endpoint, source.login, source.database) as reader:
            yield reader


def _source_stats(source: DumpFile | SourceServer, rows: dict[str, int]
                  ) -> dict[str, TableStats]:
    """What the copy must equal: the source server's tables, or the rows the dump held."""
    if isinstance(source, DumpFile):
        return {t: TableStats(n, None) for t, n in rows.items()}
    conn = connect(source.endpoint, source.login)
    try:
        return measure(conn, source.database, server_tables(conn, source.database))
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, source.endpoint, source.login, "measuring the source") from None
    finally:
        conn.close()


def _staged_stats(conn: pymysql.Connection, staging: str, loaded: dict[str, int]
                  ) -> dict[str, TableStats]:
    """The staged tables' CHECKSUM TABLE, and their rows as the server counted them inserting
    (affected rows: no COUNT(*) scan; the checksum proves the content). A table the import did
    not create itself is counted."""
    tables = server_tables(conn, staging)
    counted = [t for t in tables if t not in loaded]
    stats = measure(conn, staging, counted) if counted else {}
    rest = [t for t in tables if t in loaded]
    if rest:
        db = quote_ident(staging)
        names = ", ".join(f"{db}.{quote_ident(t)}" for t in rest)
        for name, value in query(conn, f"CHECKSUM TABLE {names}"):
            table = str(name).split(".", 1)[1]
            stats[table] = TableStats(loaded[table], None if value is None else int(value))
    return stats


def _ensure_target(conn: pymysql.Connection, target: str) -> list[str]:
    if not query(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
                 (target,)):
        sql = f"CREATE DATABASE {quote_ident(target)} CHARACTER SET utf8 COLLATE utf8_general_ci"
        query(conn, sql)
        return [sql]
    return []


def plan(source: DumpFile | SourceServer, conn: pymysql.Connection, *, target: str,
         replace: bool, now: datetime) -> MigrationResult:
    """Dry run: read (and check) the whole dump, compare with the target; change nothing."""
    staging = staging_name(target)
    result = MigrationResult("planned", target, staging)
    with _open_source(source) as reader:
        transform = DumpTransform(reader, database=source.database, staging=staging,
                                  target=target)
        statements = sum(1 for item in transform if not item.skip)
    tables = sorted(transform.summary.tables)
    result.warnings = list(transform.summary.warnings)
    existing = server_tables(conn, target)
    swap = swapping.plan_swap(staging=staging, target=target, staged=tables, existing=existing,
                              same_content=False, replace=replace, now=now)
    result.action = swap.action if not existing else f"{swap.action} (if different)"
    result.statements = [f"DROP DATABASE IF EXISTS {quote_ident(staging)}",
                         f"CREATE DATABASE {quote_ident(staging)} CHARACTER SET utf8",
                         f"-- {statements} statements from {reader.source} into {staging}",
                         f"-- verify {len(tables)} tables: rows, CHECKSUM TABLE, seed rows",
                         *swap.statements]
    result.checks = [TableCheck(t, None, None, None, None, True, "planned") for t in tables]
    return result


def migrate(source: DumpFile | SourceServer, conn: pymysql.Connection, *, endpoint: str,
            target: str, now: datetime, replace: bool = False, artifact: Path | None = None,
            dry_run: bool = False, seeds: tuple[tuple[str, str, str], ...] = HARBOR_SEEDS,
            progress: Callable[[int], None] | None = None,
            connections: int = DEFAULT_CONNECTIONS) -> MigrationResult:
    """Move the source's tables into ``target`` on the server behind ``conn``.

    ``connections`` loader sessions share the import's INSERTs (see ``load``).
    """
    check_database(target, reserve=RESERVED)
    check_database(source.database)
    if dry_run:
        return plan(source, conn, target=target, replace=replace, now=now)
    staging = staging_name(target)
    result = MigrationResult("changed", target, staging, artifact=artifact)
    clock = time.monotonic()
    # A source server is measured (COUNT(*), CHECKSUM TABLE) on its own connection while the
    # import runs: it is another server's work, done while ours waits on the target.
    pool = ThreadPoolExecutor(1, thread_name_prefix="measure-source")
    try:
        source_stats = (pool.submit(_source_stats, source, {})
                        if isinstance(source, SourceServer) else None)
        with _open_source(source) as reader:
            transform = DumpTransform(reader, database=source.database, staging=staging,
                                      target=target)
            loaded = load(conn, transform, endpoint=endpoint, artifact=artifact,
                          progress=progress, connections=connections)
        result.warnings = list(transform.summary.warnings)
        result.rows_loaded = sum(loaded.rows.values())
        result.retries = loaded.retries
        result.timings["import"] = time.monotonic() - clock

        clock = time.monotonic()
        try:
            # A dump file's rows are known only as inserted: then the staged rows are counted,
            # or the comparison would hold by construction.
            staged = _staged_stats(conn, staging, loaded.rows if source_stats else {})
            expected = (source_stats.result() if source_stats
                        else _source_stats(source, loaded.rows))
            result.checks = compare(expected, staged)
            missing = missing_seeds(conn, staging, seeds)
            existing = server_tables(conn, target)
            same = bool(existing) and identical(staged, measure(conn, target, existing))
        except pymysql.err.MySQLError as exc:
            raise wrap(exc, endpoint, doing="verifying the staged import") from None
        result.timings["verify"] = time.monotonic() - clock
    finally:
        pool.shutdown(wait=False)  # after a failure, the source's scan ends on its own
    bad = [c for c in result.checks if not c.ok]
    if bad or missing:
        problems = [f"{c.table}: {c.problem}" for c in bad] + [f"seed row {m} missing"
                                                               for m in missing]
        raise VerificationError(
            f"the staged import in {staging} does not match the source: " + "; ".join(problems),
            hint=f"the target {target} is untouched; inspect {staging}, fix the source, re-run",
            see="02-database")

    clock = time.monotonic()
    result.statements = _ensure_target(conn, target)
    swap = swapping.plan_swap(staging=staging, target=target, staged=sorted(staged),
                              existing=existing, same_content=same, replace=replace, now=now)
    result.action, result.backup = swap.action, swap.backup
    if swap.action == "refuse":
        query(conn, swap.statements[-1])  # drop staging: a re-run rebuilds it anyway
    swapping.execute(conn, swap, target=target, endpoint=endpoint)
    result.statements += list(swap.statements)
    if swap.action in ("move", "replace") and loaded.deferred:
        run_deferred(conn, target, loaded.deferred, endpoint)
    if swap.action == "unchanged":
        result.status = "unchanged"
    else:
        # RENAME TABLE is atomic: checking the table set is enough (no second full scan).
        if server_tables(conn, target) != sorted(staged):
            raise VerificationError(f"{target} differs from the verified import after the swap",
                                    hint="another session wrote to it during the swap? re-run")
    result.timings["swap"] = time.monotonic() - clock
    return result
