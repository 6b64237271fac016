"""Proof that the staged copy is the source: tables, row counts, CHECKSUM TABLE, seed rows.

The comparison is a pure function over measured numbers, so every rule is tested on its pass
and fail path without a server; the measuring functions only run the queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

from .connection import query
from .names import quote_ident

# The rows Harbor 1.2 needs to start: (table, column, value). Policy as data.
HARBOR_SEEDS: tuple[tuple[str, str, str], ...] = (
    ("user", "username", "admin"),
    ("project", "name", "library"),
)


@dataclass(frozen=True)
class TableStats:
    rows: int
    checksum: int | None


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows_source: int | None
    rows_target: int | None
    checksum_source: int | None
    checksum_target: int | None
    ok: bool
    problem: str = ""

    def row(self) -> dict[str, Any]:
        match = ("n/a" if self.checksum_source is None or self.checksum_target is None
                 else "yes" if self.checksum_source == self.checksum_target else "NO")
        return {"table": self.table, "rows source": self.rows_source,
                "rows target": self.rows_target, "checksum match": match,
                "ok": self.ok, "problem": self.problem}


def measure(conn: pymysql.Connection, database: str, tables: list[str]) -> dict[str, TableStats]:
    """COUNT(*) and CHECKSUM TABLE of each table (one CHECKSUM statement for all)."""
    if not tables:
        return {}
    db = quote_ident(database)
    names = ", ".join(f"{db}.{quote_ident(t)}" for t in tables)
    sums = {}
    for name, value in query(conn, f"CHECKSUM TABLE {names}"):
        sums[str(name).split(".", 1)[1]] = None if value is None else int(value)
    stats = {}
    for table in tables:
        rows = int(query(conn, f"SELECT COUNT(*) FROM {db}.{quote_ident(table)}")[0][0])
        stats[table] = TableStats(rows, sums.get(table))
    return stats


def compare(source: dict[str, TableStats], target: dict[str, TableStats]) -> list[TableCheck]:
    """Per table: present on both sides, same rows, same checksum when both are known (pure)."""
    checks = []
    for table in sorted(set(source) | set(target)):
        src, dst = source.get(table), target.get(table)
        if src is None or dst is None:
            checks.append(TableCheck(table, src.rows if src else None, dst.rows if dst else None,
                                     src.checksum if src else None, dst.checksum if dst else None, False,
                                     "missing in target" if dst is None else "not in source"))
            continue
        problems = []
        if src.rows != dst.rows:
            problems.append(f"{src.rows} rows in source, {dst.rows} in target")
        if src.checksum is not None and dst.checksum is not None and src.checksum != dst.checksum:
            problems.append("checksums differ")
        checks.append(TableCheck(table, src.rows, dst.rows, src.checksum, dst.checksum,
                                 not problems, "; ".join(problems)))
    return checks


def missing_seeds(conn: pymysql.Connection, database: str,
                  seeds: tuple[tuple[str, str, str], ...] = HARBOR_SEEDS) -> list[str]:
    """The seed rows that are not there, as 'table.column=value'."""
    db = quote_ident(database)
    missing = []
    for table, column, value in seeds:
        try:
            found = query(conn, f"SELECT 1 FROM {db}.{quote_ident(table)} "
                                f"WHERE {quote_ident(column)}=%s LIMIT 1", (value,))
        except pymysql.err.ProgrammingError:
            found = []
        if not found:
            missing.append(f"{table}.{column}={value}")
    return missing


def identical(a: dict[str, TableStats], b: dict[str, TableStats]) -> bool:
    """Same tables with the same rows and checksums (pure)."""
    return set(a) == set(b) and all(c.ok for c in compare(a, b))
