"""Rename the database of a dump: only the database name, never data or look-alike identifiers.

A blind ``sed s/registry/registry_k8s/`` (the reference procedure) also rewrites the column
``registry_url``, the table ``replication_target`` and every repository called
``library/registry``. Here the statement is tokenized and a name changes only where the grammar
says it names a database:

- ``CREATE|ALTER|DROP DATABASE|SCHEMA [IF [NOT] EXISTS] <db>`` and ``USE <db>``;
- the qualifier of a qualified name: ``<db>.tbl``, ``<db>.tbl.col``, ``<db>.*`` - a name
  followed by ``.`` and not itself preceded by ``.`` (so ``t.registry`` is a column, untouched),
  inside trigger, view and routine bodies as anywhere else.

INSERT statements are rewritten in their head only (``INSERT INTO `db`.`t` (...) VALUES``):
after VALUES there is only data, which a rename must never touch, and skipping it keeps
multi-megabyte rows off the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tokens import Kind, Token, significant, tokens

_DB_WORDS = (b"DATABASE", b"SCHEMA")
_DB_VERBS = (b"CREATE", b"ALTER", b"DROP")
_IF_WORDS = (b"IF", b"NOT", b"EXISTS")
_INSERT_HEAD_END = (b"VALUES", b"VALUE", b"SELECT", b"SET")


@dataclass
class Renamed:
    """The rewritten statement and the database names it declares (CREATE DATABASE / USE)."""

    sql: bytes
    declared: list[str] = field(default_factory=list)
    changes: int = 0


def quote_identifier(name: str) -> bytes:
    return b"`" + name.replace("`", "``").encode("utf-8") + b"`"


def _declares_database(sig: list[Token], j: int) -> bool:
    """Whether sig[j] is the name in CREATE/ALTER/DROP DATABASE ... or USE."""
    if sig[j].upper() in _IF_WORDS:
        return False
    k = j - 1
    if k == 0 and sig[0].upper() == b"USE":
        return True
    while k >= 0 and sig[k].upper() in _IF_WORDS:
        k -= 1
    return (k >= 1 and sig[k].upper() in _DB_WORDS and sig[k - 1].upper() in _DB_VERBS)


def _insert_head(sql: bytes) -> int:
    """Where the data of an INSERT starts (the column list or VALUES); len(sql) if not found."""
    for tok in significant(sql):
        if tok.text == b"(" or tok.upper() in _INSERT_HEAD_END:
            return tok.start
    return len(sql)


def rename_database(sql: bytes, old: str, new: str, kind: Kind | None = None) -> Renamed:
    """Rename database ``old`` to ``new`` in one statement (see the module docstring)."""
    old_b = old.encode("utf-8")
    limit = _insert_head(sql) if kind is Kind.INSERT else len(sql)
    declares = kind in (Kind.CREATE_DATABASE, Kind.ALTER_DATABASE, Kind.DROP_DATABASE, Kind.USE)
    if old_b not in sql[:limit] and not declares:
        return Renamed(sql)
    toks = [tok for tok in tokens(sql[:limit])]
    sig = [tok for tok in toks if tok.kind not in ("ws", "comment", "cstart", "cend")]
    result = Renamed(sql)
    replace: dict[int, bytes] = {}
    for j, tok in enumerate(sig):
        if not tok.is_ident:
            continue
        declared = _declares_database(sig, j)
        if declared:
            result.declared.append(tok.ident())
        qualifier = (j + 1 < len(sig) and sig[j + 1].text == b"."
                     and not (j > 0 and sig[j - 1].text == b"."))
        if (declared or qualifier) and tok.ident() == old:
            replace[tok.start] = quote_identifier(new)
    if not replace:
        return result
    out = []
    for tok in toks:
        out.append(replace.get(tok.start, tok.text))
    out.append(sql[limit:])
    result.sql = b"".join(out)
    result.changes = len(replace)
    return result
