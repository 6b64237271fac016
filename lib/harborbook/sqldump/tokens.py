"""Tokens of one SQL statement, and what kind of statement it is.

The reader hands over whole statements; the rename and the schema checks need to know which
bytes are identifiers, which are strings and which are comments. The tokenizer follows the
MySQL lexer where it matters: strings ('...' "..." with backslash escapes and doubled quotes),
quoted identifiers (`...` with doubled backticks), ``--``/``#``/``/* */`` comments, and
``/*!NNNNN ... */`` executable comments, whose markers are transparent (their content is code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Iterator

_TOKEN = re.compile(
    rb"""
    (?P<ws>\s+)
   |(?P<cstart>/\*M?!\d*)
   |(?P<comment>/\*.*?\*/|\#[^\n]*|--(?=\s|$)[^\n]*)
   |(?P<cend>\*/)
   |(?P<str>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*")
   |(?P<qid>`[^`]*(?:``[^`]*)*`)
   |(?P<word>[A-Za-z0-9_$\x80-\xff]+)
   |(?P<other>.)
    """,
    re.S | re.X,
)
# Tokens that carry no meaning for the grammar: skipped when looking at neighbours.
_SILENT = frozenset({"ws", "comment", "cstart", "cend"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ws cstart comment cend str qid word other
    text: bytes
    start: int
    end: int

    @property
    def is_ident(self) -> bool:
        return self.kind in ("qid", "word")

    def ident(self) -> str:
        """The identifier's name (backticks removed, doubled backticks undone)."""
        text = self.text[1:-1].replace(b"``", b"`") if self.kind == "qid" else self.text
        return text.decode("utf-8", "surrogateescape")

    def upper(self) -> bytes:
        return self.text.upper() if self.kind == "word" else b""


def tokens(sql: bytes, start: int = 0) -> Iterator[Token]:
    """Every token, whitespace and comments included (their bytes rebuild the statement)."""
    for match in _TOKEN.finditer(sql, start):
        kind = match.lastgroup or "other"
        if kind == "other" and match.group(0) in (b"'", b'"', b"`"):
            kind = "broken"  # an unterminated quote: the reader would have refused the dump
        yield Token(kind, match.group(0), match.start(), match.end())


def significant(sql: bytes, start: int = 0) -> Iterator[Token]:
    """Tokens that matter to the grammar (no whitespace, comments or /*! markers)."""
    return (tok for tok in tokens(sql, start) if tok.kind not in _SILENT)


class Kind(str, Enum):
    """What a statement does, as far as the migration cares."""

    CREATE_DATABASE = "create-database"
    ALTER_DATABASE = "alter-database"
    DROP_DATABASE = "drop-database"
    USE = "use"
    CREATE_TABLE = "create-table"
    DROP_TABLE = "drop-table"
    ALTER_TABLE = "alter-table"
    INSERT = "insert"
    LOCK = "lock"
    SET = "set"
    # Objects that belong to a database and cannot be moved by RENAME TABLE across databases.
    VIEW = "view"
    TRIGGER = "trigger"
    ROUTINE = "routine"
    EVENT = "event"
    OTHER = "other"


# Words a mysqldump/mariadb-dump statement can start with; anything else is not a dump.
DUMP_VERBS = frozenset(
    b"ALTER ANALYZE BEGIN CALL CHANGE COMMIT CREATE DELETE DROP FLUSH GRANT INSERT LOCK "
    b"OPTIMIZE RENAME REPLACE ROLLBACK SAVEPOINT SELECT SET START TRUNCATE UNLOCK UPDATE "
    b"USE".split()
)
_OBJECT_WORDS = {b"DATABASE": "DATABASE", b"SCHEMA": "DATABASE", b"TABLE": "TABLE",
                 b"VIEW": "VIEW", b"TRIGGER": "TRIGGER", b"PROCEDURE": "ROUTINE",
                 b"FUNCTION": "ROUTINE", b"EVENT": "EVENT"}
_CREATE = {"DATABASE": Kind.CREATE_DATABASE, "TABLE": Kind.CREATE_TABLE, "VIEW": Kind.VIEW,
           "TRIGGER": Kind.TRIGGER, "ROUTINE": Kind.ROUTINE, "EVENT": Kind.EVENT}
_DROP = {"DATABASE": Kind.DROP_DATABASE, "TABLE": Kind.DROP_TABLE, "VIEW": Kind.VIEW,
         "TRIGGER": Kind.TRIGGER, "ROUTINE": Kind.ROUTINE, "EVENT": Kind.EVENT}
_ALTER = {"DATABASE": Kind.ALTER_DATABASE, "TABLE": Kind.ALTER_TABLE, "VIEW": Kind.VIEW,
          "ROUTINE": Kind.ROUTINE, "EVENT": Kind.EVENT}
_SIMPLE = {b"USE": Kind.USE, b"INSERT": Kind.INSERT, b"REPLACE": Kind.INSERT,
           b"LOCK": Kind.LOCK, b"UNLOCK": Kind.LOCK, b"SET": Kind.SET}
# How far into a CREATE we look for the object word (DEFINER=`a`@`b` SQL SECURITY ... VIEW).
_HEAD_TOKENS = 24


def first_word(sql: bytes) -> bytes:
    """The statement's first word, upper case ('' when it starts with something else)."""
    for tok in significant(sql[:4096]):
        return tok.upper()
    return b""


def classify(sql: bytes) -> Kind:
    """The kind of a statement, from its first words (executable comments are code)."""
    head = []
    for tok in significant(sql[:2048]):
        head.append(tok)
        if len(head) >= _HEAD_TOKENS:
            break
    if not head:
        return Kind.OTHER
    verb = head[0].upper()
    if verb in _SIMPLE:
        return _SIMPLE[verb]
    table = {b"CREATE": _CREATE, b"DROP": _DROP, b"ALTER": _ALTER}.get(verb)
    if table is None:
        return Kind.OTHER
    for tok in head[1:]:
        word = _OBJECT_WORDS.get(tok.upper())
        if word is not None:
            return table.get(word, Kind.OTHER)
        if tok.text == b"(":
            break
    return Kind.OTHER
