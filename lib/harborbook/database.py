"""02-database's steps: the target cluster, the Harbor account, the verified migration.

The work is done by :mod:`harborbook.db`; this module turns the params into its inputs and
its results into what the runbook shows. Each step connects to the first healthy endpoint
itself, so a Galera node lost between two steps is simply skipped.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd

from . import db
from .runbook import Status, StepResult


def _login(target) -> db.Login:
    return db.Login(target.admin_user, target.admin_password, field="database.target.admin_password")


def _endpoints(target) -> list[db.Endpoint]:
    return [db.Endpoint(e.host, e.port) for e in target.endpoints]


@contextlib.contextmanager
def _connected(target) -> Iterator[tuple[object, db.ServerInfo, list[db.ServerInfo]]]:
    conn, info, probed = db.first_healthy(_endpoints(target), _login(target))
    try:
        yield conn, info, probed
    finally:
        conn.close()


def target_cluster(database) -> StepResult:
    """Connect to the first healthy endpoint and show every endpoint probed."""
    with _connected(database.target) as (_, info, probed):
        table = pd.DataFrame([p.row() for p in probed])
    status = Status.OK if all(p.healthy for p in probed) else Status.WARNING
    return StepResult("target cluster", status, f"using {info.endpoint} ({info.kind}: {info.detail})", table=table,
                      data={"endpoint": info.endpoint, "kind": info.kind})


def account(database, dry_run: bool) -> StepResult:
    """The database (utf8), the Harbor user, and privileges on that database only."""
    t = database.target
    with _connected(t) as (conn, info, _):
        host, port = info.endpoint.rsplit(":", 1)
        result = db.ensure_account(conn, db.Endpoint(host, int(port)), database=t.database, user=t.user, password=t.password, host=t.user_host,
                                   dry_run=dry_run)
    status = {"changed": Status.CHANGED, "unchanged": Status.UNCHANGED, "planned": Status.SKIPPED}[result.status]
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


def _source(database) -> db.SourceServer | db.DumpFile:
    src = database.source
    if src.kind == "dumpfile":
        return db.DumpFile(Path(src.path), database=src.database)
    login = db.Login(src.user, src.password, field="database.source.password")
    return db.SourceServer(db.Endpoint(src.host, src.port), login, database=src.database)


def migrate(database, artifact: Path, dry_run: bool, now: datetime | None = None) -> StepResult:
    """Dump, rename, import into staging, verify, swap atomically; keep a gzip dump."""
    from tqdm.auto import tqdm

    t = database.target
    with _connected(t) as (conn, info, _):
        with tqdm(desc="import", unit="B", unit_scale=True, mininterval=1.0, leave=False) as bar:
            def progress(done: int) -> None:
                bar.update(max(0, done - bar.n))

            result = db.migrate(_source(database), conn, endpoint=info.endpoint, target=t.database,
                                now=now or datetime.now(timezone.utc), replace=database.replace,
                                artifact=None if dry_run else artifact, dry_run=dry_run, progress=progress)
    table = pd.DataFrame(result.table(), columns=["table", "rows source", "rows target", "checksum match", "ok", "problem"])
    status = {"changed": Status.CHANGED, "unchanged": Status.UNCHANGED, "planned": Status.SKIPPED}[result.status]
    if result.warnings and status is Status.UNCHANGED:
        status = Status.WARNING
    summary = result.summary
    if result.warnings:
        summary += " | " + "; ".join(result.warnings)
    return StepResult("migrate", status, summary, table=table.sort_values("table").reset_index(drop=True),
                      data={"action": result.action, "backup": result.backup, "statements": result.statements,
                            "artifact": str(result.artifact) if result.artifact else None,
                            "warnings": list(result.warnings)})
