"""The Docker token service of the ui stand-in: scopes in, a signed JWT out.

The distribution registry accepts a token when: the signature verifies with a key from its
``rootcertbundle`` found by the JWT header's ``kid`` (libtrust key id), ``iss`` equals its
configured issuer, ``aud`` equals its service name, the time window (``nbf``..``exp``) holds,
and ``access`` grants the actions the request needs.

What each kind of user may do is policy, kept as a table. Harbor 1.2 decides per project
membership; the stand-in has no projects, so it grants by role: a system admin gets what was
asked, another user may pull, an anonymous caller gets a token with no access (the registry
then answers 401/denied, as Harbor does for a private project).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .libtrust import key_id  # libtrust util.go keyIDFromCryptoKey, as makeTokenCore uses it

ISSUER = "harbor-token-issuer"
DEFAULT_EXPIRATION_MINUTES = 30  # TOKEN_EXPIRATION in the adminserver's configuration

# role -> resource type -> actions that role may be granted.
GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "sysadmin": {
        "repository": frozenset({"pull", "push", "*"}),
        "registry": frozenset({"*"}),
    },
    "user": {"repository": frozenset({"pull"})},
    "anonymous": {},
}


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> Scope | None:
    """``type:name:actions``; the name may contain ``:`` (a registry host with a port).

    Returns None for malformed scopes, which the token service ignores as Harbor does.
    """
    head, sep, actions = text.rpartition(":")
    kind, sep2, name = head.partition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def granted_access(role: str, scopes: list[Scope]) -> list[dict[str, object]]:
    """The ``access`` claim: for each requested scope, the requested actions the role allows."""
    allowed = GRANTS.get(role, {})
    access: list[dict[str, object]] = []
    for scope in scopes:
        may = allowed.get(scope.type, frozenset())
        actions = [a for a in scope.actions if a in may]
        access.append({"type": scope.type, "name": scope.name, "actions": actions})
    return access


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, object]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def claims(
    subject: str, service: str, access: list[dict[str, object]], now: int, expiration_minutes: int, jti: str
) -> dict[str, object]:
    """The JWT claims (times in seconds since the epoch, ``now`` given explicitly)."""
    return {
        "iss": ISSUER,
        "sub": subject,
        "aud": service,  # a string: distribution 2.x compares it as one
        "exp": now + expiration_minutes * 60,
        "nbf": now - 1,
        "iat": now,
        "jti": jti,
        "access": access,
    }


def sign_jwt(key: rsa.RSAPrivateKey, payload: dict[str, object]) -> str:
    """An RS256 JWS compact serialisation with the registry-matching ``kid``."""
    header = {"typ": "JWT", "alg": "RS256", "kid": key_id(key.public_key())}
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def issue_token(
    key: rsa.RSAPrivateKey,
    subject: str,
    role: str,
    service: str,
    scope_texts: list[str],
    now: int,
    expiration_minutes: int = DEFAULT_EXPIRATION_MINUTES,
) -> dict[str, object]:
    """The token service's JSON answer for one request."""
    scopes = [s for s in (parse_scope(t) for t in scope_texts) if s is not None]
    payload = claims(subject, service, granted_access(role, scopes), now, expiration_minutes,
                     secrets.token_hex(16))
    return {
        "token": sign_jwt(key, payload),
        "expires_in": expiration_minutes * 60,
        "issued_at": _rfc3339(now),
    }


def _rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_unverified(token: str) -> tuple[dict[str, object], dict[str, object]]:
    """Header and claims of a token, without checking the signature (tests, diagnostics)."""
    def part(text: str) -> dict[str, object]:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    header, payload, _sig = token.split(".")
    return part(header), part(payload)
