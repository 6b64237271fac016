"""The staged import: a dump's statements executed into a fresh staging database.

Like the mysql client, each statement goes to the server as dumped (multi-row INSERTs stay
multi-row) with autocommit and unique/foreign-key checks off during the load. Unlike it, the
dump is read and rewritten in a second thread while the server executes the previous
statement, so parsing costs no wall time; a bounded queue keeps memory flat whatever the size.
The same statements, renamed for the target, are written to a gzip SQL artifact that the mysql
client can load; the reader thread writes it (zlib releases the GIL), so compressing never keeps
the server waiting for its next statement.

With several loader connections the INSERTs go to whichever connection is free (each statement is
complete, with its rows' explicit keys, so the order they land in does not change the result and
the checksum proves it); every other statement (CREATE TABLE, SET, ...) waits until all INSERTs
in flight are done and runs alone, SET statements on every connection (they are session state:
character set, time zone). A statement that fails Galera's certification or a lock wait is
retried on its own (autocommit: the failed statement left nothing behind), never the import.
"""

from __future__ import annotations

import gzip
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable

import pymysql

from ..errors import HarborbookError
from ..sqldump import DumpError, DumpTransform, Item, Kind, SchemaError
from .connection import clone, query, wrap
from .names import quote_ident

QUEUE_DEPTH = 16  # statements in flight: ~16 MB with mysqldump's 1 MB INSERT lines
SESSION = ("SET SESSION foreign_key_checks=0", "SET SESSION unique_checks=0",
           "SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO'")
_DONE = object()
# Loader connections: measured 1, 2 and 4 against the pipe (BENCHMARKS.md section 1).
DEFAULT_CONNECTIONS = 2
# Server errors a statement may simply be retried after (autocommit: it left nothing behind):
# 1213 deadlock, which is also how Galera reports a certification failure; 1205 lock wait timeout.
RETRYABLE = frozenset({1213, 1205})
RETRIES = 5


@dataclass
class LoadResult:
    staging: str
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted per table
    tables: list[str] = field(default_factory=list)
    deferred: list[list[Item]] = field(default_factory=list)  # each with its SET context
    statements: int = 0
    bytes_read: int = 0
    connections: int = 1
    retries: int = 0  # statements retried after a certification failure or lock wait timeout


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
    prepare_session(conn, staging)


def prepare_session(conn: pymysql.Connection, staging: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"USE {quote_ident(staging)}")
        for sql in SESSION:
            cur.execute(sql)


class Loaders:
    """INSERTs spread over connections (each to whichever is free); anything else runs alone.

    ``conns[0]`` is the caller's connection; with one connection everything runs inline.
    """

    def __init__(self, conns: list[pymysql.Connection], transform: DumpTransform,
                 endpoint: str):
        self.conns, self.transform, self.endpoint = conns, transform, endpoint
        self.rows: list[dict[str, int]] = [{} for _ in conns]
        self.retries = [0 for _ in conns]
        self.error: BaseException | None = None
        self.stopping = False
        self.work: "queue.Queue[Item | None]" = queue.Queue(2 * len(conns))
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                         name=f"loader-{i}") for i in range(len(conns))]
        if len(conns) > 1:
            for thread in self.threads:
                thread.start()

    def insert(self, item: Item) -> None:
        if len(self.conns) == 1:
            self._insert(0, item)
            return
        self.work.put(item)
        self._raise()

    def alone(self, item: Item) -> None:
        """Run a statement once every INSERT before it is done (a SET on every connection)."""
        self.drain()
        targets = self.conns if item.kind is Kind.SET else self.conns[:1]
        for conn in targets:
            with conn.cursor() as cur:
                _execute_retrying(cur, item, self.transform, self.endpoint)

    def drain(self) -> None:
        if len(self.conns) > 1:
            self.work.join()
        self._raise()

    def close(self) -> None:
        """Stop the worker threads (after an error too: they skip what is still queued)."""
        self.stopping = True
        if len(self.conns) > 1:
            for _ in self.threads:
                self.work.put(None)
            for thread in self.threads:
                thread.join()

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rows in self.rows:
            for table, n in rows.items():
                out[table] = out.get(table, 0) + n
        return out

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _insert(self, i: int, item: Item) -> None:
        with self.conns[i].cursor() as cur:
            affected, retries = _execute_retrying(cur, item, self.transform, self.endpoint)
        self.retries[i] += retries
        rows = self.rows[i]
        rows[item.table or ""] = rows.get(item.table or "", 0) + affected

    def _run(self, i: int) -> None:
        while True:
            item = self.work.get()
            try:
                if item is None:
                    return
                if self.error is None and not self.stopping:
                    self._insert(i, item)
            except BaseException as exc:  # handed to the dispatcher, which raises it
                if self.error is None:
                    self.error = exc
            finally:
                self.work.task_done()


def load(conn: pymysql.Connection, transform: DumpTransform, *, endpoint: str,
         artifact: Path | None = None, progress: Callable[[int], None] | None = None,
         connections: int = DEFAULT_CONNECTIONS,
         opener: Callable[[], pymysql.Connection] | None = None) -> LoadResult:
    """Execute the dump into ``transform.staging`` (dropped and recreated first).

    ``connections`` loader sessions (``conn`` and ``connections - 1`` more from ``opener``,
    by default sessions like ``conn``) share the INSERTs.
    """
    staging = transform.staging
    result = LoadResult(staging, connections=max(1, connections))
    conns = [conn]
    try:
        recreate_staging(conn, staging)
        for _ in range(result.connections - 1):
            extra = opener() if opener else clone(conn, endpoint)
            conns.append(extra)
            prepare_session(extra, staging)
    except pymysql.err.MySQLError as exc:
        _close(conns[1:])
        raise wrap(exc, endpoint, doing=f"creating staging database {staging}") from None
    except BaseException:
        _close(conns[1:])
        raise
    loaders = Loaders(conns, transform, endpoint)
    writer = ArtifactWriter(artifact, transform.target) if artifact else None
    items: "queue.Queue[object]" = queue.Queue(QUEUE_DEPTH)
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(transform, items, stop, writer),
                                name="dump-reader", daemon=True)
    producer.start()
    context: list[Item] = []  # SET statements just before a deferred object
    ok = False
    try:
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
            if item.kind is Kind.INSERT and item.table:
                loaders.insert(item)
            else:
                loaders.alone(item)
                if item.kind is Kind.CREATE_TABLE and item.table:
                    result.tables.append(item.table)
                    result.rows.setdefault(item.table, 0)
            if progress:
                progress(transform.reader.bytes_read)
        loaders.drain()
        for table, n in loaders.totals().items():
            result.rows[table] = result.rows.get(table, 0) + n
        result.retries = sum(loaders.retries)
        result.bytes_read = transform.reader.bytes_read
        producer.join()  # it wrote its last artifact statement before _DONE; now it has ended
        if writer:
            writer.finish()
        ok = True
        return result
    finally:
        loaders.close()
        _close(conns[1:])
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


def _close(conns: list[pymysql.Connection]) -> None:
    for extra in conns:
        try:
            extra.close()
        except Exception:  # already gone: nothing to release
            pass


def _execute_retrying(cur: pymysql.cursors.Cursor, item: Item, transform: DumpTransform,
                      endpoint: str, retries: int = RETRIES) -> tuple[int, int]:
    """(affected rows, retries): a certification failure or lock wait timeout of this one
    statement is retried after a short pause; any other error, or the last retry's, is raised."""
    for attempt in range(retries + 1):
        try:
            return cur.execute(item.sql), attempt
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code not in RETRYABLE or attempt == retries:
                raise _translate(exc, item, transform, endpoint) from None
            time.sleep(0.05 * 2 ** attempt)
        except pymysql.err.MySQLError as exc:
            raise _translate(exc, item, transform, endpoint) from None
    raise AssertionError("unreachable")


def _translate(exc: pymysql.err.MySQLError, item: Item, transform: DumpTransform,
               endpoint: str) -> HarborbookError:
    """The error an operator sees for a statement the server refused or could not run."""
    if isinstance(exc, pymysql.err.IntegrityError):
        plan = transform.summary.tables.get(item.table or "")
        if exc.args and exc.args[0] == 1062 and plan and plan.add_primary_key:
            return SchemaError(
                f"table {item.table}: the values of {plan.add_primary_key} are not unique, so "
                "no primary key can be derived from it", source=transform.reader.source,
                line=item.line, hint=f"add a primary key to {item.table} in the source and "
                                     "dump again")
        return _statement_error(exc, item, transform)
    if isinstance(exc, (pymysql.err.ProgrammingError, pymysql.err.DataError,
                        pymysql.err.NotSupportedError)):
        return _statement_error(exc, item, transform)
    return wrap(exc, endpoint, doing=f"importing {transform.reader.source} (line {item.line})")


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
