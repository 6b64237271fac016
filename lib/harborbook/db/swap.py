"""The switch from staging to target: one atomic RENAME TABLE, never a half-imported target.

``RENAME TABLE a TO b, c TO d, ...`` is atomic in MySQL and MariaDB: other sessions see all the
renames or none, and a crash leaves all or none done. So the target holds either its old
tables or the complete verified import - never a mix. With ``replace``, the old tables move to a
timestamped backup database in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pymysql

from ..errors import HarborbookError
from .connection import wrap
from .names import backup_name, quote_ident


class TargetNotEmptyError(HarborbookError):
    """The target already holds different tables and replace was not asked for."""


@dataclass(frozen=True)
class SwapPlan:
    action: str  # move | unchanged | replace | refuse
    statements: tuple[str, ...] = ()
    backup: str | None = None
    reason: str = ""


def _pairs(src: str, dst: str, tables: list[str]) -> list[str]:
    return [f"{quote_ident(src)}.{quote_ident(t)} TO {quote_ident(dst)}.{quote_ident(t)}"
            for t in tables]


def plan_swap(*, staging: str, target: str, staged: list[str], existing: list[str],
              same_content: bool, replace: bool, now: datetime) -> SwapPlan:
    """What to do with the target, given what it holds (pure; ``now`` names the backup)."""
    drop = f"DROP DATABASE IF EXISTS {quote_ident(staging)}"
    if not existing:
        rename = "RENAME TABLE " + ", ".join(_pairs(staging, target, staged))
        return SwapPlan("move", (rename, drop), reason="the target database is empty")
    if same_content:
        return SwapPlan("unchanged", (drop,),
                        reason="the target already holds identical tables (rows and checksums)")
    if not replace:
        return SwapPlan("refuse", (drop,), reason=(
            f"the target database {target} already holds {len(existing)} tables with different "
            "content"))
    backup = backup_name(target, now.strftime("%Y%m%d%H%M%S"))
    create = f"CREATE DATABASE {quote_ident(backup)} CHARACTER SET utf8 COLLATE utf8_general_ci"
    rename = "RENAME TABLE " + ", ".join(_pairs(target, backup, existing)
                                         + _pairs(staging, target, staged))
    return SwapPlan("replace", (create, rename, drop), backup=backup,
                    reason=f"replace: the old tables move to {backup}")


def execute(conn: pymysql.Connection, plan: SwapPlan, *, target: str, endpoint: str) -> None:
    if plan.action == "refuse":
        raise TargetNotEmptyError(
            plan.reason + "; nothing was changed",
            hint="compare the databases, then set database.replace: true to replace it (the "
                 "old tables are kept in a timestamped backup database)", see="02-database")
    try:
        with conn.cursor() as cur:
            for sql in plan.statements:
                cur.execute(sql)
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, doing=f"moving the tables into {target}") from None
