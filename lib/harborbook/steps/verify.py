"""05-verify: prove the deployment works and is highly available, one row per check.

Each check is run the way a user meets the system: through the public hostname (the NodePort),
with `docker login`'s token flow, a real push and pull, a UI login. Then the HA properties are
proven rather than assumed: the blob is on the shared filesystem, every registry replica runs
its token config, sessions live in Redis, and losing a pod of each component changes nothing.
"""

from __future__ import annotations

import datetime as dt
import http.client
import secrets as pysecrets
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import rollout
from ..errors import HarborbookError, TransportError
from ..registry import RegistryClient, build_image, compare_pull, find_challenge
from ..runbook import Status, StepResult
from ..secrets import mask

COLUMNS = ["check", "status", "detail", "hint"]
SESSION_COOKIE = "beegosessionID"
REGISTRY_SERVICE = "harbor-registry"


@dataclass
class Row:
    check: str
    status: str
    detail: str
    hint: str = ""


@dataclass
class Probe:
    """What the checks share: the pushed image, the session cookie, the rows so far."""

    image: object | None = None
    repository: str = ""
    tag: str = ""
    cookie: str | None = None
    rows: list[Row] = field(default_factory=list)


def _result(name: str, rows: list[Row], value=None) -> StepResult:
    failed = [r for r in rows if r.status == "failed"]
    status = Status.FAILED if failed else (Status.WARNING if any(r.status == "warning" for r in rows) else Status.OK)
    summary = (f"{len(failed)} of {len(rows)} failed: " + "; ".join(f"{r.check}: {r.detail}" for r in failed)) if failed \
        else f"{len(rows)} checks passed" + (" (with warnings)" if status is Status.WARNING else "")
    return StepResult(name, status, summary, table=pd.DataFrame([r.__dict__ for r in rows], columns=COLUMNS),
                      hint=failed[0].hint if failed else None, data={"checks": [r.__dict__ for r in rows]}, value=value)


def _guard(check: str, fn) -> Row:
    try:
        return fn()
    except HarborbookError as exc:
        return Row(check, "failed", mask(exc.message.splitlines()[0])[:300], exc.hint or "")
    except OSError as exc:
        return Row(check, "failed", f"{type(exc).__name__}: {exc}", "is the NodePort reachable from here?")


def base_url(harbor) -> str:
    return f"{harbor.protocol}://{harbor.hostname}"


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
          timeout: float = 15) -> tuple[int, dict[str, list[str]], bytes]:
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        found: dict[str, list[str]] = {}
        for key, value in response.getheaders():
            found.setdefault(key.lower(), []).append(value)
        return response.status, found, response.read()
    finally:
        conn.close()


# ------------------------------------------------------------------ endpoints
def endpoints(harbor) -> StepResult:
    """The UI page is served and /v2/ asks for a Bearer token at our realm for harbor-registry."""
    base = base_url(harbor)
    expected_realm = f"{base}/service/token"

    def ui():
        status, _, body = _http("GET", f"{base}/")
        if status == 200 and b"<html" in body.lower():
            return Row("UI page", "ok", f"GET {base}/ -> 200 (HTML)")
        return Row("UI page", "failed", f"GET {base}/ -> {status}", "is nginx routing / to the ui? check the ui pods")

    def challenge():
        status, headers, _ = _http("GET", f"{base}/v2/")
        bearer = find_challenge(headers.get("www-authenticate", []), "bearer")
        if status != 401 or bearer is None:
            return Row("token challenge", "failed", f"GET /v2/ -> {status} without a Bearer challenge",
                       "the registry runs without token auth: is its config mounted at /etc/registry? (03's lint)")
        problems = []
        if bearer.realm != expected_realm:
            problems.append(f"realm {bearer.realm} != {expected_realm}")
        if bearer.service != REGISTRY_SERVICE:
            problems.append(f"service {bearer.service} != {REGISTRY_SERVICE}")
        if problems:
            return Row("token challenge", "failed", "; ".join(problems),
                       "auth.token.realm must be <protocol>://<hostname>/service/token (harbor.hostname/protocol)")
        return Row("token challenge", "ok", f"401 Bearer realm={bearer.realm} service={bearer.service}")

    return _result("endpoints", [_guard("UI page", ui), _guard("token challenge", challenge)])


# ------------------------------------------------------------------ login, push, pull
def _client(harbor, password: str | None = None) -> RegistryClient:
    return RegistryClient(base_url(harbor), "admin", password if password is not None else harbor.admin_password.reveal())


def login(harbor) -> StepResult:
    """`docker login` with the admin credentials works; a wrong password is refused."""
    def good():
        _client(harbor).login()
        return Row("login", "ok", "token obtained for admin and accepted by /v2/")

    def bad():
        try:
            _client(harbor, "wrong-" + pysecrets.token_hex(6)).login()
        except TransportError:
            return Row("wrong password refused", "ok", "the token service answered 401")
        return Row("wrong password refused", "failed", "a wrong password was accepted",
                   "the ui must check passwords against the database (AUTH_MODE db_auth)")

    return _result("login", [_guard("login", good), _guard("wrong password refused", bad)])


def push_pull(harbor, verify, dry_run: bool = False, now: dt.datetime | None = None) -> StepResult:
    """Push a small unique image through the NodePort and pull it back: same digest, same bytes."""
    if dry_run:
        return StepResult("push and pull", Status.SKIPPED, "dry run: no image pushed (it would add a repository)",
                          value=Probe())
    now = now or dt.datetime.now(dt.timezone.utc)
    probe = Probe(repository=f"{verify.project}/{verify.repository}", tag=now.strftime("%Y%m%d%H%M%S"))
    marker = f"{now.isoformat()}-{pysecrets.token_hex(4)}"
    probe.image = build_image(marker, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    client = _client(harbor)

    def push():
        digest = client.push(probe.repository, probe.tag, probe.image)
        return Row("push", "ok", f"{probe.repository}:{probe.tag} ({len(probe.image.layer.data)} byte layer)") \
            if digest == probe.image.digest else Row("push", "failed", f"the registry reports {digest}")

    def pull():
        problems = compare_pull(probe.image, client.pull(probe.repository, probe.tag))
        if problems:
            return Row("pull", "failed", "; ".join(problems), "a replica without shared storage serves other data")
        return Row("pull", "ok", "same manifest digest, same layer bytes")

    rows = [_guard("push", push)]
    if rows[0].status == "ok":
        rows.append(_guard("pull", pull))
    return _result("push and pull", rows, value=probe)


def pull_again(harbor, probe: Probe, label: str) -> Row:
    def pull():
        problems = compare_pull(probe.image, _client(harbor).pull(probe.repository, probe.tag))
        return Row(f"pull {label}", "failed" if problems else "ok", "; ".join(problems) or "same digest, same bytes")

    return _guard(f"pull {label}", pull)


# ------------------------------------------------------------------ shared storage
def blob_path(storage, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob, on our CephFS mount."""
    algo, hexdigest = digest.split(":", 1)
    return (Path(storage.mount) / storage.root.lstrip("/") / "registry" / "docker" / "registry" / "v2" / "blobs"
            / algo / hexdigest[:2] / hexdigest / "data")


def shared_storage(storage, harbor, probe: Probe) -> StepResult:
    """The pushed layer is on CephFS under the registry path: the config is where the image reads it."""
    if probe.image is None and not probe.repository:
        return StepResult("shared storage", Status.SKIPPED, "nothing was pushed (dry run)")

    def check():
        if probe.image is None:
            return Row("blob on CephFS", "failed", "nothing was pushed", "see the push check above")
        path = blob_path(storage, probe.image.layer.digest)
        if path.is_file() and path.read_bytes() == probe.image.layer.data:
            return Row("blob on CephFS", "ok", f"{path.relative_to(storage.mount)} ({path.stat().st_size} bytes)")
        return Row("blob on CephFS", "failed", f"the layer is not at {storage.root}/registry/.../{probe.image.layer.digest[7:19]}.../data",
                   f"the registry is not writing to the shared volume: is its config mounted at "
                   f"{harbor.registry_config_mount_path}? vmware/registry:2.6.2-photon reads /etc/registry/config.yml "
                   "(the 2017 files mounted it at /etc/docker/registry)")

    return _result("shared storage", [_guard("blob on CephFS", check)])


# ------------------------------------------------------------------ every replica
def replicas(kube, namespace: str, probe: Probe, harbor) -> StepResult:
    """Each registry pod on its own: its token config answers, and it serves the pushed manifest.

    Through the API server's pod proxy, every replica must answer an unauthenticated manifest
    request with our Bearer challenge (the proxy consumes the Authorization header, so no token
    reaches the pod that way). Through a port-forward, where bytes pass untouched, the replica
    must serve the manifest to a real token: a replica with private storage (the 2017 mount bug)
    answers 404, one on its example config answers without asking for a token.
    """
    if probe.image is None:
        return StepResult("replicas", Status.SKIPPED, "nothing was pushed to look for")
    api = kube.api.configuration
    headers = kube.auth_headers()
    pods = sorted(kube.list("v1", "Pod", namespace, label_selector="name=registry-apps"),
                  key=lambda p: p["metadata"]["name"])
    hint = (f"mount the registry config at /etc/registry (now {harbor.registry_config_mount_path}); every "
            "replica then runs token auth on the shared storage")
    rows = []
    for pod in pods:
        if not rollout._pod_ready(pod):
            continue
        name = pod["metadata"]["name"]

        def check(name=name):
            url = f"{api.host}/api/v1/namespaces/{namespace}/pods/{name}:5000/proxy"
            head = RegistryClient(url, extra_headers=headers).head_manifest(probe.repository, probe.tag,
                                                                           authenticate=False)
            if head.challenge is None or head.challenge.service != REGISTRY_SERVICE:
                return Row(f"replica {name}", "failed",
                           f"answers {head.status} without asking for a token: it runs the image's example config",
                           hint)
            with kube.port_forward(namespace, name, 5000) as local:
                client = _client(harbor).with_base(f"http://127.0.0.1:{local}")
                found = client.head_manifest(probe.repository, probe.tag)
            if found.status == 200 and found.digest == probe.image.digest:
                return Row(f"replica {name}", "ok", "token challenge through the pod proxy; serves the manifest "
                                                    "through a port-forward")
            return Row(f"replica {name}", "failed", f"does not serve the pushed manifest (HTTP {found.status})", hint)

        rows.append(_guard(f"replica {name}", check))
    if not rows:
        rows.append(Row("registry replicas", "failed", "no ready registry pod", "run 04-rollout"))
    return _result("replicas", rows)


# ------------------------------------------------------------------ sessions
def ui_login(harbor) -> str:
    """POST /login like the UI's form; the beegosessionID cookie."""
    form = urllib.parse.urlencode({"principal": "admin", "password": harbor.admin_password.reveal()}).encode()
    status, headers, _ = _http("POST", f"{base_url(harbor)}/login", form,
                               {"Content-Type": "application/x-www-form-urlencoded"})
    for cookie in headers.get("set-cookie", []):
        name, _, rest = cookie.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    raise TransportError(f"POST /login -> {status} without a {SESSION_COOKIE} cookie",
                         hint="check the admin password (harbor.admin_password) and the ui pods")


def sessions(harbor, redis_params, requests: int) -> StepResult:
    """Log in once, then every request through the NodePort (any ui replica) knows the session."""
    import redis as redis_lib

    state: dict = {}
    redis_hint = (f"the ui replicas share sessions through Redis at {redis_params.host}:{redis_params.port} "
                  "(_REDIS_URL): start Redis, or fix redis.* in the params and re-run 03 and 04")

    def reachable():
        r = redis_params
        client = redis_lib.Redis(host=r.host, port=r.port, db=r.db, socket_timeout=5, socket_connect_timeout=5,
                                 password=r.password.reveal() if r.password else None)
        try:
            client.ping()
        except redis_lib.RedisError as exc:
            return Row("Redis reachable", "failed", f"{r.host}:{r.port}: {type(exc).__name__}", redis_hint)
        finally:
            client.close()
        return Row("Redis reachable", "ok", f"{r.host}:{r.port} answers PING")

    def spread():
        cookie = ui_login(harbor)
        state["cookie"] = cookie
        good = 0
        for _ in range(requests):
            status, _, _ = _http("GET", f"{base_url(harbor)}/api/users/current",
                                 headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
            good += status == 200
        if good == requests:
            return Row("shared sessions", "ok", f"{good}/{requests} requests to /api/users/current accepted the session")
        return Row("shared sessions", "failed", f"only {good}/{requests} requests accepted the session",
                   "sessions are per replica: set _REDIS_URL for the ui (Redis address, password, db)")

    def in_redis():
        if "cookie" not in state:
            return Row("session in Redis", "failed", "no session to look for")
        r = redis_params
        client = redis_lib.Redis(host=r.host, port=r.port, db=r.db,
                                 password=r.password.reveal() if r.password else None, socket_timeout=5)
        try:
            found = client.exists(state["cookie"])
        except redis_lib.RedisError as exc:
            return Row("session in Redis", "failed", f"{r.host}:{r.port}: {type(exc).__name__}",
                       "is Redis up? the ui needs it for sessions (_REDIS_URL)")
        finally:
            client.close()
        return Row("session in Redis", "ok" if found else "failed",
                   f"the session key is in Redis db {r.db}" if found else f"no session key in Redis db {r.db}",
                   "" if found else "the ui keeps sessions in memory: check _REDIS_URL (Redis address, db)")

    first = _guard("Redis reachable", reachable)
    rows = [first, _guard("shared sessions", spread), _guard("session in Redis", in_redis)]
    if first.status == "failed":
        rows = [rows[0]] + [Row(r.check, r.status, r.detail, r.hint or redis_hint) for r in rows[1:]]
    return _result("sessions", rows)


# ------------------------------------------------------------------ failover
def failover(kube, namespace: str, harbor, redis_params, probe: Probe, requests: int, timeout: float,
             dry_run: bool = False) -> StepResult:
    """Delete one pod each of registry, ui and nginx; after each replacement, pull and log in again."""
    if dry_run:
        return StepResult("failover", Status.SKIPPED, "dry run: no pod deleted")
    rows: list[Row] = []
    for component in ("registry", "ui", "nginx"):
        pods = sorted((p for p in kube.list("v1", "Pod", namespace, label_selector=f"name={component}-apps")
                       if rollout._pod_ready(p)), key=lambda p: p["metadata"]["name"])
        if not pods:
            rows.append(Row(f"{component} failover", "failed", "no ready pod to delete", "run 04-rollout"))
            continue

        def replace(pod=pods[0], component=component):
            new, seconds = rollout.wait_deleted_and_replaced(kube, namespace, pod, timeout)
            return Row(f"{component} failover", "ok", f"deleted {pod['metadata']['name']}; replaced by {new}")

        rows.append(_guard(f"{component} failover", replace))
        rows.append(pull_again(harbor, probe, f"after {component} loss"))
        check = sessions(harbor, redis_params, max(3, requests // 3))
        rows += [Row(f"{r['check']} after {component} loss", r["status"], r["detail"], r["hint"])
                 for r in check.data["checks"]]
    return _result("failover", rows)


# ------------------------------------------------------------------ skopeo
def skopeo(harbor, probe: Probe, mode: str) -> StepResult:
    """A real client's opinion: skopeo inspects the pushed image (optional)."""
    binary = shutil.which("skopeo")
    if probe.image is None:
        return StepResult("skopeo", Status.SKIPPED, "nothing was pushed to inspect")
    if mode == "never" or (binary is None and mode == "auto"):
        return StepResult("skopeo", Status.SKIPPED, "skopeo cross-check skipped" +
                          (" (not installed)" if binary is None else ""))
    if binary is None:
        return _result("skopeo", [Row("skopeo", "failed", "skopeo is not installed", "apt-get install skopeo")])
    with tempfile.TemporaryDirectory() as tmp:
        auth = Path(tmp) / "auth.json"
        import base64
        import json

        token = base64.b64encode(f"admin:{harbor.admin_password.reveal()}".encode()).decode()
        auth.write_text(json.dumps({"auths": {harbor.hostname: {"auth": token}}}))
        auth.chmod(0o600)
        ref = f"docker://{harbor.hostname}/{probe.repository}:{probe.tag}"
        tls = "--tls-verify=false" if harbor.protocol == "http" else "--tls-verify=true"
        done = subprocess.run([binary, "inspect", "--raw", tls, "--authfile", str(auth), ref],
                              capture_output=True, timeout=60)
    if done.returncode == 0 and done.stdout.strip() == probe.image.manifest.strip():
        return _result("skopeo", [Row("skopeo inspect", "ok", "skopeo reads the same manifest")])
    return _result("skopeo", [Row("skopeo inspect", "failed", mask(done.stderr.decode(errors="replace"))[:200],
                                  "see skopeo's message")])


def verdict(steps: list[StepResult]) -> StepResult:
    """Every check of this runbook in one table."""
    rows = [Row(**r) for s in steps for r in s.data.get("checks", [])]
    return _result("verification", rows)
