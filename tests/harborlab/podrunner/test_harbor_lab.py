"""Harbor 1.2 as the runbooks render it, run by the pod runner behind the API emulator.

3 registry pods (config at /etc/registry, storage on the CephFS PVC), 3 ui pods with
_REDIS_URL, 3 nginx pods behind a NodePort Service; skopeo (Debian's) pushes through the
NodePort with a token from the ui stand-in. See conftest.py for how CephFS is stood in for.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from harborbook.errors import TransportError
from harborbook.registry import RegistryClient, build_image, compare_pull, sha256_digest
from harborbook.registry.image import Image
from harborlab.ui.fixtures import ADMIN_PASSWORD

from .conftest import (NAMESPACE, credentials, deploy, harbor_params, pod_processes, ready_pods, start_emulator,
                       stop_emulator, wait_rolled_out, wait_until)

pytestmark = [pytest.mark.lab, pytest.mark.slow]
REPLICAS = {"registry": 3, "ui": 3, "nginx": 3}


def unique_image() -> Image:
    return build_image(f"podrunner-{time.time_ns()}", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "oci")


def write_oci_layout(directory: Path, image: Image, tag: str) -> None:
    for data in (image.manifest, image.config.data, image.layer.data):
        path = directory / "blobs/sha256" / sha256_digest(data).split(":")[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": image.manifest_type, "digest": image.digest, "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


def authfile(folder: Path, host: str, password: str = ADMIN_PASSWORD) -> Path:
    """A docker-login style auth file (0600): the password never appears on a command line."""
    path = folder / "auth.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(f"admin:{password}".encode()).decode()}}}))
    return path


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)


def blob_file(storage: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def pod_proxy_head(emulator, pod: str, path: str):
    """HEAD through the API server's pod proxy (our bearer token goes to the API, not the pod)."""
    host = emulator.kube.api.configuration.host
    token = (emulator.state / "secrets" / "kube-token").read_text().strip()
    request = urllib.request.Request(f"{host}/api/v1/namespaces/{NAMESPACE}/pods/{pod}:5000/proxy{path}",
                                     method="HEAD", headers={"Authorization": f"Bearer {token}",
                                                             "Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        # Verified against the cluster CA the kubeconfig names, as on a real cluster.
        context = ssl.create_default_context(cafile=emulator.kube.api.configuration.ssl_ca_cert)
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_nodeport(port: int, emulator) -> None:
    """Every nginx has its upstreams once 9 rounds through the NodePort (3 nginx x 3 backends)
    reach a registry (/v2/: 401) and a ui (/: 200)."""
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        return all(status_of(base + "/v2/") == 401 and status_of(base + "/") == 200 for _ in range(9))
    wait_until(answers, 30, "the NodePort to reach a registry", emulator.log)


def wait_nodeport_v2_open(port: int, emulator) -> None:
    """The example config has no auth: /v2/ answers 200 through every nginx."""
    wait_until(lambda: all(status_of(f"http://127.0.0.1:{port}/v2/") == 200 for _ in range(9)), 30,
               "the NodePort to reach an unauthenticated registry", emulator.log)


def registry_ips(emulator) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in ready_pods(emulator.kube, "registry")}


@pytest.fixture(scope="module")
def harbor(backing, generated, tmp_path_factory):
    """The correct layout, deployed once for this module."""
    db, redis = backing
    work = tmp_path_factory.mktemp("harbor")
    work.chmod(0o755)
    (work / "cephfs").mkdir()
    port = _free_node_port()
    emulator = start_emulator(work / "state", work / "cephfs")
    try:
        params = harbor_params(work, db, redis, port)
        deploy(emulator, params, generated, credentials(db, redis))
        wait_rolled_out(emulator, REPLICAS)
        wait_nodeport(port, emulator)
        yield emulator, params, port, work
    finally:
        stop_emulator(emulator.proc)
    assert pod_processes(emulator.state) == [], "the runner left processes behind"


def _free_node_port() -> int:
    import secrets as _secrets
    from harborlab.ui.backing import free_port
    return free_port(32100 + _secrets.randbelow(600), 32767)  # clear of the sandbox labs' NodePorts


def test_skopeo_push_pull_through_the_nodeport_lands_on_cephfs(harbor, tmp_path):
    emulator, params, port, _work = harbor
    host = f"127.0.0.1:{port}"
    image = unique_image()
    write_oci_layout(tmp_path / "layout", image, "v1")
    auth = authfile(tmp_path, host)
    pushed = skopeo("copy", "--dest-tls-verify=false", "--dest-authfile", str(auth),
                    "--digestfile", str(tmp_path / "digest"), f"oci:{tmp_path / 'layout'}:v1",
                    f"docker://{host}/library/podrunner:v1")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert (tmp_path / "digest").read_text().strip() == image.digest
    pulled = skopeo("copy", "--src-tls-verify=false", "--src-authfile", str(auth),
                    f"docker://{host}/library/podrunner:v1", f"oci:{tmp_path / 'back'}:v1")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    index = json.loads((tmp_path / "back/index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest
    storage = emulator.cephfs / params.storage.root.lstrip("/") / "registry"
    assert blob_file(storage, image.layer.digest).read_bytes() == image.layer.data

    client = RegistryClient(f"http://{host}", "admin", ADMIN_PASSWORD)
    ips = registry_ips(emulator)
    assert len(ips) == 3
    for name, ip in ips.items():
        # Through the API server's pod proxy: this replica runs the token config (401 + challenge) ...
        status, headers = pod_proxy_head(emulator, name, "/v2/library/podrunner/manifests/v1")
        assert status == 401 and f'realm="http://{host}/service/token"' in headers.get("Www-Authenticate", "")
        # ... and, addressed on its pod IP with a token, serves the manifest.
        head = client.with_base(f"http://{ip}:5000").head_manifest("library/podrunner", "v1")
        assert head.present and head.digest == image.digest, name


def test_pod_proxy_reaches_each_registry_and_answers_503_for_a_simulated_pod(harbor):
    emulator, _params, _port, _work = harbor
    for name in registry_ips(emulator):
        status, _headers = pod_proxy_head(emulator, name, "/v2/")
        assert status == 401
    admin = emulator.kube.list("v1", "Pod", NAMESPACE, label_selector="name=adminserver-apps")[0]
    status, _headers = pod_proxy_head(emulator, admin["metadata"]["name"], "/v2/")
    assert status == 503  # no process behind a simulated pod, like a refused connection


def login(base: str) -> CookieJar:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = urllib.parse.urlencode({"principal": "admin", "password": ADMIN_PASSWORD}).encode()
    with opener.open(base + "/login", data=body, timeout=10) as answer:
        assert answer.status == 200
    assert any(c.name == "beegosessionID" for c in jar)
    return jar


def session_requests(base: str, jar: CookieJar, count: int) -> list[int]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    statuses = []
    for _ in range(count):
        try:
            with opener.open(base + "/api/users/current", timeout=10) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    return statuses


def ui_requests_served(emulator) -> dict[str, int]:
    """Per ui pod, how many /api/users/current its log shows (the log subresource)."""
    core = emulator.kube.core
    out = {}
    for pod in ready_pods(emulator.kube, "ui"):
        text = core.read_namespaced_pod_log(pod["metadata"]["name"], NAMESPACE)
        out[pod["metadata"]["name"]] = text.count("/api/users/current")
    return out


def test_a_login_is_valid_on_every_ui_replica(harbor):
    emulator, _params, port, _work = harbor
    base = f"http://127.0.0.1:{port}"
    before = ui_requests_served(emulator)
    statuses = session_requests(base, login(base), 30)
    assert statuses == [200] * 30
    after = ui_requests_served(emulator)
    assert sum(1 for name in after if after[name] > before.get(name, 0)) == 3, after  # all 3 replicas served


def test_deleting_a_registry_and_an_nginx_pod_keeps_pulls_working(harbor, tmp_path):
    emulator, _params, port, _work = harbor
    host = f"127.0.0.1:{port}"
    image = unique_image()
    client = RegistryClient(f"http://{host}", "admin", ADMIN_PASSWORD)
    client.push("library/failover", "v1", image)
    victims = {}
    for component in ("registry", "nginx"):
        pod = ready_pods(emulator.kube, component)[0]
        name = pod["metadata"]["name"]
        pid = _pid_of(emulator, pod)
        victims[component] = (name, pid, pod["status"]["podIP"])
        emulator.kube.delete("v1", "Pod", name, NAMESPACE)
    for _ in range(10):  # pulls during the replacement
        assert compare_pull(image, client.pull("library/failover", "v1")) == []
    wait_rolled_out(emulator, {"registry": 3, "nginx": 3})
    for component, (name, pid, _ip) in victims.items():
        names = {p["metadata"]["name"] for p in ready_pods(emulator.kube, component)}
        assert name not in names
        # The old process is stopped after a short drain (SIGTERM after 1 s): allow it to exit.
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not Path(f"/proc/{pid}").exists(), f"{component} process {pid} still runs"
        new_pids = {_pid_of(emulator, p) for p in ready_pods(emulator.kube, component)}
        assert pid not in new_pids and len(new_pids) == 3
    wait_nodeport(port, emulator)
    for _ in range(10):
        assert compare_pull(image, client.pull("library/failover", "v1")) == []


def _pid_of(emulator, pod: dict) -> int:
    run = emulator.state / "podrunner" / "run"
    meta = pod["metadata"]
    path = run / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}.pid"
    return int(path.read_text().split()[0])


def test_without_redis_url_a_login_is_valid_on_one_replica_only(backing, generated, tmp_path):
    db, redis = backing
    tmp_path.chmod(0o755)
    (tmp_path / "cephfs").mkdir()
    port = _free_node_port()
    emulator = start_emulator(tmp_path / "state", tmp_path / "cephfs")
    try:
        params = harbor_params(tmp_path, db, redis, port)
        deploy(emulator, params, generated, credentials(db, redis), drop_redis_url=True)
        wait_rolled_out(emulator, REPLICAS)
        wait_nodeport(port, emulator)
        base = f"http://127.0.0.1:{port}"
        statuses = session_requests(base, login(base), 30)
    finally:
        stop_emulator(emulator.proc)
    assert pod_processes(emulator.state) == []
    failed = sum(1 for s in statuses if s == 401)
    assert failed >= 15, statuses  # round robin over 3 memories: about 2 in 3 fail
    assert failed + statuses.count(200) == 30


def test_config_at_the_stock_path_loses_pushes_to_one_replica(backing, generated, tmp_path):
    """The 2017 layout: the push succeeds, nothing reaches CephFS, other replicas lack it."""
    db, redis = backing
    tmp_path.chmod(0o755)
    (tmp_path / "cephfs").mkdir()
    port = _free_node_port()
    emulator = start_emulator(tmp_path / "state", tmp_path / "cephfs")
    try:
        params = harbor_params(tmp_path, db, redis, port, registry_config_mount_path="/etc/docker/registry",
                               allow_known_bugs=True)
        deploy(emulator, params, generated, credentials(db, redis))
        wait_rolled_out(emulator, REPLICAS)
        ips = registry_ips(emulator)
        first_name, first_ip = sorted(ips.items())[0]
        image = unique_image()
        # Pushed to one replica (through the NodePort, the upload would be spread over three
        # replicas whose storage is private: the push itself fails, another face of the bug).
        RegistryClient(f"http://{first_ip}:5000").push("library/lost", "v1", image)
        storage = tmp_path / "cephfs" / params.storage.root.lstrip("/") / "registry"
        assert not blob_file(storage, image.layer.digest).exists()
        statuses = {name: pod_proxy_head(emulator, name, "/v2/library/lost/manifests/v1")[0] for name in ips}
        # Through the NodePort the upload's requests are spread over three private storages: the
        # push itself breaks (an upload or blob one replica never saw). Each attempt succeeds only
        # if every request lands on one replica, (1/3)^5 at best: two attempts never both do.
        wait_nodeport_v2_open(port, emulator)
        failures = []
        for attempt in range(2):
            try:
                RegistryClient(f"http://127.0.0.1:{port}").push("library/spread", f"v{attempt}", unique_image())
            except TransportError as exc:
                failures.append(exc.message)
    finally:
        stop_emulator(emulator.proc)
    assert statuses.pop(first_name) == 200  # no auth at all: the example config
    assert sorted(statuses.values()) == [404, 404]
    assert failures and all("UNKNOWN" in message for message in failures), failures


def http_over(sock, request: bytes) -> bytes:
    """One HTTP/1.1 exchange (Connection: close) over a connected socket; the raw answer."""
    sock.sendall(request)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_portforward_pulls_through_one_replica_with_a_real_token(harbor):
    """pods/portforward (websocket, as kubernetes.stream.portforward speaks it) passes the bearer
    token the pod proxy strips: each replica, on its own, serves the manifest to a real token."""
    from kubernetes.stream import portforward

    emulator, _params, port, _work = harbor
    host = f"127.0.0.1:{port}"
    image = unique_image()
    RegistryClient(f"http://{host}", "admin", ADMIN_PASSWORD).push("library/forwarded", "v1", image)
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    token_url = (f"http://{host}/service/token?service=harbor-registry"
                 "&scope=repository:library/forwarded:pull")
    with urllib.request.urlopen(urllib.request.Request(token_url, headers={"Authorization": f"Basic {basic}"}),
                                timeout=10) as answer:
        token = json.loads(answer.read())["token"]
    for name in registry_ips(emulator):
        forward = portforward(emulator.kube.core.connect_get_namespaced_pod_portforward, name, NAMESPACE,
                              ports="5000")
        try:
            answer = http_over(forward.socket(5000), (
                "HEAD /v2/library/forwarded/manifests/v1 HTTP/1.1\r\nHost: registry\r\n"
                f"Authorization: Bearer {token}\r\nAccept: {image.manifest_type}\r\nConnection: close\r\n\r\n"
            ).encode())
        finally:
            forward.close()
        head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 200"), (name, head)
        assert f"docker-content-digest: {image.digest}" in head, name
        # Without the token the same replica refuses: the 200 above was the token's doing.
        forward = portforward(emulator.kube.core.connect_get_namespaced_pod_portforward, name, NAMESPACE,
                              ports="5000")
        try:
            refused = http_over(forward.socket(5000), b"HEAD /v2/library/forwarded/manifests/v1 HTTP/1.1\r\n"
                                                       b"Host: registry\r\nConnection: close\r\n\r\n")
        finally:
            forward.close()
        assert refused.lower().startswith(b"http/1.1 401"), name


def test_portforward_to_a_simulated_pod_reports_on_the_error_channel(harbor):
    from kubernetes.stream import portforward

    emulator, _params, _port, _work = harbor
    admin = emulator.kube.list("v1", "Pod", NAMESPACE, label_selector="name=adminserver-apps")[0]
    forward = portforward(emulator.kube.core.connect_get_namespaced_pod_portforward, admin["metadata"]["name"],
                          NAMESPACE, ports="80")
    try:
        sock = forward.socket(80)
        sock.settimeout(10)
        assert sock.recv(100) == b""       # closed: nothing behind a simulated pod
        assert "has no process the lab can reach" in (forward.error(80) or "")
    finally:
        forward.close()
