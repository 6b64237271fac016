"""The token-signing key pair: the ui signs registry tokens, the registry trusts its certificate.

Harbor's ui holds an RSA private key (``/etc/ui/private_key.pem``); the registry holds a
self-signed certificate of the same key (``rootcertbundle``, ``/etc/registry/root.crt``).
The distribution registry does not look a token's key up by certificate: it derives a key id
from every public key in its bundle (the libtrust format) and trusts a token whose JWT header
``kid`` equals one of them. :func:`key_id` computes that id, so tokens we sign are accepted.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from .errors import HarborbookError

KEY_BITS = 4096
CERT_DAYS = 3650  # ten years, as Harbor's prepare script made it
DEFAULT_COMMON_NAME = "harbor-token-issuer"

# libtrust truncates SHA-256 to 240 bits: 30 bytes encode to exactly 48 base32 characters
# (no padding), written as 12 groups of 4.
_KID_BYTES = 30
_KID_GROUP = 4


class KeyFormatError(HarborbookError):
    """A PEM file is not the key or certificate it should be."""


def generate_key(bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA key (4096 bits by default; tests may ask for fewer to stay fast)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def self_signed_cert(
    key: rsa.RSAPrivateKey,
    now: dt.datetime,
    days: int = CERT_DAYS,
    common_name: str = DEFAULT_COMMON_NAME,
) -> x509.Certificate:
    """A self-signed certificate of ``key``, valid from ``now`` for ``days`` days."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    # Backdate a little: a registry whose clock is a minute behind must still accept it.
    not_before = now - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def key_to_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM (``BEGIN RSA PRIVATE KEY``), the form Harbor's ui reads."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_from_pem(data: bytes, source: str = "private key") -> rsa.RSAPrivateKey:
    """Load an unencrypted RSA private key; errors name ``source``, never key material.

    Only PKCS#1 (``BEGIN RSA PRIVATE KEY``) is accepted: Harbor's ui loads its key with libtrust's
    ``UnmarshalPrivateKeyPEM``, which refuses PKCS#8 ``BEGIN PRIVATE KEY`` (what OpenSSL 3's
    ``genrsa`` writes), so every token request would fail.
    """
    label = data.lstrip().split(b"\n", 1)[0].strip()
    if label.startswith(b"-----BEGIN ") and label != b"-----BEGIN RSA PRIVATE KEY-----":
        raise KeyFormatError(
            f"{source} is a {label[11:-5].decode('ascii', 'replace')} PEM; Harbor's ui reads only "
            "'RSA PRIVATE KEY' (PKCS#1)",
            hint="convert it: openssl rsa -traditional -in key.pem -out private_key.pem",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(
            f"{source} is not an unencrypted PEM private key ({type(exc).__name__})",
            hint="regenerate it with harborbook.tokenkeys or check the Secret it came from",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError(f"{source} is not an RSA key", hint="the token service signs with RS256")
    return key


def cert_from_pem(data: bytes, source: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise KeyFormatError(
            f"{source} is not a PEM certificate",
            hint="the registry's rootcertbundle must hold the ui key's certificate",
        ) from None


def key_id(public_key: PublicKeyTypes) -> str:
    """The libtrust key id the distribution registry gives ``public_key``.

    base32 of the first 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, in groups of
    four characters separated by ``:`` (``ABCD:EFGH:...``, 12 groups).
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()[:_KID_BYTES]
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return ":".join(text[i : i + _KID_GROUP] for i in range(0, len(text), _KID_GROUP))


def cert_matches_key(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    """Whether the registry's certificate trusts tokens signed by the ui's key."""
    return key_id(cert.public_key()) == key_id(key.public_key())
