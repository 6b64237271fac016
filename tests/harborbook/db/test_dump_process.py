"""02's and 07's dumper (db.source.dump_process) against a private MariaDB: the dump streams, and
a refused login ends in one TransportError naming the params key, never the password."""

from __future__ import annotations

import pytest

from harborbook.db import Login
from harborbook.db.source import dump_process, server_dump
from harborbook.errors import TransportError

pytestmark = pytest.mark.lab


def test_the_dump_streams_the_database(endpoint, admin):
    with dump_process(endpoint, admin, "mysql", hint="check the target") as out:
        dump = out.read()
    assert b"CREATE DATABASE" in dump and b"Dump completed" in dump.rstrip()[-100:], dump[:200]


def test_a_wrong_password_names_the_key_and_hides_the_password(endpoint):
    wrong = Login("root", "Not-The-Pw-1234", "database.source.password")
    with pytest.raises(TransportError) as info:
        with server_dump(endpoint, wrong, "mysql") as reader:
            for _ in reader:
                pass
    error = info.value
    assert "the dump failed" in error.message and "Access denied" in error.message
    assert error.hint == "the password is wrong: check the secret referenced by database.source.password"
    assert "Not-The-Pw-1234" not in error.message + (error.hint or "")


def test_another_failure_keeps_the_callers_hint(endpoint, admin):
    with pytest.raises(TransportError) as info:
        with dump_process(endpoint, admin, "no_such_database", hint="check the database.target endpoints") as out:
            out.read()
    assert info.value.hint == "check the database.target endpoints"
    assert "no_such_database" in info.value.message
