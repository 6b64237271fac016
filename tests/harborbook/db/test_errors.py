"""Database errors become one line with a hint an operator can act on; never the password."""

from __future__ import annotations

import pymysql
import pytest

from harborbook.db.connection import Endpoint, Login, wrap
from harborbook.secrets import SecretRef

ENDPOINT = Endpoint("127.0.0.1", 13306)


@pytest.mark.parametrize("code, text", [
    (1180, "Error while appending streaming replication fragment(provider status: Not connected to Primary Component)"),
    (1047, "WSREP has not yet prepared node for application use"),
])
def test_a_galera_cluster_reforming_is_named_with_what_to_do(code, text):
    error = wrap(pymysql.err.OperationalError(code, text), ENDPOINT, doing="importing")
    assert error.message.startswith("importing: 127.0.0.1:13306: the Galera cluster is re-forming")
    assert f"({code}: " in error.message
    assert "Synced" in error.hint and "re-run" in error.hint


def test_other_errors_keep_their_own_hints():
    lost = wrap(pymysql.err.OperationalError(2013, "Lost connection to server during query"), ENDPOINT)
    assert lost.message.startswith("lost the connection to 127.0.0.1:13306") and "re-run" in lost.hint
    other = wrap(pymysql.err.OperationalError(1146, "Table 'x.y' doesn't exist"), ENDPOINT)
    assert "re-forming" not in other.message and other.hint == "see the server's error log"


def test_the_password_never_reaches_the_message(monkeypatch):
    monkeypatch.setenv("HB_TEST_DB_PASSWORD", "s3cret-Pw")
    login = Login("harbork8s", SecretRef("env:HB_TEST_DB_PASSWORD"), field="database.target.password")
    error = wrap(pymysql.err.OperationalError(1045, "Access denied for user 'harbork8s' (password s3cret-Pw)"),
                 ENDPOINT, login)
    assert "s3cret-Pw" not in error.message + error.hint
    assert "database.target.password" in error.hint
