"""Real docker-registry (Debian 2.8.2), nginx and the ui stand-in on loopback; our client and skopeo.

The registry trusts our certificate and nothing else: a push succeeding proves the ui's tokens
(RS256, libtrust ``kid``, issuer, audience, access) are what distribution accepts.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harborbook.errors import TransportError
from harborbook import tokenkeys
from harborbook.registry import RegistryClient, build_image, compare_pull, sha256_digest
from harborbook.registry.image import Image
from harborbook.registry.transport import request
from harborlab.programs import PodLayout, nginx_launch, registry_launch, reload_nginx
from harborlab.ui.fixtures import ADMIN_PASSWORD, TokenKeys, start_ui

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HTTP_SECRET = "the-same-in-every-replica"


def registry_config(realm: str, relative_urls: bool = False) -> str:
    """config.yml as Harbor 1.2's template renders it (addresses and paths are the container's)."""
    return f"""\
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    layerinfo: inmemory
  filesystem:
    rootdirectory: /storage
  maintenance:
    uploadpurging:
      enabled: false
  delete:
    enabled: true
http:
  addr: :5000
  secret: {HTTP_SECRET}
  relativeurls: {str(relative_urls).lower()}
  debug:
    addr: localhost:5001
auth:
  token:
    issuer: harbor-token-issuer
    realm: {realm}
    rootcertbundle: /etc/registry/root.crt
    service: harbor-registry
notifications:
  endpoints:
  - name: harbor
    disabled: false
    url: http://ui/service/notifications
    timeout: 3000ms
    threshold: 5
    backoff: 1s
"""


HARBOR_NGINX = """\
worker_processes auto;
events {
  worker_connections 1024;
  use epoll;
  multi_accept on;
}
http {
  tcp_nodelay on;
  upstream registry { server registry:5000; }
  upstream ui { server ui:80; }
  server {
    listen 80;
    server_name harbor.lab;
    client_max_body_size 0;
    chunked_transfer_encoding on;
    location / {
      proxy_pass http://ui/;
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
    }
    location /v1/ { return 404; }
    location /v2/ {
      proxy_pass http://registry/v2/;
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
    }
    location /service/ {
      proxy_pass http://ui/service/;
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
"""


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def registry_pod(root: Path, ip: str, storage: Path, keys, config: str, mount: str = "/etc/registry") -> PodLayout:
    """A registry pod with the ConfigMap (config.yml, root.crt) mounted at ``mount``."""
    write(root / mount.lstrip("/") / "config.yml", config)
    write(root / mount.lstrip("/") / "root.crt", keys.cert_pem)
    return PodLayout(root.name, ip, root, volumes={"/storage": storage})


def blob_file(storage: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def unique_image(flavour: str = "docker") -> Image:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return build_image(f"{flavour}-{time.time_ns()}", created, flavour)


@pytest.fixture
def direct(procs, tmp_path, ips, token_keys, mariadb):
    """One ui and one token-auth registry on shared storage; returns (registry URL, storage dir)."""
    ui = start_ui(procs, tmp_path / "ui-0", ips(1), token_keys, mariadb)  # process name: ui-0
    storage = tmp_path / "shared-storage"
    pod = registry_pod(tmp_path / "registry-0", ips(2), storage, token_keys,
                       registry_config(f"http://{ui.ip}/service/token"))
    procs.run(pod.name, registry_launch(pod, {"ui:80": [f"{ui.ip}:80"]}))
    return f"http://{pod.ip}:5000", storage


@pytest.mark.parametrize(("flavour", "chunk"), [("docker", 64), ("oci", None)], ids=["docker-chunked", "oci-monolithic"])
def test_push_and_pull_with_token_auth(direct, flavour, chunk):
    url, storage = direct
    client = RegistryClient(url, "admin", ADMIN_PASSWORD)
    challenge = client.challenge()
    assert challenge.scheme == "bearer" and challenge.service == "harbor-registry"
    client.login()
    image = unique_image(flavour)
    assert client.push("library/probe", "t1", image, chunk_size=chunk) == image.digest
    assert compare_pull(image, client.pull("library/probe", "t1")) == []
    assert blob_file(storage, image.layer.digest).read_bytes() == image.layer.data
    head = client.head_manifest("library/probe", "t1")
    assert head.present and head.digest == image.digest
    assert not client.head_manifest("library/probe", "no-such-tag").present
    # Without a token (as through a pod proxy): the replica proves it enforces token auth.
    anonymous = client.head_manifest("library/probe", "t1", authenticate=False)
    assert anonymous.status == 401 and anonymous.challenge.service == "harbor-registry"


def test_registry_events_reach_the_ui(direct, procs):
    """notifications.endpoints named http://ui/...: translated to the ui's endpoint, delivered."""
    url, _storage = direct
    RegistryClient(url, "admin", ADMIN_PASSWORD).push("library/events", "t", unique_image())
    deadline = time.monotonic() + 15
    while "notification:" not in procs.log("ui-0") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "notification:" in procs.log("ui-0")


def test_wrong_password_is_refused(direct):
    url, _storage = direct
    with pytest.raises(TransportError) as info:
        RegistryClient(url, "admin", "not-the-password").login()
    assert "HTTP 401" in info.value.message and "credentials" in info.value.hint
    assert "not-the-password" not in info.value.render()


def test_tokens_signed_by_an_untrusted_key_are_refused(procs, tmp_path, ips, token_keys, mariadb):
    """Negative control: the registry trusts token_keys' certificate, this ui signs with another key."""
    other = tokenkeys.generate_key(2048)
    rogue = TokenKeys(tokenkeys.key_to_pem(other), token_keys.cert_pem, tokenkeys.key_id(other.public_key()))
    ui = start_ui(procs, tmp_path / "ui-rogue", ips(4), rogue, mariadb)
    pod = registry_pod(tmp_path / "registry-0", ips(5), tmp_path / "storage", token_keys,
                       registry_config(f"http://{ui.ip}/service/token"))
    procs.run(pod.name, registry_launch(pod))
    with pytest.raises(TransportError, match="HTTP 401"):
        RegistryClient(f"http://{pod.ip}:5000", "admin", ADMIN_PASSWORD).login()
    assert "untrusted key" in procs.log(pod.name)


def test_anonymous_push_is_denied(direct):
    url, _storage = direct
    with pytest.raises(TransportError, match="HTTP 401"):
        RegistryClient(url).push("library/anon", "t", unique_image())


def write_oci_layout(directory: Path, image: Image, tag: str) -> None:
    for blob_data in (image.manifest, image.config.data, image.layer.data):
        write(directory / "blobs/sha256" / sha256_digest(blob_data).split(":")[1], blob_data)
    write(directory / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
    write(directory / "index.json", json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": image.manifest_type, "digest": image.digest, "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_pushes_an_oci_image(direct, tmp_path):
    url, storage = direct
    host = url.split("://", 1)[1]
    image = unique_image("oci")
    write_oci_layout(tmp_path / "layout", image, "v1")
    # Credentials through an auth file (0600), not argv: like --dest-creds, a docker-login
    # style basic credential the token realm checks, without the password in the process list.
    auth = tmp_path / "auth.json"
    auth.touch(mode=0o600)
    auth.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}}}))
    digest_file = tmp_path / "digest"
    result = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-authfile", str(auth), "--digestfile", str(digest_file),
         f"oci:{tmp_path / 'layout'}:v1", f"docker://{host}/library/skopeo:v1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert digest_file.read_text().strip() == image.digest
    pulled = RegistryClient(url, "admin", ADMIN_PASSWORD).pull("library/skopeo", "v1")
    assert compare_pull(image, pulled) == []
    assert blob_file(storage, image.layer.digest).is_file()


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_with_wrong_password_fails(direct, tmp_path):
    url, _storage = direct
    host = url.split("://", 1)[1]
    image = unique_image("oci")
    write_oci_layout(tmp_path / "layout", image, "v1")
    auth = tmp_path / "auth.json"
    auth.touch(mode=0o600)
    auth.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(b"admin:wrong").decode()}}}))
    result = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-authfile", str(auth),
         f"oci:{tmp_path / 'layout'}:v1", f"docker://{host}/library/skopeo:v1"],
        capture_output=True, text=True, timeout=120,
    )
    output = (result.stderr + result.stdout).lower()
    assert result.returncode != 0 and ("401" in output or "unauthorized" in output)


def test_config_at_the_stock_path_runs_the_example_config(procs, tmp_path, ips, token_keys):
    """The 2017 bug for real: mounted at /etc/docker/registry, the config is ignored."""
    storage = tmp_path / "shared-storage"
    pods = []
    for n in (3, 4):
        pod = registry_pod(tmp_path / f"registry-{n}", ips(n), storage, token_keys,
                           registry_config("http://127.0.0.1:1/service/token"), mount="/etc/docker/registry")
        procs.run(pod.name, registry_launch(pod))
        pods.append(pod)
    client = RegistryClient(f"http://{pods[0].ip}:5000")  # no credentials at all
    assert client.challenge() is None  # no auth: the token config was never read
    image = unique_image()
    client.push("library/lost", "t", image)
    assert compare_pull(image, client.pull("library/lost", "t")) == []
    assert blob_file(pods[0].root / "var/lib/registry", image.layer.digest).is_file()
    assert not blob_file(storage, image.layer.digest).exists()  # nothing on the shared volume
    other = client.with_base(f"http://{pods[1].ip}:5000").head_manifest("library/lost", "t", authenticate=False)
    assert other.status == 404 and other.challenge is None  # the other replica never saw it


def test_nginx_routes_to_two_registries_and_the_ui(procs, tmp_path, ips, token_keys, mariadb):
    ui = start_ui(procs, tmp_path / "ui-0", ips(1), token_keys, mariadb)
    nginx_ip = ips(9)
    storage = tmp_path / "shared-storage"
    config = registry_config(f"http://{nginx_ip}/service/token", relative_urls=True)
    registries = []
    for n in (2, 3):
        pod = registry_pod(tmp_path / f"registry-{n}", ips(n), storage, token_keys, config)
        procs.run(pod.name, registry_launch(pod, {"ui:80": [f"{ui.ip}:80"]}))
        registries.append(pod)
    nginx = PodLayout("nginx-0", nginx_ip, tmp_path / "nginx-0")
    write(nginx.root / "etc/nginx/nginx.conf", HARBOR_NGINX)
    endpoints = {"registry:5000": [f"{p.ip}:5000" for p in registries], "ui:80": [f"{ui.ip}:80"]}
    procs.run("nginx-0", nginx_launch(nginx, endpoints, worker_user="root"))

    base = f"http://{nginx_ip}"
    client = RegistryClient(base, "admin", ADMIN_PASSWORD)
    challenge = client.challenge()  # /v2/ reaches a registry
    assert challenge.realm == f"{base}/service/token" and challenge.service == "harbor-registry"
    client.login()  # /service/ reaches the ui
    image = unique_image()
    client.push("library/ha", "v1", image, chunk_size=100)  # relative Locations, spread over 2 replicas
    assert compare_pull(image, client.pull("library/ha", "v1")) == []
    for pod in registries:  # each replica, addressed on its own, serves the manifest
        head = client.with_base(f"http://{pod.ip}:5000").head_manifest("library/ha", "v1")
        assert head.present and head.digest == image.digest
    index = request("GET", base + "/")
    assert index.status == 200 and b"Harbor" in index.body
    assert request("GET", base + "/v1/_ping").status == 404
    with pytest.raises(TransportError, match="HTTP 401"):
        RegistryClient(base, "admin", "wrong").login()
    assert "[emerg]" not in procs.log("nginx-0")


def test_nginx_follows_endpoint_changes(procs, tmp_path, ips, token_keys):
    """No ready registry: 502. Endpoints appear: a reload (SIGHUP) routes to them, no restart."""
    nginx = PodLayout("nginx-0", ips(9), tmp_path / "nginx-0")
    write(nginx.root / "etc/nginx/nginx.conf", HARBOR_NGINX)
    master = procs.run("nginx-0", nginx_launch(nginx, {"registry:5000": [], "ui:80": []}, worker_user="root"))
    with pytest.raises(TransportError, match="HTTP 502") as info:
        RegistryClient(f"http://{nginx.ip}").challenge()
    assert "upstream" in info.value.hint

    pod = registry_pod(tmp_path / "registry-0", ips(2), tmp_path / "storage", token_keys,
                       registry_config(f"http://{nginx.ip}/service/token"))
    procs.run(pod.name, registry_launch(pod))
    reload_nginx(master.pid, nginx_launch(nginx, {"registry:5000": [f"{pod.ip}:5000"], "ui:80": []},
                                          worker_user="root"))
    # Old workers finish gracefully while new ones start: wait for five answers in a row.
    deadline, streak = time.monotonic() + 15, 0
    while streak < 5 and time.monotonic() < deadline:
        streak = streak + 1 if request("GET", f"http://{nginx.ip}/v2/").status == 401 else 0
        time.sleep(0.1)
    challenge = RegistryClient(f"http://{nginx.ip}").challenge()
    assert challenge.realm == f"http://{nginx.ip}/service/token"
    assert master.poll() is None  # the same master process
