"""Generate a dump with many access_log rows (streamed to disk; for the kill test and bench)."""

from __future__ import annotations

from pathlib import Path

from .conftest import FIXTURES


def write_big_dump(path: Path, rows: int, per_insert: int = 4000) -> Path:
    """The mini fixture plus ``rows`` extra access_log rows in mysqldump-sized INSERTs."""
    mini = (FIXTURES / "harbor-mini.sql").read_bytes()
    head, tail = mini.split(b"-- Dump completed", 1)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(b"USE `registry`;\n")
        n = 100
        while n < rows + 100:
            count = min(per_insert, rows + 100 - n)
            values = b",".join(
                b"(%d,'user%d',1,'library/registry-%d','v%d','%032x','push','2017-08-01 10:00:00')"
                % (i, i % 97, i % 1000, i % 13, i) for i in range(n, n + count))
            fh.write(b"INSERT INTO `access_log` VALUES " + values + b";\n")
            n += count
        fh.write(b"-- Dump completed" + tail)
    return path
