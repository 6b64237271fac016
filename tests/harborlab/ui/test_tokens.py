"""The token service's decisions and the JWT it signs."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from harborbook.tokenkeys import generate_key, key_id
from harborlab.ui.tokens import (ISSUER, Scope, decode_unverified, granted_access, issue_token, parse_scope,
                                 sign_jwt)

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def key():
    return generate_key(2048)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("repository:library/busybox:pull,push", Scope("repository", "library/busybox", ("pull", "push"))),
     ("repository:host:5000/lib/x:pull", Scope("repository", "host:5000/lib/x", ("pull",))),
     ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
     ("repository:a:", Scope("repository", "a", ())),
     ("garbage", None), ("repository:pull", None), (":a:pull", None)],
    ids=["pull-push", "name-with-port", "catalog", "no-actions", "garbage", "two-parts", "no-type"],
)
def test_parse_scope(text, expected):
    assert parse_scope(text) == expected


REQ = [Scope("repository", "library/x", ("pull", "push")), Scope("registry", "catalog", ("*",))]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("sysadmin", [["pull", "push"], ["*"]]), ("user", [["pull"], []]), ("anonymous", [[], []]),
     ("unknown-role", [[], []])],
    ids=["sysadmin-gets-asked", "user-pulls", "anonymous-nothing", "unknown-nothing"],
)
def test_granted_access(role, expected):
    access = granted_access(role, REQ)
    assert [a["actions"] for a in access] == expected
    assert [(a["type"], a["name"]) for a in access] == [("repository", "library/x"), ("registry", "catalog")]


def _b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jwt_is_rs256_with_registry_kid_and_verifies(key):
    token = sign_jwt(key, {"sub": "admin"})
    head, body, sig = token.split(".")
    header = json.loads(_b64(head))
    assert header == {"typ": "JWT", "alg": "RS256", "kid": key_id(key.public_key())}
    key.public_key().verify(_b64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_jwt_signature_fails_for_tampered_claims(key):
    head, _body, sig = sign_jwt(key, {"sub": "admin"}).split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"root"}').rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        key.public_key().verify(_b64(sig), f"{head}.{forged}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_issue_token_claims(key):
    answer = issue_token(key, "admin", "sysadmin", "harbor-registry",
                         ["repository:library/x:pull,push", "bad"], NOW, expiration_minutes=30)
    _header, claims = decode_unverified(answer["token"])
    assert claims["iss"] == ISSUER == "harbor-token-issuer"
    assert claims["aud"] == "harbor-registry" and claims["sub"] == "admin"
    assert claims["exp"] == NOW + 1800 and claims["iat"] == NOW and claims["nbf"] <= NOW
    assert claims["access"] == [{"type": "repository", "name": "library/x", "actions": ["pull", "push"]}]
    assert answer["expires_in"] == 1800 and answer["issued_at"].endswith("Z")


def test_tokens_are_unique(key):
    first = decode_unverified(issue_token(key, "a", "user", "s", [], NOW)["token"])[1]
    second = decode_unverified(issue_token(key, "a", "user", "s", [], NOW)["token"])[1]
    assert first["jti"] != second["jti"]
