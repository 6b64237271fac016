"""The emulator's TLS, as a kubeadm cluster has it: a cluster CA the lab generates once, and a
serving certificate signed by it for the API server's addresses.

Files (under ``<state>/secrets``, 0600 in a 0700 directory): ``ca.crt``/``ca.key`` (kept across
restarts, so a kubeconfig written earlier stays valid) and ``apiserver.crt``/``apiserver.key``
(re-issued when the address it must name changes). The kubeconfig carries the CA as
``certificate-authority-data``; clients verify the server against it, as they do on a real cluster.
Keys are ECDSA P-256 (fast to generate for the many short-lived test servers).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "apiserver.crt", "apiserver.key"
# The names kubeadm puts in the apiserver certificate, plus loopback; the first address of the
# service CIDR is the `kubernetes` Service's ClusterIP.
DNS_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "localhost")
SERVICE_IP = "10.96.0.1"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_ca() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _new_server_cert(ca_pem: bytes, ca_key_pem: bytes, host: str) -> tuple[bytes, bytes]:
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    for ip in dict.fromkeys((host, "127.0.0.1", SERVICE_IP)):
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _names_host(cert_pem: bytes, host: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.not_valid_after_utc < _now() + datetime.timedelta(days=1):
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ipaddress.ip_address(host) in sans.get_values_for_type(x509.IPAddress)


def ensure(secret_dir: Path, host: str) -> Path:
    """Create (or reuse) the CA and a serving certificate for ``host``; returns the CA file."""
    secret_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secret_dir, 0o700)
    ca_cert, ca_key = secret_dir / CA_CERT, secret_dir / CA_KEY
    if not (ca_cert.exists() and ca_key.exists()):
        cert_pem, key_pem = _new_ca()
        _write_private(ca_key, key_pem)
        _write_private(ca_cert, cert_pem)
    server_cert, server_key = secret_dir / SERVER_CERT, secret_dir / SERVER_KEY
    if not (server_cert.exists() and server_key.exists() and _names_host(server_cert.read_bytes(), host)):
        cert_pem, key_pem = _new_server_cert(ca_cert.read_bytes(), ca_key.read_bytes(), host)
        _write_private(server_key, key_pem)
        _write_private(server_cert, cert_pem)
    return ca_cert


def server_context(secret_dir: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(secret_dir / SERVER_CERT, secret_dir / SERVER_KEY)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # HTTP/1.1 only (client-go offers h2 too and falls back); upgrades (exec, watch) need HTTP/1.1.
    context.set_alpn_protocols(["http/1.1"])
    return context


def client_context(ca_file: Path | str) -> ssl.SSLContext:
    """What our own probes use: verify the server against the lab's CA."""
    return ssl.create_default_context(cafile=str(ca_file))


def context_from_kubeconfig(cfg: dict) -> ssl.SSLContext:
    """An SSL context trusting the first cluster's ``certificate-authority-data`` (for raw HTTP)."""
    import base64
    ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    return ssl.create_default_context(cadata=ca)
