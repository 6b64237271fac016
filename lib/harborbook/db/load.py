"""The staged import: a dump's statements executed into a fresh staging database.

Like the mysql client, each statement goes to the server as dumped (multi-row INSERTs stay
multi-row) with autocommit and unique/foreign-key checks off during the load. Unlike it, the
dump is read and rewritten in a second thread while the server executes the previous
statement, so parsing costs no wall time; a bounded queue keeps memory flat whatever the size.
The same statements, renamed for the target, are written to a gzip SQL artifact that the mysql
client can load; the reader thread writes it (zlib releases the GIL), so compressing never keeps
the server waiting for its next statement.
"""

from __future__ import annotations

import gzip
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable

import pymysql

from ..errors import HarborbookError
from ..sqldump import DumpError, DumpTransform, Item, Kind, SchemaError
from .connection import query, wrap
from .names import quote_ident

QUEUE_DEPTH = 16  # statements in flight: ~16 MB with mysqldump's 1 MB INSERT lines
SESSION = ("SET SESSION foreign_key_checks=0", "SET SESSION unique_checks=0",
           "SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO'")
_DONE = object()


@dataclass
class LoadResult:
    staging: str
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted per table
    tables: list[str] = field(default_factory=list)
    deferred: list[list[Item]] = field(default_factory=list)  # each with its SET context
    statements: int = 0
    bytes_read: int = 0


class ArtifactWriter:
    """A gzip SQL file the mysql client loads: statements with the delimiters they need."""

    def __init__(self, path: Path, target: str, level: int = 1):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        self.fh: IO[bytes] = gzip.open(self.tmp, "wb", compresslevel=level)  # type: ignore[assignment]
        self.delimiter = b";"
        self.fh.write(b"-- harborbook dump of database " + target.encode() + b"\n")

    def write(self, item: Item) -> None:
        if item.delimiter != self.delimiter:
            self.fh.write(b"DELIMITER " + item.delimiter + b"\n")
            self.delimiter = item.delimiter
        self.fh.write(item.artifact_sql)
        self.fh.write(item.delimiter + b"\n")

    def finish(self) -> Path:
        if self.delimiter != b";":
            self.fh.write(b"DELIMITER ;\n")
        self.fh.write(b"-- Dump completed\n")
        self.fh.close()
        self.tmp.replace(self.path)  # only a complete artifact gets the real name
        return self.path

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def _produce(transform: DumpTransform, out: "queue.Queue[object]", stop: threading.Event,
             writer: ArtifactWriter | None = None) -> None:
    try:
        for item in transform:
            if writer:
                writer.write(item)
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_DONE)
    except BaseException as exc:  # handed to the consumer, which raises it
        out.put(exc)


def recreate_staging(conn: pymysql.Connection, staging: str) -> None:
    db = quote_ident(staging)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8 COLLATE utf8_general_ci")
        cur.execute(f"USE {db}")
        for sql in SESSION:
            cur.execute(sql)


def load(conn: pymysql.Connection, transform: DumpTransform, *, endpoint: str,
         artifact: Path | None = None, progress: Callable[[int], None] | None = None
         ) -> LoadResult:
    """Execute the dump into ``transform.staging`` (dropped and recreated first)."""
    staging = transform.staging
    result = LoadResult(staging)
    try:
        recreate_staging(conn, staging)
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, doing=f"creating staging database {staging}") from None
    writer = ArtifactWriter(artifact, transform.target) if artifact else None
    items: "queue.Queue[object]" = queue.Queue(QUEUE_DEPTH)
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(transform, items, stop, writer),
                                name="dump-reader", daemon=True)
    producer.start()
    context: list[Item] = []  # SET statements just before a deferred object
    ok = False
    try:
        with conn.cursor() as cur:
            while True:
                item = items.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Item)
                result.statements += 1
                if item.deferred:
                    result.deferred.append(context + [item])
                    context = []
                    continue
                context = context + [item] if item.kind is Kind.SET else []
                if item.skip:
                    continue
                affected = _execute(cur, item, transform, endpoint)
                if item.kind is Kind.INSERT and item.table:
                    result.rows[item.table] = result.rows.get(item.table, 0) + affected
                elif item.kind is Kind.CREATE_TABLE and item.table:
                    result.tables.append(item.table)
                    result.rows.setdefault(item.table, 0)
                if progress:
                    progress(transform.reader.bytes_read)
        result.bytes_read = transform.reader.bytes_read
        producer.join()  # it wrote its last artifact statement before _DONE; now it has ended
        if writer:
            writer.finish()
        ok = True
        return result
    finally:
        stop.set()
        if not ok:
            # Unblock the producer, which may wait on a full queue, then let it end.
            while producer.is_alive():
                try:
                    items.get(timeout=0.1)
                except queue.Empty:
                    pass
            producer.join(timeout=5)
            if writer and not producer.is_alive():  # never close the file under its writer
                writer.abort()


def _execute(cur: pymysql.cursors.Cursor, item: Item, transform: DumpTransform,
             endpoint: str) -> int:
    try:
        return cur.execute(item.sql)
    except pymysql.err.IntegrityError as exc:
        plan = transform.summary.tables.get(item.table or "")
        if exc.args and exc.args[0] == 1062 and plan and plan.add_primary_key:
            raise SchemaError(
                f"table {item.table}: the values of {plan.add_primary_key} are not unique, so "
                "no primary key can be derived from it", source=transform.reader.source,
                line=item.line, hint=f"add a primary key to {item.table} in the source and "
                                     "dump again") from None
        raise _statement_error(exc, item, transform) from None
    except (pymysql.err.ProgrammingError, pymysql.err.DataError,
            pymysql.err.NotSupportedError) as exc:
        raise _statement_error(exc, item, transform) from None
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, doing=f"importing {transform.reader.source} "
                                        f"(line {item.line})") from None


def _statement_error(exc: BaseException, item: Item, transform: DumpTransform) -> HarborbookError:
    code = exc.args[0] if exc.args else "?"
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return DumpError(f"the server refused this statement ({code}: {text[:300]})",
                     source=transform.reader.source, line=item.line,
                     hint="the dump does not fit this server: see the message; the target "
                          "is untouched")


def run_deferred(conn: pymysql.Connection, target: str, groups: Iterable[list[Item]],
                 endpoint: str) -> int:
    """Create views, triggers, routines and events in the target (after the swap)."""
    count = 0
    try:
        with conn.cursor() as cur:
            cur.execute(f"USE {quote_ident(target)}")
            for group in groups:
                for item in group:
                    cur.execute(item.artifact_sql)
                count += 1
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, doing="creating views/triggers/routines in the target") \
            from None
    return count


def server_tables(conn: pymysql.Connection, database: str) -> list[str]:
    """Base tables of a database (views excluded), sorted."""
    rows = query(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                       "AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME", (database,))
    return [str(r[0]) for r in rows]
