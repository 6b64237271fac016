"""02-database's steps: the target cluster, the Harbor account, the verified migration.

The work is done by :mod:`harborbook.db`; this module turns the params into its inputs and
its results into what the runbook shows. Each step connects to the first healthy endpoint
itself, so a Galera node lost between two steps is simply skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .. import db
from ..checks import status_for
from ..params.models import Database, Target
from ..runbook import Status, StepResult


def _login(target: Target) -> db.Login:
    return db.Login(target.admin_user, target.admin_password, field="database.target.admin_password")


def _endpoints(target: Target) -> list[db.Endpoint]:
    return [db.Endpoint(e.host, e.port) for e in target.endpoints]


@contextlib.contextmanager
def _connected(target: Target) -> Iterator[tuple[Any, db.ServerInfo, list[db.ServerInfo]]]:
    conn, info, probed = db.first_healthy(_endpoints(target), _login(target))
    try:
        yield conn, info, probed
    finally:
        conn.close()


def _status(outcome: str) -> Status:
    """db's outcome words (changed | unchanged | planned) as a step status."""
    return status_for(outcome != "unchanged", dry_run=outcome == "planned")


def target_cluster(database: Database) -> StepResult[None]:
    """Connect to the first healthy endpoint and show every endpoint probed."""
    with _connected(database.target) as (_, info, probed):
        table = pd.DataFrame([p.row() for p in probed])
    status = Status.OK if all(p.healthy for p in probed) else Status.WARNING
    return StepResult("target cluster", status, f"using {info.endpoint} ({info.kind}: {info.detail})", table=table,
                      data={"endpoint": info.endpoint, "kind": info.kind})


def account(database: Database, dry_run: bool) -> StepResult[None]:
    """The database (utf8), the Harbor user, and privileges on that database only."""
    t = database.target
    with _connected(t) as (conn, info, _):
        host, port = info.endpoint.rsplit(":", 1)
        result = db.ensure_account(conn, db.Endpoint(host, int(port)), database=t.database, user=t.user, password=t.password, host=t.user_host,
                                   dry_run=dry_run)
    status = _status(result.status)
    if result.warnings and status is not Status.SKIPPED:
        status = Status.WARNING if status is Status.UNCHANGED else status
    rows = [{"statement": s} for s in result.actions] or [{"statement": "(nothing to do)"}]
    summary = f"{t.user}@{t.user_host} on {t.database}: " + (
        ("would run " if dry_run else "ran ") + f"{len(result.actions)} statement(s)" if result.actions else "already in place")
    hint = None
    if result.warnings:
        summary += "; " + "; ".join(result.warnings)
        hint = "revoke it: " + " ".join(result.revoke)
    return StepResult("account", status, summary, table=pd.DataFrame(rows), hint=hint,
                      data={"revoke": list(result.revoke)})


def _source(database: Database) -> db.SourceServer | db.DumpFile:
    src = database.source
    if src.kind == "dumpfile":
        return db.DumpFile(Path(src.path), database=src.database)
    login = db.Login(src.user, src.password, field="database.source.password")
    return db.SourceServer(db.Endpoint(src.host, src.port), login, database=src.database)


META_DB = "harborbook_meta"  # where harborbook records what it migrated (never Harbor's own database)


def source_fingerprint(database: Database) -> str:
    """What the source holds: CHECKSUM TABLE of every table (server) or the dump file's bytes."""
    src = database.source
    digest = hashlib.sha256()
    if src.kind == "dumpfile":
        with open(src.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    login = db.Login(src.user, src.password, field="database.source.password")
    conn = db.connect(db.Endpoint(src.host, src.port), login, database=src.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
            tables = sorted(row[0] for row in cur.fetchall())
            cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
            digest.update(json.dumps(sorted(cur.fetchall()), default=str).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def _marker(conn: Any, target: str) -> tuple[str, str] | None:
    """(source fingerprint, when) recorded by an earlier migration into ``target``."""
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME='migrations'",
                    (META_DB,))
        if not cur.fetchone()[0]:
            return None
        cur.execute(f"SELECT source_fingerprint, migrated_at FROM `{META_DB}`.migrations WHERE target=%s", (target,))
        row = cur.fetchone()
    return (row[0], str(row[1])) if row else None


def _record(conn: Any, target: str, fingerprint: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{META_DB}` CHARACTER SET utf8")
        # A primary key: Galera replicates row changes of keyed tables only reliably.
        cur.execute(f"CREATE TABLE IF NOT EXISTS `{META_DB}`.migrations (target VARCHAR(64) PRIMARY KEY, "
                    "source_fingerprint CHAR(64) NOT NULL, migrated_at DATETIME NOT NULL) ENGINE=InnoDB")
        cur.execute(f"REPLACE INTO `{META_DB}`.migrations VALUES (%s, %s, UTC_TIMESTAMP())", (target, fingerprint))


def migrate(database: Database, artifact: Path, dry_run: bool, now: datetime | None = None, *,
            keep_migrated: bool = False) -> StepResult[None]:
    """Dump, rename, import into staging, verify, swap atomically; keep a gzip dump.

    Once Harbor runs, it writes to the target (logins, pushes): a re-run must not mistake that
    for a different database. The migration is therefore recorded (source fingerprint) in
    `harborbook_meta`; the same source already migrated is `unchanged`. ``keep_migrated`` keeps
    that rule even with ``replace`` (08: replace what 02 put there, but never re-replace the
    database Harbor has been writing to since the same source was moved in).
    """
    from tqdm.auto import tqdm

    t = database.target
    fingerprint = source_fingerprint(database)
    with _connected(t) as (conn, info, _):
        marker = _marker(conn, t.database)
        if (marker and marker[0] == fingerprint and (keep_migrated or not database.replace)
                and db.load.server_tables(conn, t.database)):
            return StepResult("migrate", Status.UNCHANGED,
                              f"{t.database} was migrated from this same source on {marker[1]} UTC; Harbor has "
                              "written to it since, so it is left alone (database.replace: true to start over)",
                              data={"action": "unchanged", "migrated_at": marker[1]})
        with tqdm(desc="import", unit="B", unit_scale=True, mininterval=1.0, leave=False) as bar:
            def progress(done: int) -> None:
                bar.update(max(0, done - bar.n))

            result = db.migrate(_source(database), conn, endpoint=info.endpoint, target=t.database,
                                now=now or datetime.now(timezone.utc), replace=database.replace,
                                artifact=None if dry_run else artifact, dry_run=dry_run, progress=progress)
        if not dry_run:
            _record(conn, t.database, fingerprint)
    table = pd.DataFrame(result.table(), columns=["table", "rows source", "rows target", "checksum match", "ok", "problem"])
    status = _status(result.status)
    if result.warnings and status is Status.UNCHANGED:
        status = Status.WARNING
    summary = result.summary
    if result.warnings:
        summary += " | " + "; ".join(result.warnings)
    return StepResult("migrate", status, summary, table=table.sort_values("table").reset_index(drop=True),
                      data={"action": result.action, "backup": result.backup, "statements": result.statements,
                            "artifact": str(result.artifact) if result.artifact else None,
                            "warnings": list(result.warnings)})
