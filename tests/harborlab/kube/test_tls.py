"""The emulator's TLS: a lab CA kept across restarts, a serving certificate naming the API
server's addresses, no plain HTTP, and the official client verifying against the kubeconfig's CA."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes import client

from harborlab.kube import tls
from harborlab.kube.tls import context_from_kubeconfig

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def test_ca_is_kept_and_the_serving_certificate_names_the_host(tmp_path: Path):
    secrets = tmp_path / "secrets"
    ca_file = tls.ensure(secrets, "127.0.0.1")
    first_ca = ca_file.read_bytes()
    server = x509.load_pem_x509_certificate((secrets / tls.SERVER_CERT).read_bytes())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.96.0.1"}
    assert (secrets / tls.CA_KEY).stat().st_mode & 0o777 == 0o600
    # Another loopback address: a new serving certificate from the same CA.
    tls.ensure(secrets, "127.0.0.7")
    assert ca_file.read_bytes() == first_ca
    again = x509.load_pem_x509_certificate((secrets / tls.SERVER_CERT).read_bytes())
    assert "127.0.0.7" in {str(ip) for ip in again.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}
    assert again.issuer == x509.load_pem_x509_certificate(first_ca).subject


def test_plain_http_gets_no_api_and_tls_is_verified(kube_server):
    cfg = json.loads(kube_server.kubeconfig.read_text())
    url = cfg["clusters"][0]["cluster"]["server"]
    host, port = url.removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(100)
    assert not answer.startswith(b"HTTP/1.1 200")
    with pytest.raises(urllib.error.URLError) as err:   # the system trust store does not know the lab CA
        urllib.request.urlopen(url + "/version", timeout=5, context=ssl.create_default_context())
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    with urllib.request.urlopen(url + "/version", timeout=5, context=context_from_kubeconfig(cfg)) as resp:
        assert resp.status == 200


def test_the_official_client_uses_the_kubeconfigs_ca(kube_server):
    api = kube_server.api()
    try:
        assert api.configuration.host.startswith("https://") and api.configuration.verify_ssl
        assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    finally:
        api.close()


def test_a_restart_keeps_the_ca_so_old_kubeconfigs_stay_valid(server_factory, tmp_path):
    from .conftest import start_server, stop_server
    first = server_factory()
    ca = (first.state / "secrets" / "ca.crt").read_bytes()
    stop_server(first.process)
    (first.state / "kubeconfig").unlink()
    second = start_server(first.state)
    try:
        assert (second.state / "secrets" / "ca.crt").read_bytes() == ca
        api = second.api()
        assert client.CoreV1Api(api).list_node().items
        api.close()
    finally:
        stop_server(second.process)
