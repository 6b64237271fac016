"""The Galera cluster: bootstrap choice, grastate, wsrep health, config on loopback, the folders mysql
must reach. No root, no daemons."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from harborlab.component import DEGRADED, OK
from harborlab import galera
from harborlab.galera import (
    DbError,
    Node,
    choose_bootstrap,
    classify,
    mark_safe,
    native_password_hash,
    nodes_from,
    parse_grastate,
    refusal,
    root_sql_until_accepted,
    server_cnf,
    superuser_sql,
    wsrep_settings,
)
from harborlab.lab import PORTS, LabError


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({1: {"safe_to_bootstrap": "0", "seqno": "5"}, 2: {"safe_to_bootstrap": "1", "seqno": "5"}}, 2),
        ({1: {"safe_to_bootstrap": "0", "seqno": "-1"}, 3: {"safe_to_bootstrap": "0", "seqno": "9"}}, 3),
        ({1: {"safe_to_bootstrap": "0", "seqno": "4"}, 2: {"safe_to_bootstrap": "0", "seqno": "4"}}, 1),
        ({}, 1),
    ],
    ids=["clean-shutdown-marks-last-out", "crash-highest-seqno", "tie-lowest-index", "fresh"],
)
def test_choose_bootstrap(states, expected):
    assert choose_bootstrap(states) == expected


def test_parse_and_mark_grastate(tmp_path):
    text = "# GALERA saved state\nversion: 2.1\nuuid: abc\nseqno: 12\nsafe_to_bootstrap: 0\n"
    assert parse_grastate(text)["seqno"] == "12"
    path = tmp_path / "grastate.dat"
    path.write_text(text)
    mark_safe(path)
    assert parse_grastate(path.read_text())["safe_to_bootstrap"] == "1"


@pytest.mark.parametrize(
    ("size", "state", "health"),
    [(3, "Synced", OK), (2, "Synced", DEGRADED), (3, "Donor/Desynced", DEGRADED), (None, None, DEGRADED)],
    ids=["healthy", "node-missing", "donor", "no-answer"],
)
def test_classify_wsrep(size, state, health):
    assert classify(size, state, expected=3)[0] == health


def test_wsrep_settings_keep_every_port_on_loopback():
    nodes = nodes_from(PORTS)
    settings = wsrep_settings(nodes[1], nodes, "127.0.0.1")
    assert settings["wsrep_cluster_address"] == "gcomm://127.0.0.1:14567,127.0.0.1:14577,127.0.0.1:14587"
    assert "gmcast.listen_addr=tcp://127.0.0.1:14577" in settings["wsrep_provider_options"]
    assert "ist.recv_addr=127.0.0.1:14578" in settings["wsrep_provider_options"]
    assert settings["wsrep_sst_receive_address"] == "127.0.0.1:14454"
    assert settings["binlog_format"] == "ROW" and settings["innodb_autoinc_lock_mode"] == "2"


def test_server_cnf_binds_loopback(tmp_path):
    text = server_cnf(host="127.0.0.1", port=13316, folder=tmp_path, settings={"extra": "1"})
    assert text.startswith("[mysqld]\n")
    assert "bind_address = 127.0.0.1\n" in text and "port = 13316\n" in text and "extra = 1\n" in text


def test_native_password_hash_matches_mysql_password_function():
    expected = "*" + hashlib.sha1(hashlib.sha1(b"abc").digest()).hexdigest().upper()
    assert native_password_hash("abc") == expected and len(expected) == 41


def test_superuser_sql_never_carries_the_password():
    sql = superuser_sql("harborbook_admin", "Pa55word")
    assert "Pa55word" not in sql and native_password_hash("Pa55word") in sql


def test_node_name():
    assert Node(2, 1, 2, 3, 4).name == "galera-2"


def test_mariadb_folders_must_be_reachable_by_mysql(tmp_path):
    from pathlib import Path

    from harborlab.galera import require_traversable

    locked = tmp_path / "locked"
    (locked / "state").mkdir(parents=True)
    locked.chmod(0o700)
    with pytest.raises(LabError, match=f"{locked} is not traversable by other users") as info:
        require_traversable(locked / "state")
    assert "chmod o+x" in info.value.hint
    require_traversable(Path("/usr/share/doc"))  # 0755 all the way up: no error


def test_missing_folders_below_the_state_are_not_a_problem(tmp_path):
    from pathlib import Path

    from harborlab.galera import require_traversable

    require_traversable(Path("/usr/share/not-created-yet/galera"))  # only existing folders are checked


@pytest.mark.parametrize(
    ("stderr", "said"),
    [
        ("ERROR 1047 (08S01) at line 1: WSREP has not yet prepared node for application use\n",
         "ERROR 1047 (08S01) at line 1: WSREP has not yet prepared node for application use"),
        ("ERROR 1064 (42000) at line 2: You have an error in your SQL syntax; check the manual that corresponds "
         "to your MariaDB server version for the right syntax to use near 'PASSWORD '*31C5DF' at line 1\n",
         "ERROR 1064 (42000) at line 2: You have an error in your SQL syntax; check the manual that corresponds "
         "to your MariaDB server version for the right syntax to use near …"),
        ("ERROR 2002 (HY000): Can't connect to local server through socket '/lab/galera-1/mysqld.sock' (2)\n",
         "ERROR 2002 (HY000): Can't connect to local server through socket …"),
        ("", "exit 1, nothing on stderr"),
    ],
    ids=["whole-line", "cut-at-the-quote", "an-apostrophe-is-no-quote", "silent"],
)
def test_a_refusal_says_what_the_client_said_but_never_the_sql(stderr, said):
    assert refusal(stderr, 1) == said


def test_sql_refused_for_a_moment_after_a_start_is_sent_again(monkeypatch):
    answers = [DbError("root SQL on s failed: ERROR 1047"), DbError("root SQL on s failed: ERROR 1047"), "done"]
    sent = []

    def root_sql(socket, sql):
        sent.append(sql)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(galera, "root_sql", root_sql)
    monkeypatch.setattr(galera.time, "sleep", lambda seconds: None)
    assert root_sql_until_accepted(Path("s"), "CREATE USER ...") == "done"
    assert sent == ["CREATE USER ..."] * 3


def test_sql_refused_until_the_deadline_raises_the_last_refusal(monkeypatch):
    tries = itertools.count(1)

    def root_sql(socket, sql):
        raise DbError(f"refusal {next(tries)}")

    monkeypatch.setattr(galera, "root_sql", root_sql)
    monkeypatch.setattr(galera.time, "sleep", lambda seconds: None)
    with pytest.raises(DbError) as raised:
        root_sql_until_accepted(Path("s"), "CREATE USER ...", within=0.05)
    assert str(raised.value) == f"refusal {next(tries) - 1}"
