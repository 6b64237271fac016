"""beego's _REDIS_URL and Harbor 1.2's password hash."""

from __future__ import annotations

import hashlib

import pytest

from harborbook.beego import (RedisSessionUrl, RedisUrlError, build_redis_url, new_salt, parse_redis_url,
                              password_hash, password_matches)

PARSE = [
    ("10.0.0.5:6379,100,s3cret,11", RedisSessionUrl("10.0.0.5", 6379, 100, "s3cret", 11)),
    ("redis:6379", RedisSessionUrl("redis", 6379, 100, "", 0)),
    ("redis:6379,,pw", RedisSessionUrl("redis", 6379, 100, "pw", 0)),
    ("redis:6379,0,pw,2", RedisSessionUrl("redis", 6379, 100, "pw", 2)),
    ("redis:6379,-5,,3", RedisSessionUrl("redis", 6379, 100, "", 3)),
    ("redis:6379,20,,x", RedisSessionUrl("redis", 6379, 20, "", 0)),
    ("redis:6379,20,pw,-1", RedisSessionUrl("redis", 6379, 20, "pw", 0)),
    ("redis:6379,abc,pw,1", RedisSessionUrl("redis", 6379, 100, "pw", 1)),
    # beego trims nothing and strconv.Atoi takes no spaces: " 1 " is not a db number (so 0).
    ("redis:6379,20,pw, 1 ", RedisSessionUrl("redis", 6379, 20, "pw", 0)),
]


@pytest.mark.parametrize(("text", "expected"), PARSE, ids=[
    "full", "address-only", "empty-pool", "zero-pool", "negative-pool", "bad-db", "negative-db", "junk-pool",
    "spaced-db"])
def test_parse(text, expected):
    parsed = parse_redis_url(text)
    assert parsed == expected
    assert parsed.password == expected.password


@pytest.mark.parametrize("text", ["redis", "redis:port", ":6379", "h:6379,1,a,b,c", "h:99999", " redis:6379"],
                         ids=["no-port", "port-not-number", "no-host", "comma-in-password", "port-range",
                              "spaced-host"])
def test_parse_rejects(text):
    with pytest.raises(RedisUrlError):
        parse_redis_url(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [(("10.0.0.5", 6379, "s3cret", 11), "10.0.0.5:6379,100,s3cret,11"),
     (("redis", 6379), "redis:6379,100,,0"),
     (("redis", 6380, "pw", 0, 0), "redis:6380,100,pw,0"),
     (("redis", 6380, "pw", 1, 7), "redis:6380,7,pw,1")],
    ids=["full", "no-password", "pool-defaulted", "pool-given"],
)
def test_build(args, expected):
    assert build_redis_url(*args) == expected


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("redis", 6379, "a,b"), "comma"), (("", 6379), "host"), (("redis", 0), "port"),
     (("redis", 6379, "pw", -1), "negative"), (("re,dis", 6379), "host")],
    ids=["comma-password", "empty-host", "port-zero", "negative-db", "comma-host"],
)
def test_build_rejects(args, needle):
    with pytest.raises(RedisUrlError, match=needle):
        build_redis_url(*args)


def test_comma_error_never_shows_the_password():
    with pytest.raises(RedisUrlError) as info:
        build_redis_url("redis", 6379, "top,secret")
    assert "top,secret" not in info.value.render() and info.value.hint


def test_build_parse_round_trip():
    url = parse_redis_url(build_redis_url("127.0.0.1", 13600, "p@ss:w0rd", 5))
    assert (url.address, url.password, url.db, url.pool_size) == ("127.0.0.1:13600", "p@ss:w0rd", 5, 100)
    assert "p@ss" not in repr(url)


def test_password_hash_is_pbkdf2_sha1_4096_16_bytes():
    # RFC 6070's PBKDF2-HMAC-SHA1 vector (P="password", S="salt", c=4096) cut to 16 bytes.
    assert password_hash("password", "salt") == "4b007901b765489abead49d926f721d0"


def test_password_hash_matches_hashlib():
    expected = hashlib.pbkdf2_hmac("sha1", b"Harbor12345", b"abc", 4096, 16).hex()
    assert password_hash("Harbor12345", "abc") == expected


@pytest.mark.parametrize(
    ("password", "salt", "ok"),
    [("Harbor12345", "s1", True), ("harbor12345", "s1", False), ("Harbor12345", "s2", False)],
    ids=["right", "wrong-password", "wrong-salt"],
)
def test_password_matches(password, salt, ok):
    stored = password_hash("Harbor12345", "s1")
    assert password_matches(password, salt, stored) is ok


def test_new_salt():
    salts = {new_salt() for _ in range(20)}
    assert len(salts) == 20 and all(len(s) == 32 and s.isalnum() for s in salts)
