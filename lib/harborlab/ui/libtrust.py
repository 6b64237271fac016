"""The token service's key, as Harbor 1.2's ui loads it and names it (docker/libtrust).

Written from the libtrust Harbor v1.2.0 vendors (src/vendor/github.com/docker/libtrust):

- ``key.go`` ``UnmarshalPrivateKeyPEM`` (via ``key_files.go`` ``LoadKeyFile`` of
  ``/etc/ui/private_key.pem``, Harbor ``src/ui/service/token/authutils.go``): the first PEM
  block; type ``RSA PRIVATE KEY`` is parsed as PKCS#1, ``EC PRIVATE KEY`` as SEC 1, any other
  type is refused ("unable to get PrivateKey from PEM type"). A PKCS#8 ``PRIVATE KEY`` is not read.
- ``util.go`` ``keyIDFromCryptoKey`` and ``keyIDEncode``: SHA-256 of the DER PKIX public key
  (``x509.MarshalPKIXPublicKey``), first 30 bytes (240 bits), base32 without padding, groups of
  four characters joined by ``:``. Harbor's ``makeTokenCore`` puts it in the JWT header ``kid``;
  the registry computes the same for every certificate of its ``rootcertbundle``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import LabError

_PEM_BLOCK = re.compile(rb"-----BEGIN ([^-\r\n]*)-----\r?\n.*?-----END \1-----", re.DOTALL)


def key_id(public_key) -> str:
    """``keyIDFromCryptoKey``: ``ABCD:EFGH:...`` (12 groups of 4)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def load_private_key(data: bytes, source: str) -> rsa.RSAPrivateKey:
    """``UnmarshalPrivateKeyPEM`` for the stand-in, which signs RS256 only (an EC key is refused
    here, where libtrust would sign ES256). Errors name ``source``, never key material."""
    block = _PEM_BLOCK.search(data)
    if block is None:
        raise LabError(f"{source}: unable to find PEM encoded data",
                       hint="the ui reads a PEM private key (BEGIN RSA PRIVATE KEY)")
    kind = block.group(1).decode("ascii", "replace")
    if kind != "RSA PRIVATE KEY":
        raise LabError(f"{source}: unable to get PrivateKey from PEM type: {kind}",
                       hint="libtrust reads PKCS#1 'RSA PRIVATE KEY' (convert with: openssl rsa -traditional)")
    try:
        key = serialization.load_pem_private_key(block.group(0), password=None)
    except (ValueError, TypeError) as exc:
        raise LabError(f"{source}: unable to decode RSA Private Key PEM data ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - the label says RSA
        raise LabError(f"{source}: not an RSA key")
    return key


__all__ = ["key_id", "load_private_key"]
