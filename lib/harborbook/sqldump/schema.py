"""Schema rules of a replicated cluster, checked (and fixed where safe) while a dump streams.

Galera replicates row events by key: a DELETE on a table without a primary key is not
replicated reliably, and MySQL Group Replication refuses writes to such a table. MyISAM and
other engines are not replicated by Galera at all. So every table must be InnoDB with a primary
key. Harbor 1.2's own ``alembic_version`` has none; its single NOT NULL column can safely become
the key, and the INSERT that follows proves the values unique (a duplicate fails the load).

``parse_create_table`` reads the CREATE TABLE that mysqldump writes; ``decide`` is the policy
(pure); ``apply`` rewrites the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tokens import Token, significant, tokens

TARGET_ENGINE = "InnoDB"
_KEY_WORDS = {b"PRIMARY", b"KEY", b"INDEX", b"UNIQUE", b"CONSTRAINT", b"FULLTEXT", b"SPATIAL",
              b"FOREIGN", b"CHECK", b"PERIOD", b"VECTOR"}
# Column types that cannot be a key without a prefix length.
_UNKEYABLE = {b"TINYTEXT", b"TEXT", b"MEDIUMTEXT", b"LONGTEXT", b"TINYBLOB", b"BLOB",
              b"MEDIUMBLOB", b"LONGBLOB", b"JSON", b"GEOMETRY", b"POINT", b"LINESTRING",
              b"POLYGON"}

WHY_PK = ("Galera does not replicate deletes on a table without a primary key, and MySQL "
          "Group Replication refuses writes to it")
WHY_ENGINE = "Galera replicates only InnoDB tables"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    primary: bool = False


@dataclass
class TableDef:
    """What the checks need from a CREATE TABLE."""

    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)
    engine: str | None = None
    engine_token: tuple[int, int] | None = None  # byte span of the engine name
    body_end: int = 0  # byte offset of the ')' closing the definitions


@dataclass(frozen=True)
class TablePlan:
    """The decision for one table: what to change and why, or why it cannot be imported."""

    table: str
    convert_engine: str | None = None  # the engine converted from
    add_primary_key: str | None = None  # the column that becomes the key
    warnings: tuple[str, ...] = ()
    error: str | None = None
    hint: str | None = None


def _split_defs(sig: list[Token], open_at: int) -> tuple[list[list[Token]], int]:
    """The comma-separated definitions between the parenthesis at open_at and its match."""
    defs: list[list[Token]] = [[]]
    depth = 0
    for i in range(open_at, len(sig)):
        text = sig[i].text
        if text == b"(":
            depth += 1
            if depth == 1:
                continue
        elif text == b")":
            depth -= 1
            if depth == 0:
                return [d for d in defs if d], i
        if depth == 1 and text == b",":
            defs.append([])
        elif depth >= 1:
            defs[-1].append(sig[i])
    raise ValueError("unbalanced parentheses")


def _key_columns(toks: list[Token]) -> list[str]:
    """Column names of a key definition's (col, col(10), col DESC) list."""
    cols: list[str] = []
    depth = 0
    expect = False
    for tok in toks:
        if tok.text == b"(":
            depth += 1
            expect = depth == 1
            continue
        if tok.text == b")":
            depth -= 1
            continue
        if depth == 1 and tok.text == b",":
            expect = True
        elif depth == 1 and expect and tok.is_ident:
            cols.append(tok.ident())
            expect = False
    return cols


def parse_create_table(sql: bytes) -> TableDef:
    """Parse a CREATE TABLE as mysqldump writes it; ValueError when it is not one."""
    sig = list(significant(sql))
    i = 0
    while i < len(sig) and sig[i].upper() != b"TABLE":
        i += 1
    i += 1
    while i < len(sig) and sig[i].upper() in (b"IF", b"NOT", b"EXISTS"):
        i += 1
    if i >= len(sig) or not sig[i].is_ident:
        raise ValueError("no table name")
    name = sig[i].ident()
    if i + 2 < len(sig) and sig[i + 1].text == b".":  # db.table
        i += 2
        name = sig[i].ident()
    open_at = i + 1
    if open_at >= len(sig) or sig[open_at].text != b"(":
        raise ValueError("no column definitions (CREATE TABLE ... LIKE/SELECT?)")
    defs, close_at = _split_defs(sig, open_at)
    table = TableDef(name=name, body_end=sig[close_at].start)
    for d in defs:
        head = d[0].upper()
        if head in _KEY_WORDS and not (d[0].kind == "qid"):
            words = [t.upper() for t in d]
            if b"PRIMARY" in words:
                table.primary_key = _key_columns(d)
            elif b"UNIQUE" in words:
                table.unique_keys.append(_key_columns(d))
            continue
        words = [t.upper() for t in d[1:]]
        not_null = any(words[k] == b"NOT" and words[k + 1] == b"NULL"
                       for k in range(len(words) - 1))
        primary = b"PRIMARY" in words
        ctype = d[1].text.upper().decode("ascii", "replace") if len(d) > 1 else ""
        table.columns.append(Column(d[0].ident(), ctype, not_null or primary, primary))
        if primary:
            table.primary_key = [d[0].ident()]
        elif b"UNIQUE" in words:
            table.unique_keys.append([d[0].ident()])
    rest = sig[close_at + 1:]
    for k, tok in enumerate(rest):
        if tok.upper() in (b"ENGINE", b"TYPE"):
            j = k + 1
            if j < len(rest) and rest[j].text == b"=":
                j += 1
            if j < len(rest):
                table.engine = rest[j].ident()
                table.engine_token = (rest[j].start, rest[j].end)
            break
    return table


def decide(table: TableDef) -> TablePlan:
    """The policy: keep, convert the engine, derive a primary key, or refuse (pure)."""
    warnings: list[str] = []
    convert = None
    if table.engine is not None and table.engine.lower() != TARGET_ENGINE.lower():
        convert = table.engine
        warnings.append(f"table {table.name}: engine {table.engine} converted to "
                        f"{TARGET_ENGINE} ({WHY_ENGINE})")
    if table.primary_key:
        return TablePlan(table.name, convert, None, tuple(warnings))
    by_name = {c.name: c for c in table.columns}
    candidate = None
    reason = ""
    for cols in table.unique_keys:  # a UNIQUE key on one NOT NULL column is a key already
        if len(cols) == 1 and by_name.get(cols[0]) and by_name[cols[0]].not_null:
            candidate, reason = cols[0], "its UNIQUE NOT NULL column"
            break
    if candidate is None:
        not_null = [c for c in table.columns if c.not_null]
        if len(not_null) == 1 and not_null[0].type not in {t.decode() for t in _UNKEYABLE}:
            candidate = not_null[0].name
            reason = "its single NOT NULL column (the load fails if its values are not unique)"
    if candidate is None:
        return TablePlan(
            table.name, convert, None, tuple(warnings),
            error=f"table {table.name} has no primary key and none can be derived safely "
                  f"({WHY_PK})",
            hint=f"add a primary key to {table.name} in the source database (for example "
                 f"ALTER TABLE `{table.name}` ADD COLUMN id BIGINT AUTO_INCREMENT PRIMARY KEY) "
                 "and dump again")
    warnings.append(f"table {table.name} has no primary key: PRIMARY KEY (`{candidate}`) "
                    f"added on {reason}, because {WHY_PK}")
    return TablePlan(table.name, convert, candidate, tuple(warnings))


def apply(sql: bytes, table: TableDef, plan: TablePlan) -> bytes:
    """The CREATE TABLE with the plan's engine and primary key changes made."""
    edits: list[tuple[int, int, bytes]] = []
    if plan.add_primary_key:
        key = plan.add_primary_key.replace("`", "``").encode("utf-8")
        edits.append((table.body_end, table.body_end, b",\n  PRIMARY KEY (`" + key + b"`)\n"))
    if plan.convert_engine and table.engine_token:
        start, end = table.engine_token
        edits.append((start, end, TARGET_ENGINE.encode()))
    out = sql
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out


__all__ = ["Column", "TableDef", "TablePlan", "parse_create_table", "decide", "apply",
           "tokens", "WHY_PK", "WHY_ENGINE"]
