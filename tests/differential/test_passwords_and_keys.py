"""Differential: passwords and token keys, product (harborbook.beego, harborbook.tokenkeys) against the
lab (harborlab.ui.passwords from Harbor 1.2's utils.Encrypt / LoginByDb; harborlab.ui.libtrust
from docker/libtrust). The product writes what Harbor's ui reads: the admin's stored hash, the
token-signing key and its key id, so each must be what the lab, reading as Harbor does, expects.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import example, given, settings, strategies as st

from harborbook import beego, tokenkeys
from harborlab.errors import LabError
from harborlab.ui import libtrust, passwords

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


# -- passwords ----------------------------------------------------------------------------------------
@given(password=TEXT, salt=TEXT)
@example(password="Harbor12345", salt="")          # the seeded admin row has an empty salt
@example(password="pässwörd ✓", salt="salt")
def test_product_hash_is_harbors(password, salt):
    assert beego.password_hash(password, salt) == passwords.encrypt(password, salt)


# What may sit in user.password: the right hash, or forms of it Harbor never wrote.
_STORED = st.sampled_from(["right", "upper", "spaced", "other"])


def _stored(kind: str, password: str, salt: str) -> str:
    right = passwords.encrypt(password, salt)
    return {"right": right, "upper": right.upper(), "spaced": f" {right}\n",
            "other": passwords.encrypt(password + "x", salt)}[kind]


@given(password=TEXT, salt=TEXT, kind=_STORED)
@example(password="Harbor12345", salt="s1", kind="upper")
@example(password="Harbor12345", salt="s1", kind="spaced")
def test_product_login_check_is_harbors(password, salt, kind):
    stored = _stored(kind, password, salt)
    assert beego.password_matches(password, salt, stored) == passwords.login_matches(stored, password, salt)


def test_product_salt_is_shaped_like_harbors():
    salts = [beego.new_salt() for _ in range(50)]
    assert all(len(s) == passwords.SALT_LENGTH for s in salts)
    assert set("".join(salts)) <= set(passwords.SALT_CHARS)  # 1600 draws: every letter case shows


# -- token keys ---------------------------------------------------------------------------------------
_KEYS = st.one_of(
    st.sampled_from([1024, 2048]).map(lambda bits: rsa.generate_private_key(public_exponent=65537, key_size=bits)),
    st.sampled_from([ec.SECP256R1(), ec.SECP384R1()]).map(ec.generate_private_key),
)


@settings(max_examples=25, deadline=None)
@given(_KEYS)
def test_product_key_id_is_libtrusts(key):
    assert tokenkeys.key_id(key.public_key()) == libtrust.key_id(key.public_key())


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1024, 2048]))
def test_key_the_product_writes_is_read_by_the_lab_with_the_same_id(bits):
    key = tokenkeys.generate_key(bits)
    loaded = libtrust.load_private_key(tokenkeys.key_to_pem(key), "private_key.pem")
    assert libtrust.key_id(loaded.public_key()) == tokenkeys.key_id(key.public_key())
    cert = tokenkeys.self_signed_cert(key, dt.datetime.now(dt.timezone.utc))
    assert libtrust.key_id(cert.public_key()) == libtrust.key_id(loaded.public_key())  # the registry's view


_FORMATS = {
    "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,   # BEGIN RSA PRIVATE KEY
    "pkcs8": serialization.PrivateFormat.PKCS8,                # BEGIN PRIVATE KEY (openssl genrsa >= 3.0)
}


@pytest.fixture(scope="module")
def small_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.mark.parametrize("form", sorted(_FORMATS))
def test_product_accepts_the_key_forms_harbors_ui_can_load(small_key, form):
    pem = small_key.private_bytes(serialization.Encoding.PEM, _FORMATS[form], serialization.NoEncryption())
    try:
        libtrust.load_private_key(pem, "private_key.pem")
        lab_loads = True
    except LabError:
        lab_loads = False
    try:
        tokenkeys.key_from_pem(pem, source="private_key.pem")
        product_accepts = True
    except tokenkeys.KeyFormatError:
        product_accepts = False
    assert product_accepts == lab_loads


# -- the tests' own test: a wrong lab makes each property fail ----------------------------------------
def test_a_lab_hashing_with_sha256_fails_the_hash_property(monkeypatch):
    def sha256_encrypt(content: str, salt: str) -> str:
        return hashlib.pbkdf2_hmac("sha256", content.encode(), salt.encode(), 4096, 16).hex()

    monkeypatch.setattr(passwords, "encrypt", sha256_encrypt)
    with pytest.raises(AssertionError):
        settings(database=None, max_examples=5)(test_product_hash_is_harbors)()


def test_a_lab_folding_case_fails_the_login_property(monkeypatch):
    real = passwords.encrypt
    monkeypatch.setattr(passwords, "login_matches", lambda stored, pw, salt: stored.lower() == real(pw, salt))
    with pytest.raises(AssertionError):
        test_product_login_check_is_harbors.hypothesis.inner_test(password="pw", salt="s", kind="upper")


def test_a_lab_hashing_the_pkcs1_key_fails_the_key_id_property(monkeypatch, small_key):
    def pkcs1_kid(public_key) -> str:
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        return ":".join(re.findall("....", text))

    monkeypatch.setattr(libtrust, "key_id", pkcs1_kid)
    with pytest.raises(AssertionError):
        test_product_key_id_is_libtrusts.hypothesis.inner_test(small_key)
