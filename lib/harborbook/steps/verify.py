"""05-verify: prove the deployment works and is highly available, one row per check.

Each check is run the way a user meets the system: through the public hostname (the NodePort),
with `docker login`'s token flow, a real push and pull, a UI login. Then the HA properties are
proven rather than assumed: the blob is on the shared filesystem, every registry replica runs
its token config, sessions live in Redis, and losing a pod of each component changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets as pysecrets
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import checks, conditions, redisclient
from ..checks import Check, failed, guard, ok
from ..errors import TransportError, Unauthorized
from ..kube import Kube
from ..params.models import Harbor, Redis, Storage, Verify
from ..registry import Image, RegistryClient, build_image, compare_pull, find_challenge
from ..registry.transport import Response, request
from ..runbook import Status, StepResult
from ..secrets import mask
from . import rollout

SESSION_COOKIE = "beegosessionID"
REGISTRY_SERVICE = "harbor-registry"
REACH_HINT = "is the NodePort reachable from here?"


@dataclass
class Probe:
    """What the checks share: the image pushed (None when nothing was), where it was pushed."""

    image: Image | None = None
    repository: str = ""
    tag: str = ""


def _guard(area: str, name: str, probe: Callable[[], Check]) -> Check:
    """One check, run safely (an unreachable NodePort becomes a failed row with a hint)."""
    return guard(area, name, probe, os_hint=REACH_HINT)[0]


def base_url(harbor: Harbor) -> str:
    return f"{harbor.protocol}://{harbor.hostname}"


def _get(url: str, headers: dict[str, str] | None = None) -> Response:
    return request("GET", url, headers, timeout=15, follow_redirects=False)


# ------------------------------------------------------------------ endpoints
def endpoints(harbor: Harbor) -> StepResult[None]:
    """The UI page is served and /v2/ asks for a Bearer token at our realm for harbor-registry."""
    base = base_url(harbor)
    expected_realm = f"{base}/service/token"
    area = "endpoints"

    def ui() -> Check:
        answer = _get(f"{base}/")
        if answer.status == 200 and b"<html" in answer.body.lower():
            return ok(area, "UI page", f"GET {base}/ -> 200 (HTML)")
        return failed(area, "UI page", f"GET {base}/ -> {answer.status}", "is nginx routing / to the ui? check the ui pods")

    def challenge() -> Check:
        answer = _get(f"{base}/v2/")
        bearer = find_challenge(answer.header_all("www-authenticate"), "bearer")
        if answer.status != 401 or bearer is None:
            return failed(area, "token challenge", f"GET /v2/ -> {answer.status} without a Bearer challenge",
                          "the registry runs without token auth: is its config mounted at /etc/registry? (03's lint)")
        problems = []
        if bearer.realm != expected_realm:
            problems.append(f"realm {bearer.realm} != {expected_realm}")
        if bearer.service != REGISTRY_SERVICE:
            problems.append(f"service {bearer.service} != {REGISTRY_SERVICE}")
        if problems:
            return failed(area, "token challenge", "; ".join(problems),
                          "auth.token.realm must be <protocol>://<hostname>/service/token (harbor.hostname/protocol)")
        return ok(area, "token challenge", f"401 Bearer realm={bearer.realm} service={bearer.service}")

    return checks.result("endpoints", [_guard(area, "UI page", ui), _guard(area, "token challenge", challenge)])


# ------------------------------------------------------------------ login, push, pull
def _client(harbor: Harbor, password: str | None = None) -> RegistryClient:
    return RegistryClient(base_url(harbor), "admin", password if password is not None else harbor.admin_password.reveal())


def login(harbor: Harbor) -> StepResult[None]:
    """`docker login` with the admin credentials works; a wrong password is refused."""
    def good() -> Check:
        _client(harbor).login()
        return ok("login", "login", "token obtained for admin and accepted by /v2/")

    def bad() -> Check:
        try:
            _client(harbor, "wrong-" + pysecrets.token_hex(6)).login()
        except Unauthorized:
            return ok("login", "wrong password refused", "the token service answered 401")
        return failed("login", "wrong password refused", "a wrong password was accepted",
                      "the ui must check passwords against the database (AUTH_MODE db_auth)")

    return checks.result("login", [_guard("login", "login", good), _guard("login", "wrong password refused", bad)])


def push_pull(harbor: Harbor, verify: Verify, dry_run: bool = False,
              now: dt.datetime | None = None) -> StepResult[Probe]:
    """Push a small unique image through the NodePort and pull it back: same digest, same bytes."""
    if dry_run:
        return StepResult("push and pull", Status.SKIPPED, "dry run: no image pushed (it would add a repository)",
                          value=Probe())
    now = now or dt.datetime.now(dt.timezone.utc)
    probe = Probe(repository=f"{verify.project}/{verify.repository}", tag=now.strftime("%Y%m%d%H%M%S"))
    marker = f"{now.isoformat()}-{pysecrets.token_hex(4)}"
    image = probe.image = build_image(marker, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    client = _client(harbor)
    area = "push and pull"

    def push() -> Check:
        digest = client.push(probe.repository, probe.tag, image)
        if digest == image.digest:
            return ok(area, "push", f"{probe.repository}:{probe.tag} ({len(image.layer.data)} byte layer)")
        return failed(area, "push", f"the registry reports {digest}")

    def pull() -> Check:
        problems = compare_pull(image, client.pull(probe.repository, probe.tag))
        if problems:
            return failed(area, "pull", "; ".join(problems), "a replica without shared storage serves other data")
        return ok(area, "pull", "same manifest digest, same layer bytes")

    found = [_guard(area, "push", push)]
    if not found[0].failed:
        found.append(_guard(area, "pull", pull))
    return checks.result("push and pull", found, value=probe)


def pull_again(harbor: Harbor, probe: Probe, label: str, area: str = "failover") -> Check:
    def pull() -> Check:
        if probe.image is None:
            return failed(area, f"pull {label}", "nothing was pushed")
        problems = compare_pull(probe.image, _client(harbor).pull(probe.repository, probe.tag))
        return (failed(area, f"pull {label}", "; ".join(problems)) if problems
                else ok(area, f"pull {label}", "same digest, same bytes"))

    return _guard(area, f"pull {label}", pull)


# ------------------------------------------------------------------ shared storage
def blob_path(storage: Storage, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob, on our CephFS mount."""
    algo, hexdigest = digest.split(":", 1)
    return (Path(storage.mount) / storage.root.lstrip("/") / "registry" / "docker" / "registry" / "v2" / "blobs"
            / algo / hexdigest[:2] / hexdigest / "data")


def shared_storage(storage: Storage, harbor: Harbor, probe: Probe) -> StepResult[None]:
    """The pushed layer is on CephFS under the registry path: the config is where the image reads it."""
    if probe.image is None and not probe.repository:
        return StepResult("shared storage", Status.SKIPPED, "nothing was pushed (dry run)")
    area, name = "shared storage", "blob on CephFS"

    def check() -> Check:
        if probe.image is None:
            return failed(area, name, "nothing was pushed", "see the push check above")
        layer = probe.image.layer
        path = blob_path(storage, layer.digest)
        if path.is_file() and path.read_bytes() == layer.data:
            return ok(area, name, f"{path.relative_to(storage.mount)} ({path.stat().st_size} bytes)")
        return failed(area, name, f"the layer is not at {storage.root}/registry/.../{layer.digest[7:19]}.../data",
                      f"the registry is not writing to the shared volume: is its config mounted at "
                      f"{harbor.registry_config_mount_path}? vmware/registry:2.6.2-photon reads "
                      "/etc/registry/config.yml (the 2017 files mounted it at /etc/docker/registry)")

    return checks.result("shared storage", [_guard(area, name, check)])


# ------------------------------------------------------------------ every replica
def replicas(kube: Kube, namespace: str, probe: Probe, harbor: Harbor) -> StepResult[None]:
    """Each registry pod on its own: its token config answers, and it serves the pushed manifest.

    Through the API server's pod proxy, every replica must answer an unauthenticated manifest
    request with our Bearer challenge (the proxy consumes the Authorization header, so no token
    reaches the pod that way). Through a port-forward, where bytes pass untouched, the replica
    must serve the manifest to a real token: a replica with private storage (the 2017 mount bug)
    answers 404, one on its example config answers without asking for a token.
    """
    image = probe.image
    if image is None:
        return StepResult("replicas", Status.SKIPPED, "nothing was pushed to look for")
    api = kube.api.configuration
    headers = kube.auth_headers()
    pods = sorted(kube.list("v1", "Pod", namespace, label_selector="name=registry-apps"),
                  key=lambda p: p["metadata"]["name"])
    hint = (f"mount the registry config at /etc/registry (now {harbor.registry_config_mount_path}); every "
            "replica then runs token auth on the shared storage")
    area = "replicas"
    found: list[Check] = []
    for pod in pods:
        if not conditions.ready(pod):
            continue
        name = pod["metadata"]["name"]

        def check(name: str = name) -> Check:
            url = f"{api.host}/api/v1/namespaces/{namespace}/pods/{name}:5000/proxy"
            # The API server's own TLS (a private CA on most clusters), as the kubeconfig says.
            head = RegistryClient(url, extra_headers=headers, context=kube.ssl_context()).head_manifest(
                probe.repository, probe.tag, authenticate=False)
            if head.challenge is None or head.challenge.service != REGISTRY_SERVICE:
                return failed(area, f"replica {name}",
                              f"answers {head.status} without asking for a token: it runs the image's example config",
                              hint)
            with kube.port_forward(namespace, name, 5000) as local:
                client = _client(harbor).with_base(f"http://127.0.0.1:{local}")
                seen = client.head_manifest(probe.repository, probe.tag)
            if seen.status == 200 and seen.digest == image.digest:
                return ok(area, f"replica {name}", "token challenge through the pod proxy; serves the manifest "
                                                   "through a port-forward")
            return failed(area, f"replica {name}", f"does not serve the pushed manifest (HTTP {seen.status})", hint)

        found.append(_guard(area, f"replica {name}", check))
    if not found:
        found.append(failed(area, "registry replicas", "no ready registry pod", "run 04-rollout"))
    return checks.result("replicas", found)


# ------------------------------------------------------------------ sessions
def ui_login(harbor: Harbor) -> str:
    """POST /login like the UI's form; the beegosessionID cookie."""
    form = urllib.parse.urlencode({"principal": "admin", "password": harbor.admin_password.reveal()}).encode()
    answer = request("POST", f"{base_url(harbor)}/login", {"Content-Type": "application/x-www-form-urlencoded"},
                     form, timeout=15)
    for cookie in answer.header_all("set-cookie"):
        name, _, rest = cookie.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    raise TransportError(f"POST /login -> {answer.status} without a {SESSION_COOKIE} cookie",
                         hint="check the admin password (harbor.admin_password) and the ui pods",
                         status=answer.status)


def sessions(harbor: Harbor, redis_params: Redis, requests: int, area: str = "sessions",
             suffix: str = "") -> StepResult[None]:
    """Log in once, then every request through the NodePort (any ui replica) knows the session."""
    state: dict[str, str] = {}
    r = redis_params
    redis_hint = (f"the ui replicas share sessions through Redis at {r.host}:{r.port} "
                  "(_REDIS_URL): start Redis, or fix redis.* in the params and re-run 03 and 04")

    def reachable() -> Check:
        client = redisclient.connect(r)
        try:
            client.ping()
        except redisclient.RedisError as exc:
            return failed(area, "Redis reachable" + suffix, f"{r.host}:{r.port}: {type(exc).__name__}", redis_hint)
        finally:
            client.close()
        return ok(area, "Redis reachable" + suffix, f"{r.host}:{r.port} answers PING")

    def spread() -> Check:
        cookie = ui_login(harbor)
        state["cookie"] = cookie
        good = sum(_get(f"{base_url(harbor)}/api/users/current", {"Cookie": f"{SESSION_COOKIE}={cookie}"}).status == 200
                   for _ in range(requests))
        if good == requests:
            return ok(area, "shared sessions" + suffix,
                      f"{good}/{requests} requests to /api/users/current accepted the session")
        return failed(area, "shared sessions" + suffix, f"only {good}/{requests} requests accepted the session",
                      "sessions are per replica: set _REDIS_URL for the ui (Redis address, password, db)")

    def in_redis() -> Check:
        name = "session in Redis" + suffix
        if "cookie" not in state:
            return failed(area, name, "no session to look for")
        client = redisclient.connect(r)
        try:
            present = client.exists(state["cookie"])
        except redisclient.RedisError as exc:
            return failed(area, name, f"{r.host}:{r.port}: {type(exc).__name__}",
                          "is Redis up? the ui needs it for sessions (_REDIS_URL)")
        finally:
            client.close()
        if present:
            return ok(area, name, f"the session key is in Redis db {r.db}")
        return failed(area, name, f"no session key in Redis db {r.db}",
                      "the ui keeps sessions in memory: check _REDIS_URL (Redis address, db)")

    first = _guard(area, "Redis reachable" + suffix, reachable)
    rest = [_guard(area, "shared sessions" + suffix, spread), _guard(area, "session in Redis" + suffix, in_redis)]
    if first.failed:  # every later failure is explained by Redis being down
        rest = [Check(c.area, c.name, c.status, c.detail, c.hint or redis_hint) for c in rest]
    return checks.result("sessions", [first, *rest])


# ------------------------------------------------------------------ failover
def failover(*, kube: Kube, namespace: str, harbor: Harbor, redis_params: Redis, probe: Probe, requests: int,
             timeout: float, dry_run: bool = False, earlier: Sequence[StepResult[Any]] = ()) -> StepResult[None]:
    """Delete one pod each of registry, ui and nginx; after each replacement, pull and log in again.

    Refused when an ``earlier`` check of this runbook failed: deleting replicas of a deployment
    that already fails would only deepen the outage, and the failover result would mean nothing.
    """
    if dry_run:
        return StepResult("failover", Status.SKIPPED, "dry run: no pod deleted")
    broken = [step.name for step in earlier if step.failed]
    if broken:
        return StepResult("failover", Status.SKIPPED,
                          f"no pod deleted: {', '.join(broken)} failed above, and taking replicas down would "
                          "only add to the outage", hint="fix what failed, then run 05-verify again")
    area = "failover"
    found: list[Check] = []
    for component in ("registry", "ui", "nginx"):
        pods = sorted((p for p in kube.list("v1", "Pod", namespace, label_selector=f"name={component}-apps")
                       if conditions.ready(p)), key=lambda p: p["metadata"]["name"])
        if not pods:
            found.append(failed(area, f"{component} failover", "no ready pod to delete", "run 04-rollout"))
            continue

        def replace(pod: dict[str, Any] = pods[0], component: str = component) -> Check:
            new, _seconds = rollout.wait_deleted_and_replaced(kube, namespace, pod, timeout)
            return ok(area, f"{component} failover", f"deleted {pod['metadata']['name']}; replaced by {new}")

        found.append(_guard(area, f"{component} failover", replace))
        found.append(pull_again(harbor, probe, f"after {component} loss"))
        again = sessions(harbor, redis_params, max(3, requests // 3), area=area, suffix=f" after {component} loss")
        found += checks.of_steps([again])
    return checks.result("failover", found)


# ------------------------------------------------------------------ skopeo
def skopeo(harbor: Harbor, probe: Probe, mode: str) -> StepResult[None]:
    """A real client's opinion: skopeo inspects the pushed image (optional)."""
    binary = shutil.which("skopeo")
    if probe.image is None:
        return StepResult("skopeo", Status.SKIPPED, "nothing was pushed to inspect")
    if mode == "never" or (binary is None and mode == "auto"):
        return StepResult("skopeo", Status.SKIPPED, "skopeo cross-check skipped" +
                          (" (not installed)" if binary is None else ""))
    if binary is None:
        return checks.result("skopeo", [failed("skopeo", "skopeo", "skopeo is not installed", "apt-get install skopeo")])
    with tempfile.TemporaryDirectory() as tmp:
        auth = Path(tmp) / "auth.json"
        token = base64.b64encode(f"admin:{harbor.admin_password.reveal()}".encode()).decode()
        auth.write_text(json.dumps({"auths": {harbor.hostname: {"auth": token}}}))
        auth.chmod(0o600)
        ref = f"docker://{harbor.hostname}/{probe.repository}:{probe.tag}"
        tls = "--tls-verify=false" if harbor.protocol == "http" else "--tls-verify=true"
        done = subprocess.run([binary, "inspect", "--raw", tls, "--authfile", str(auth), ref],
                              capture_output=True, timeout=60)
    if done.returncode == 0 and done.stdout.strip() == probe.image.manifest.strip():
        return checks.result("skopeo", [ok("skopeo", "skopeo inspect", "skopeo reads the same manifest")])
    return checks.result("skopeo", [failed("skopeo", "skopeo inspect", mask(done.stderr.decode(errors="replace"))[:200],
                                           "see skopeo's message")])


def verdict(steps: list[StepResult[Any]]) -> StepResult[None]:
    """Every check of this runbook in one table, in the order they ran."""
    return checks.verdict("verification", steps, by_area=False)
