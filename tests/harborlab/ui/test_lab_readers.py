"""The ui stand-in's own readers: beego's save path, Harbor 1.2's password hash, libtrust's key."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harborlab.errors import LabError
from harborlab.ui import libtrust, passwords
from harborlab.ui.redisurl import SessionSavePath, go_atoi, parse_save_path, split_host_port
from harborlab.ui.settings import UiConfigError, load_settings


@pytest.mark.parametrize(("text", "value"), [
    ("12", 12), ("+7", 7), ("-3", -3), ("007", 7), (" 1", None), ("1 ", None), ("1_0", None), ("٣", None),
    ("", None), ("9223372036854775807", 2**63 - 1), ("9223372036854775808", None)],
    ids=["plain", "plus", "minus", "zeros", "lead-space", "trail-space", "underscore", "arabic-digit", "empty",
         "int64-max", "overflow"])
def test_go_atoi(text, value):
    assert go_atoi(text) == value


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.5:6379,100,s3cret,11", SessionSavePath("10.0.0.5:6379", 100, "s3cret", 11)),
    ("redis:6379", SessionSavePath("redis:6379", 100, "", 0)),
    ("redis:6379,0,pw,2", SessionSavePath("redis:6379", 100, "pw", 2)),      # <= 0 is MaxPoolSize in v1.6.1
    ("redis:6379,-5,,3", SessionSavePath("redis:6379", 100, "", 3)),
    ("redis:6379,20,pw,-1", SessionSavePath("redis:6379", 20, "pw", 0)),
    ("redis:6379,20,pw, 1", SessionSavePath("redis:6379", 20, "pw", 0)),    # Atoi takes no space
    ("h:1,5,a,b,c", SessionSavePath("h:1", 5, "a", 0)),                     # a comma in the password
    (" redis:6379", SessionSavePath(" redis:6379", 100, "", 0)),            # untrimmed
], ids=["full", "address-only", "zero-pool", "negative-pool", "negative-db", "spaced-db", "extra-fields",
        "spaced-address"])
def test_parse_save_path(text, expected):
    got = parse_save_path(text)
    assert got == expected and got.password == expected.password
    assert "password" not in repr(got)


@pytest.mark.parametrize(("address", "expected"), [("redis:6379", ("redis", 6379)), ("[::1]:7000", ("::1", 7000)),
                                                    (":6379", ("", 6379))], ids=["name", "v6", "no-host"])
def test_split_host_port(address, expected):
    assert split_host_port(address) == expected


@pytest.mark.parametrize("address", ["redis", "::1:6379", "redis:port", "redis:70000", " redis:63 79"],
                         ids=["no-port", "v6-unbracketed", "named-port", "port-range", "space-in-port"])
def test_split_host_port_refuses(address):
    with pytest.raises(LabError, match="host:port"):
        split_host_port(address)


def test_password_hash_is_rfc6070_pbkdf2_sha1_cut_to_16_bytes():
    assert passwords.encrypt("password", "salt") == "4b007901b765489abead49d926f721d0"


@pytest.mark.parametrize(("stored", "ok"), [("4b007901b765489abead49d926f721d0", True),
                                            ("4B007901B765489ABEAD49D926F721D0", False),
                                            ("4b007901b765489abead49d926f721d0 ", False), ("", False)],
                         ids=["exact", "upper", "trailing-space", "empty"])
def test_login_compares_exactly(stored, ok):
    assert passwords.login_matches(stored, "password", "salt") is ok


def test_random_salt():
    salts = {passwords.random_salt() for _ in range(20)}
    assert len(salts) == 20 and all(re.fullmatch(r"[a-z0-9]{32}", s) for s in salts)


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _pem(key, form) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def test_loads_pkcs1_after_leading_text(key):
    pem = b"written by openssl genrsa\n" + _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert libtrust.key_id(libtrust.load_private_key(pem, "k.pem").public_key()) == libtrust.key_id(key.public_key())


@pytest.mark.parametrize("case", ["pkcs8", "ec", "none", "broken"])
def test_refuses_what_libtrust_refuses(key, case):
    data = {"pkcs8": lambda: _pem(key, serialization.PrivateFormat.PKCS8),
            "ec": lambda: _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL),
            "none": lambda: b"not a key",
            "broken": lambda: b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}[case]()
    with pytest.raises(LabError, match="k.pem"):
        libtrust.load_private_key(data, "k.pem")


def test_key_id_shape(key):
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", libtrust.key_id(key.public_key()))


def test_settings_name_a_pkcs8_key(tmp_path, key):
    (tmp_path / "private_key.pem").write_bytes(_pem(key, serialization.PrivateFormat.PKCS8))
    env = {"MYSQL_HOST": "db", "MYSQL_USR": "u"}
    with pytest.raises(UiConfigError, match="PEM type: PRIVATE KEY") as info:
        load_settings(tmp_path, env)
    assert isinstance(info.value, LabError) and info.value.hint


def test_a_blank_redis_url_is_still_redis(tmp_path, key):
    # Harbor's main.go tests len(redisURL) > 0: a value of one space selects the redis provider.
    (tmp_path / "private_key.pem").write_bytes(_pem(key, serialization.PrivateFormat.TraditionalOpenSSL))
    settings = load_settings(tmp_path, {"MYSQL_HOST": "db", "MYSQL_USR": "u", "_REDIS_URL": " "})
    assert settings.redis == SessionSavePath(" ", 100, "", 0)
