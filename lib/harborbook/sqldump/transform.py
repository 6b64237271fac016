"""The statements of a dump, checked and rewritten for a staged import.

Each statement comes out twice renamed: once for the staging database it is executed in, once
for the target name (the backup artifact, which restores the target directly). Views,
triggers, routines and events are marked ``deferred``: ``RENAME TABLE`` cannot move them (or
tables carrying triggers) across databases, so they are created in the target after the swap,
with their bodies naming the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from .errors import DumpError, SchemaError
from .reader import DumpReader
from .rename import rename_database
from .schema import TablePlan, apply, decide, parse_create_table
from .tokens import DUMP_VERBS, Kind, classify, first_word, significant

# Statements not executed during the staged import, and why (policy as data).
SKIPPED = {
    Kind.LOCK: "LOCK TABLES is not replicated by Galera, and nobody else uses staging",
    Kind.CREATE_DATABASE: "the staging database is created by the import itself (utf8)",
    Kind.DROP_DATABASE: "never drop a database because a dump says so",
    Kind.ALTER_DATABASE: "the database options are set by the import itself",
}
DEFERRED = frozenset({Kind.VIEW, Kind.TRIGGER, Kind.ROUTINE, Kind.EVENT})


@dataclass(frozen=True, slots=True)
class Item:
    """One statement ready for the import."""

    kind: Kind
    line: int
    sql: bytes  # renamed for the staging database
    artifact_sql: bytes  # renamed for the target database
    delimiter: bytes = b";"
    table: str | None = None
    deferred: bool = False  # created in the target after the swap
    skip: bool = False  # not executed during the staged import (see SKIPPED)


@dataclass
class DumpSummary:
    """What the dump held and what was changed on the way (shown by the runbook)."""

    tables: dict[str, TablePlan] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    deferred: int = 0
    statements: int = 0


def insert_table(sql: bytes) -> str | None:
    """The table an INSERT writes to (the last part of a qualified name)."""
    seen_into = False
    name = None
    for tok in significant(sql[:4096]):
        if not seen_into:
            seen_into = tok.upper() == b"INTO"
            continue
        if tok.is_ident and tok.upper() not in (b"VALUES", b"VALUE", b"SELECT", b"SET"):
            name = tok.ident()
        elif tok.text != b".":
            break
    return name


class DumpTransform:
    """Iterate over a dump's statements as :class:`Item`, enforcing the schema rules."""

    def __init__(self, reader: DumpReader, *, database: str, staging: str, target: str):
        self.reader = reader
        self.database = database
        self.staging = staging
        self.target = target
        self.summary = DumpSummary()

    def _fail(self, message: str, line: int, hint: str | None = None,
              cls: type[DumpError] = DumpError) -> DumpError:
        return cls(message, source=self.reader.source, line=line, hint=hint)

    def __iter__(self) -> Iterator[Item]:
        for stmt in self.reader:
            self.summary.statements += 1
            verb = first_word(stmt.sql)
            if verb not in DUMP_VERBS:
                shown = stmt.sql[:40].decode("utf-8", "replace").replace("\n", " ")
                raise self._fail(f"this is not a SQL dump: '{shown}' is not a statement "
                                 "mysqldump writes", stmt.line,
                                 hint="pass the output of `mysqldump --databases <db>`")
            kind = classify(stmt.sql)
            yield self._item(stmt.sql, stmt.line, stmt.delimiter, kind)

    def _item(self, sql: bytes, line: int, delimiter: bytes, kind: Kind) -> Item:
        deferred = kind in DEFERRED
        staged = rename_database(sql, self.database, self.target if deferred else self.staging,
                                 kind)
        for name in staged.declared:
            if name != self.database:
                raise self._fail(
                    f"this dump is of database '{name}', expected '{self.database}'", line,
                    hint=f"dump only the Harbor database (mysqldump --databases "
                         f"{self.database}), or set database.source.database to '{name}' "
                         "if that is the Harbor database")
        artifact = rename_database(sql, self.database, self.target, kind).sql
        table = None
        if kind is Kind.CREATE_TABLE:
            staged_sql, artifact, table = self._create_table(staged.sql, artifact, line)
            return Item(kind, line, staged_sql, artifact, delimiter, table)
        if kind is Kind.INSERT:
            table = insert_table(sql)
        if deferred:
            self.summary.deferred += 1
        return Item(kind, line, staged.sql, artifact, delimiter, table, deferred,
                    skip=kind in SKIPPED)

    def _create_table(self, staged: bytes, artifact: bytes, line: int
                      ) -> tuple[bytes, bytes, str]:
        try:
            table = parse_create_table(staged)
        except ValueError as exc:
            raise self._fail(f"cannot read this CREATE TABLE ({exc})", line,
                             hint="the dump is damaged or not from mysqldump") from None
        plan = decide(table)
        self.summary.tables[table.name] = plan
        if plan.error:
            raise self._fail(plan.error, line, plan.hint, SchemaError)
        self.summary.warnings.extend(plan.warnings)
        staged = apply(staged, table, plan)
        artifact = apply(artifact, parse_create_table(artifact), plan)
        return staged, artifact, table.name
