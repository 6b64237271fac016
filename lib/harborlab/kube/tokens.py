"""Service account tokens as the apiserver issues them (TokenRequest, projected volumes): JWTs
signed with the cluster's service-account key, carrying the ``kubernetes.io`` claims, accepted
as bearer tokens and answered by TokenReview.

The key is ES256 (``<state>/secrets/sa.key``, 0600, kept across restarts); the real default is an
RSA key, but clients never check the algorithm — they hand the token back to the server.
The issuer is module state because the pod runner (which writes projected token files) runs in
the emulator's process but is handed only the pod and a getter.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ISSUER = "https://kubernetes.default.svc.cluster.local"
KEY_FILE = "sa.key"
DEFAULT_EXPIRATION = 3607     # what the apiserver's ServiceAccount admission asks for projected tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Identity:
    user: str
    uid: str
    groups: tuple[str, ...]
    extra: dict


class TokenIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, clock=time.time):
        self.key, self.clock = key, clock
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(public)
        self.kid = _b64(digest.finalize())

    @classmethod
    def load(cls, secret_dir: Path) -> "TokenIssuer":
        path = secret_dir / KEY_FILE
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        return cls(serialization.load_pem_private_key(path.read_bytes(), None))

    def issue(self, namespace: str, name: str, sa_uid: str, audiences: list[str] | None = None,
              expiration: int = DEFAULT_EXPIRATION, pod: dict | None = None) -> tuple[str, int]:
        """(token, expiry as unix time) for service account ``namespace/name``."""
        now = int(self.clock())
        claims = {"aud": audiences or [ISSUER], "exp": now + expiration, "iat": now, "iss": ISSUER,
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": sa_uid}},
                  "nbf": now, "sub": f"system:serviceaccount:{namespace}:{name}"}
        if pod is not None:
            claims["kubernetes.io"]["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        header = {"alg": "ES256", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}", claims["exp"]

    def verify(self, token: str, audiences: list[str] | None = None) -> tuple[Identity | None, list[str], str]:
        """(identity, audiences matched, error) for a bearer token; identity None when invalid."""
        try:
            signing_input, _, signature = token.rpartition(".")
            header_part, _, claims_part = signing_input.partition(".")
            raw = _unb64(signature)
            self.key.public_key().verify(
                encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                signing_input.encode(), ec.ECDSA(hashes.SHA256()))
            claims = json.loads(_unb64(claims_part))
        except (ValueError, InvalidSignature, TypeError):
            return None, [], "invalid bearer token"
        if claims.get("exp", 0) < self.clock():
            return None, [], "invalid bearer token, Token has expired."
        wanted = audiences or [ISSUER]
        matched = [a for a in claims.get("aud", []) if a in wanted]
        if not matched:
            return None, [], "invalid bearer token, token audiences don't match"
        kube = claims.get("kubernetes.io") or {}
        namespace, sa = kube.get("namespace", ""), kube.get("serviceaccount") or {}
        extra = {}
        if kube.get("pod"):
            extra = {"authentication.kubernetes.io/pod-name": [kube["pod"]["name"]],
                     "authentication.kubernetes.io/pod-uid": [kube["pod"]["uid"]]}
        identity = Identity(claims.get("sub", ""), sa.get("uid", ""),
                            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
                            extra)
        return identity, matched, ""


_current: TokenIssuer | None = None
_cluster = None


def install(issuer: TokenIssuer, cluster=None) -> None:
    global _current, _cluster
    _current, _cluster = issuer, cluster


def current() -> TokenIssuer | None:
    """The running emulator's issuer (None outside an emulator process)."""
    return _current


def pod_token(pod: dict, audience: str | None = None, expiration: int | None = None) -> str | None:
    """A projected serviceAccountToken for ``pod`` (what the kubelet requests through TokenRequest
    with the pod bound); None outside an emulator or when the service account is gone."""
    if _current is None or _cluster is None:
        return None
    namespace = pod["metadata"]["namespace"]
    name = pod["spec"].get("serviceAccountName") or "default"
    account = _cluster.store.get("/serviceaccounts", namespace, name)
    if account is None:
        return None
    token, _ = _current.issue(namespace, name, account["metadata"]["uid"], [audience] if audience else None,
                              max(int(expiration or DEFAULT_EXPIRATION), 600), pod)
    return token
