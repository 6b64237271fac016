"""The loader's retry of one statement and its spreading of INSERTs, without a server."""

from __future__ import annotations

import threading

import pymysql
import pytest

from harborbook.db import load as loading
from harborbook.errors import TransportError
from harborbook.sqldump import DumpError, DumpTransform, Kind
from harborbook.sqldump.reader import reader_for_bytes
from harborbook.sqldump.transform import Item


class FakeCursor:
    """Answers each execute from a script: an int (affected rows) or an exception to raise."""

    def __init__(self, script):
        self.script = list(script)
        self.sent: list[bytes] = []

    def execute(self, sql):
        self.sent.append(sql)
        step = self.script.pop(0) if self.script else 1
        if isinstance(step, BaseException):
            raise step
        return step

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeConn:
    def __init__(self, script=(), meeting: "Meeting | None" = None):
        self.cursor_ = FakeCursor(script)
        self.meeting = meeting
        self.threads: set[str] = set()

    def cursor(self):
        self.threads.add(threading.current_thread().name)
        if self.meeting is not None:
            self.meeting.arrive(self)
        return self.cursor_


class Meeting:
    """Holds the first connection's statement until a second connection has one too.

    Without it one fast worker may take every statement, and "spread" would depend on the
    scheduler (a sleep cannot help: the ``no_sleep`` fixture patches ``time.sleep`` itself).
    """

    def __init__(self, quorum: int = 2, timeout: float = 10.0):
        self.quorum, self.timeout = quorum, timeout
        self.present: set[int] = set()
        self.cond = threading.Condition()

    def arrive(self, conn) -> None:
        with self.cond:
            self.present.add(id(conn))
            self.cond.notify_all()
            self.cond.wait_for(lambda: len(self.present) >= self.quorum, timeout=self.timeout)


def _transform():
    return DumpTransform(reader_for_bytes(b"SELECT 1;\n", require_trailer=False), database="registry",
                         staging="r__staging", target="r")


def _insert(n: int, table: str = "access_log") -> Item:
    sql = b"INSERT INTO `%s` VALUES (%d)" % (table.encode(), n)
    return Item(Kind.INSERT, n, sql, sql, table=table)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(loading.time, "sleep", lambda s: None)


def test_a_certification_failure_is_retried_for_that_statement_only():
    deadlock = pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
    cur = FakeCursor([deadlock, deadlock, 7])
    assert loading._execute_retrying(cur, _insert(1), _transform(), "db:3306") == (7, 2)
    assert cur.sent == [_insert(1).sql] * 3


def test_retries_end_with_the_error_and_its_hint():
    deadlock = pymysql.err.OperationalError(1213, "Deadlock found")
    cur = FakeCursor([deadlock] * 10)
    with pytest.raises(TransportError, match="deadlock") as info:
        loading._execute_retrying(cur, _insert(1), _transform(), "db:3306", retries=3)
    assert len(cur.sent) == 4 and "line 1" in info.value.message


def test_other_errors_are_not_retried():
    cur = FakeCursor([pymysql.err.ProgrammingError(1064, "syntax error")])
    with pytest.raises(DumpError, match="1064"):
        loading._execute_retrying(cur, _insert(1), _transform(), "db:3306")
    assert len(cur.sent) == 1
    cur = FakeCursor([pymysql.err.OperationalError(2013, "Lost connection")])
    with pytest.raises(TransportError, match="lost the connection"):
        loading._execute_retrying(cur, _insert(1), _transform(), "db:3306")
    assert len(cur.sent) == 1


def test_inserts_spread_over_connections_and_other_statements_wait_for_them():
    meeting = Meeting()
    conns = [FakeConn(meeting=meeting) for _ in range(3)]
    loaders = loading.Loaders(conns, _transform(), "db:3306")
    try:
        for n in range(30):
            loaders.insert(_insert(n))
        create = Item(Kind.CREATE_TABLE, 99, b"CREATE TABLE `t` (id int)", b"", table="t")
        loaders.alone(create)
        # Every INSERT was done before the CREATE ran (alone, on the first connection).
        assert conns[0].cursor_.sent[-1] == create.sql
        assert sum(len(c.cursor_.sent) for c in conns) == 31
        setting = Item(Kind.SET, 100, b"SET NAMES utf8mb4", b"")
        loaders.alone(setting)
        assert all(c.cursor_.sent[-1] == setting.sql for c in conns)  # session state: everywhere
        loaders.drain()
    finally:
        loaders.close()
    assert loaders.totals() == {"access_log": 30}
    inserts = [sum(sql.startswith(b"INSERT") for sql in c.cursor_.sent) for c in conns]
    assert sum(1 for n in inserts if n) >= 2, inserts  # really spread


def test_a_failing_insert_stops_the_import_with_its_error():
    bad = pymysql.err.DataError(1406, "Data too long for column")
    conns = [FakeConn([bad] + [1] * 100), FakeConn([bad] + [1] * 100)]
    loaders = loading.Loaders(conns, _transform(), "db:3306")
    with pytest.raises(DumpError, match="1406"):
        try:
            for n in range(50):
                loaders.insert(_insert(n))
            loaders.drain()
        finally:
            loaders.close()
