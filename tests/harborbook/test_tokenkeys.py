"""Token keys: generation, PEM round trips, and the libtrust key id the registry derives."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization

from harborbook import tokenkeys

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def key():
    return tokenkeys.generate_key(2048)  # 4096 in production; smaller keeps the unit tests fast


def test_default_key_is_4096_bits():
    assert tokenkeys.KEY_BITS == 4096


def test_cert_is_self_signed_for_ten_years(key):
    cert = tokenkeys.self_signed_cert(key, NOW)
    assert cert.issuer == cert.subject
    assert cert.not_valid_after_utc - NOW == dt.timedelta(days=3650)
    assert cert.not_valid_before_utc <= NOW
    assert tokenkeys.cert_matches_key(cert, key)


def test_cert_of_another_key_does_not_match(key):
    other = tokenkeys.generate_key(2048)
    assert not tokenkeys.cert_matches_key(tokenkeys.self_signed_cert(other, NOW), key)


def test_pem_round_trips(key):
    pem = tokenkeys.key_to_pem(key)
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    again = tokenkeys.key_from_pem(pem)
    assert tokenkeys.key_id(again.public_key()) == tokenkeys.key_id(key.public_key())
    cert = tokenkeys.self_signed_cert(key, NOW)
    assert tokenkeys.cert_from_pem(tokenkeys.cert_to_pem(cert)) == cert


@pytest.mark.parametrize("data", [b"", b"-----BEGIN RSA PRIVATE KEY-----\nnope\n"], ids=["empty", "broken"])
def test_bad_pem_is_a_clear_error(data):
    with pytest.raises(tokenkeys.KeyFormatError, match="ui-key.pem"):
        tokenkeys.key_from_pem(data, source="ui-key.pem")
    with pytest.raises(tokenkeys.KeyFormatError):
        tokenkeys.cert_from_pem(data)


def test_key_id_shape(key):
    kid = tokenkeys.key_id(key.public_key())
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", kid)


def test_key_id_is_240_bits_of_sha256_of_the_der_public_key(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    decoded = base64.b32decode(tokenkeys.key_id(key.public_key()).replace(":", ""))
    assert decoded == hashlib.sha256(der).digest()[:30]


def test_key_id_is_the_same_from_key_and_cert(key):
    cert = tokenkeys.self_signed_cert(key, NOW)
    assert tokenkeys.key_id(cert.public_key()) == tokenkeys.key_id(key.public_key())
