"""The lab's Redis: ACL, config on loopback, PING. No root, no daemons."""

from __future__ import annotations

import hashlib

import pytest

from harborlab.redisd import acl_line, ping_says_pong, redis_conf


def test_acl_line_holds_a_hash_not_the_password():
    line = acl_line("hunter2")
    assert "hunter2" not in line and hashlib.sha256(b"hunter2").hexdigest() in line


def test_redis_conf_binds_loopback():
    text = redis_conf(host="127.0.0.1", port=16379, folder="/x", aclfile="/x/users.acl")
    assert "bind 127.0.0.1\n" in text and "port 16379\n" in text and "aclfile /x/users.acl" in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(True, True), (b"PONG", True), ("NOAUTH Authentication required.", False), (False, False)],
    ids=["redis-py", "raw", "noauth", "false"],
)
def test_ping_says_pong(answer, expected):
    assert ping_says_pong(answer) is expected
