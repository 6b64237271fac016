"""Lints: the mistakes of the 2017 setup, each caught before anything is applied.

Every lint is a pure function of the manifests (and the facts it compares them with) returning
findings; an empty list is a pass. Messages name the object, the key and both sides of the
mismatch; they never quote a secret value.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterable, Mapping, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .. import beego, cephfs
from ..params.models import Params, Target
from .findings import Finding, Level
from .podview import Value, Workload, data_of, env_of, mount_for, mounted_files, repository, workloads

REGISTRY_IMAGE, UI_IMAGE, ADMINSERVER_IMAGE = "registry", "harbor-ui", "harbor-adminserver"
DEFAULT_REGISTRY_ROOT = "/var/lib/registry"  # where the registry stores blobs with no config read
TOKEN_ISSUER, TOKEN_SERVICE = "harbor-token-issuer", "harbor-registry"
# ConfigMap keys named like these hold secrets; so do lines like `password = x` in files.
_SECRET_KEY_NAME = re.compile(r"(PASSWORD|PASSWD|PWD|SECRET|PRIVATE|(^|_)KEY$|(^|_)TOKEN$)", re.IGNORECASE)
_SECRET_LINE = re.compile(r"^\s*(password|passwd|secret|secret_key)\s*[=:]\s*\S", re.IGNORECASE | re.MULTILINE)
_PRIVATE_KEY = "PRIVATE KEY-----"


def default_catalog() -> dict[str, str]:
    """image -> the config file it reads, from harborbook.images when that module exists."""
    try:
        from .. import images
    except ImportError:  # pragma: no cover - the catalog module is written by another helper
        return {"vmware/registry:2.6.2-photon": "/etc/registry/config.yml"}
    return {ref: image.config_path for image in images.CATALOG if image.config_path for ref in image.refs()}


def _normalize(image: str) -> str:
    try:
        from ..images import normalize
    except ImportError:  # pragma: no cover
        return image
    return normalize(image)


def _of_image(manifests: list[dict], name: str) -> list[tuple[Workload, dict]]:
    return [(w, c) for w in workloads(manifests) for c in w.containers()
            if repository(c.get("image", "")) == name]


def _fail(level: Level, obj: str, message: str, hint: str, check: str) -> Finding:
    return Finding(level, obj, message, hint, check)


# ---------------------------------------------------------------- the 2017 mountPath bug
def config_mounts(manifests: Iterable[dict], catalog: Mapping[str, str] | None = None,
                  allow_known_bugs: bool = False) -> list[Finding]:
    """Every container whose image reads a known config file has that file mounted there."""
    manifests = list(manifests)
    catalog = default_catalog() if catalog is None else {_normalize(k): v for k, v in catalog.items()}
    level = Level.WARNING if allow_known_bugs else Level.FAILED
    findings = []
    for workload, container in ((w, c) for w in workloads(manifests) for c in w.containers()):
        image = container.get("image", "")
        wanted = catalog.get(_normalize(image))
        if not wanted:
            continue
        files = mounted_files(workload, container, manifests)
        if wanted in files:
            continue
        base = posixpath.basename(wanted)
        elsewhere = sorted(p for p in files if posixpath.basename(p) == base)
        if elsewhere:
            message = (f"container {container.get('name')} mounts {base} at {elsewhere[0]} "
                       f"({files[elsewhere[0]].source}), but {image} reads {wanted}: the mounted file is "
                       "silently ignored and the program runs on the image's built-in config")
        else:
            message = (f"container {container.get('name')}: nothing is mounted at {wanted}, the file {image} "
                       "reads; it runs on the image's built-in config")
        if repository(image) == REGISTRY_IMAGE:
            message += (" (for the registry: blobs stay inside each container, token auth is off, and every "
                        "replica has its own private storage)")
        hint = f"mount the config at {posixpath.dirname(wanted)}"
        if repository(image) == REGISTRY_IMAGE:
            hint += f" (harbor.registry_config_mount_path: {posixpath.dirname(wanted)})"
        if allow_known_bugs:
            hint += "; allowed because harbor.allow_known_bugs is true"
        findings.append(_fail(level, workload.label, message, hint, "config-mount"))
    return findings


# ---------------------------------------------------------------- registry replicas
def _registry_config(workload: Workload, container: dict, manifests: list[dict],
                     catalog: Mapping[str, str]) -> dict | None:
    path = catalog.get(_normalize(container.get("image", "")), "/etc/registry/config.yml")
    value = mounted_files(workload, container, manifests).get(path)
    if value is None or value.text is None:
        return None
    try:
        data = YAML(typ="safe", pure=True).load(value.text)
    except YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _get(data: Mapping | None, *path: str):
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def registry_storage(manifests: Iterable[dict], claim_modes: Mapping[str, Sequence[str]],
                     catalog: Mapping[str, str] | None = None) -> list[Finding]:
    """Registry replicas > 1 need their blob directory on a ReadWriteMany volume."""
    manifests = list(manifests)
    catalog = default_catalog() if catalog is None else {_normalize(k): v for k, v in catalog.items()}
    findings = []
    for workload, container in _of_image(manifests, REGISTRY_IMAGE):
        if workload.replicas <= 1:
            continue
        config = _registry_config(workload, container, manifests, catalog)
        root = _get(config, "storage", "filesystem", "rootdirectory") or DEFAULT_REGISTRY_ROOT
        mount = mount_for(container, root)
        volume = workload.volume(mount.get("name", "")) if mount else None
        where = f"{workload.replicas} registry replicas store blobs under {root}"
        hint = "mount a ReadWriteMany PVC (registry-pvc on CephFS) at the registry's rootdirectory"
        if volume is None:
            findings.append(_fail(Level.FAILED, workload.label, f"{where}, which is on no volume: each replica "
                                  "keeps its own blobs inside its container", hint, "registry-storage"))
            continue
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is None:
            kind = next((k for k in volume if k != "name"), "unknown")
            findings.append(_fail(Level.FAILED, workload.label, f"{where}, on a {kind} volume "
                                  f"({volume.get('name')}): not shared between replicas", hint, "registry-storage"))
            continue
        modes = claim_modes.get(claim)
        if modes is None:
            findings.append(_fail(Level.FAILED, workload.label, f"{where}, on claim {claim}, whose access modes "
                                  "are unknown", hint, "registry-storage"))
        elif "ReadWriteMany" not in modes:
            findings.append(_fail(Level.FAILED, workload.label, f"{where}, on claim {claim} with access modes "
                                  f"{list(modes)}: without ReadWriteMany the replicas cannot share it",
                                  hint, "registry-storage"))
    return findings


def registry_http_secret(manifests: Iterable[dict], catalog: Mapping[str, str] | None = None) -> list[Finding]:
    """Every registry replica signs upload state with the same http.secret."""
    manifests = list(manifests)
    catalog = default_catalog() if catalog is None else {_normalize(k): v for k, v in catalog.items()}
    registries = _of_image(manifests, REGISTRY_IMAGE)
    total = sum(w.replicas for w, _ in registries)
    if total <= 1:
        return []
    hint = ("set one http.secret for all replicas: REGISTRY_HTTP_SECRET from a Secret "
            "(harbor-registry-secret) in every registry pod")
    findings: list[Finding] = []
    seen: dict[str, list[str]] = {}
    for workload, container in registries:
        env = env_of(container, manifests).get("REGISTRY_HTTP_SECRET")
        config_secret = _get(_registry_config(workload, container, manifests, catalog), "http", "secret")
        if env is not None:
            secret = env.text if env.text is not None else f"<{env.source}>"
        elif config_secret:
            secret = str(config_secret)
        else:
            findings.append(_fail(Level.FAILED, workload.label,
                                  f"{workload.replicas} registry replica(s) without http.secret "
                                  f"({total} in all): each one draws its own random secret, so an upload "
                                  "started on one replica fails on another", hint, "registry-http-secret"))
            continue
        seen.setdefault(secret, []).append(workload.label)
    if len(seen) > 1:
        groups = "; ".join(", ".join(labels) for labels in seen.values())
        findings.append(_fail(Level.FAILED, "registry", f"registry workloads use differing http.secret values "
                              f"(groups: {groups}): uploads fail when their requests reach different replicas",
                              hint, "registry-http-secret"))
    return findings


# ---------------------------------------------------------------- ui sessions
def redis_sessions(manifests: Iterable[dict]) -> list[Finding]:
    """ui replicas > 1 keep sessions in Redis (_REDIS_URL), or logins break between replicas."""
    manifests = list(manifests)
    findings = []
    hint = "set _REDIS_URL (host:port,poolsize,password,dbnum) from a Secret in the ui pods"
    for workload, container in _of_image(manifests, UI_IMAGE):
        if workload.replicas <= 1:
            continue
        value = env_of(container, manifests).get("_REDIS_URL")
        if value is None or value.text == "":
            findings.append(_fail(Level.FAILED, workload.label, f"{workload.replicas} ui replicas and _REDIS_URL "
                                  f"is {'not set' if value is None else 'empty'}: each replica keeps sessions in "
                                  "memory, so a login made through one is unknown to the others",
                                  hint, "redis-sessions"))
        elif value.text is None:
            findings.append(_fail(Level.WARNING, workload.label, f"_REDIS_URL comes from {value.source}, which is "
                                  "not among the rendered manifests: cannot check it", hint, "redis-sessions"))
        else:
            try:
                beego.parse_redis_url(value.text)
            except beego.RedisUrlError as exc:
                findings.append(_fail(Level.FAILED, workload.label, f"_REDIS_URL ({value.source}): {exc.message}",
                                      exc.hint or hint, "redis-sessions"))
    return findings


# ---------------------------------------------------------------- database settings
def database_settings(manifests: Iterable[dict], target: Target, password: str | None = None) -> list[Finding]:
    """The adminserver's MYSQL_* are what the database runbook (02) set up."""
    manifests = list(manifests)
    findings = []
    hint = "render from the same params file as 02-database (database.target)"
    endpoints = {(e.host, str(e.port)) for e in target.endpoints}
    for workload, container in _of_image(manifests, ADMINSERVER_IMAGE):
        env = env_of(container, manifests)

        def text(name: str) -> str | None:
            value = env.get(name)
            return None if value is None else value.text

        def bad(message: str) -> None:
            findings.append(_fail(Level.FAILED, workload.label, message, hint, "database-settings"))

        host, port = text("MYSQL_HOST"), text("MYSQL_PORT") or "3306"
        if (host, port) not in endpoints:
            shown = ", ".join(f"{h}:{p}" for h, p in sorted(endpoints))
            bad(f"MYSQL_HOST:MYSQL_PORT is {host}:{port}, not an endpoint of database.target ({shown})")
        for name, expected in (("MYSQL_USR", target.user), ("MYSQL_DATABASE", target.database),
                               ("DATABASE_TYPE", "mysql")):
            if text(name) != expected:
                bad(f"{name} is {text(name)!r}, but the database runbook uses {expected!r}")
        if password is not None:
            value = env.get("MYSQL_PWD")
            if value is None or value.text is None:
                bad("MYSQL_PWD is not set from the rendered manifests")
            elif value.text != password:
                bad(f"MYSQL_PWD ({value.source}) differs from database.target.password")
    return findings


# ---------------------------------------------------------------- token realm
def token_realm(manifests: Iterable[dict], hostname: str, protocol: str,
                catalog: Mapping[str, str] | None = None) -> list[Finding]:
    """The registry sends clients to <protocol>://<hostname>/service/token, Harbor's token service."""
    manifests = list(manifests)
    catalog = default_catalog() if catalog is None else {_normalize(k): v for k, v in catalog.items()}
    expected = f"{protocol}://{hostname}/service/token"
    hint = "render with harbor.hostname and harbor.protocol as clients reach Harbor"
    findings = []
    for workload, container in _of_image(manifests, REGISTRY_IMAGE):
        config = _registry_config(workload, container, manifests, catalog)
        if config is None:
            continue  # config-mounts reports a config the registry does not read
        for key, want in (("realm", expected), ("service", TOKEN_SERVICE), ("issuer", TOKEN_ISSUER)):
            got = _get(config, "auth", "token", key)
            if got != want:
                findings.append(_fail(Level.FAILED, workload.label, f"registry auth.token.{key} is {got!r}, "
                                      f"expected {want!r}", hint, "token-realm"))
    for workload, container in _of_image(manifests, ADMINSERVER_IMAGE):
        value = env_of(container, manifests).get("EXT_ENDPOINT")
        if value is not None and value.text is not None and value.text != f"{protocol}://{hostname}":
            findings.append(_fail(Level.FAILED, workload.label, f"EXT_ENDPOINT is {value.text!r}, expected "
                                  f"{protocol}://{hostname}", hint, "token-realm"))
    return findings


# ---------------------------------------------------------------- secrets in ConfigMaps
def configmap_secrets(manifests: Iterable[dict], secrets: Mapping[str, str] | None = None) -> list[Finding]:
    """No password, key or other secret inside a ConfigMap (readable by anyone who can read config)."""
    findings = []
    hint = "move the value into a Secret and reference it with secretKeyRef or a secret volume"
    known = {name: value for name, value in (secrets or {}).items() if value and len(value) >= 4}
    for obj in manifests:
        if obj.get("kind") != "ConfigMap":
            continue
        label = f"ConfigMap/{(obj.get('metadata') or {}).get('name')}"
        for key, value in (obj.get("data") or {}).items():
            text = str(value)
            reasons = []
            if text and _SECRET_KEY_NAME.search(key) and "\n" not in text:
                reasons.append("its name says it is a secret")
            if _PRIVATE_KEY in text:
                reasons.append("it holds a private key")
            line = _SECRET_LINE.search(text)
            if line:
                reasons.append(f"it sets {line.group(1)}")
            if key.endswith((".yml", ".yaml")) and _yaml_http_secret(text):
                reasons.append("it sets http.secret")
            reasons += [f"it contains the value of {name}" for name, secret in known.items() if secret in text]
            if reasons:
                findings.append(_fail(Level.FAILED, label, f"key {key}: {'; '.join(reasons)}", hint,
                                      "configmap-secrets"))
    return findings


def _yaml_http_secret(text: str) -> bool:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return False
    return bool(_get(data, "http", "secret"))


# ---------------------------------------------------------------- all of them
def run_all(manifests: Iterable[dict], params: Params, *, catalog: Mapping[str, str] | None = None,
            claim_modes: Mapping[str, Sequence[str]] | None = None, db_password: str | None = None,
            secrets: Mapping[str, str] | None = None) -> list[Finding]:
    """Every lint, with the facts taken from ``params`` unless given.

    ``claim_modes`` defaults to the claims 01-cephfs-storage creates (ReadWriteMany);
    ``secrets`` (name -> value) are looked for inside ConfigMaps.
    """
    manifests = list(manifests)
    if claim_modes is None:
        claim_modes = {cephfs.CLAIMS[v]: cephfs.pvc_manifest(params.storage, params.cluster.namespace, v)
                       ["spec"]["accessModes"] for v in cephfs.VOLUMES}
    harbor = params.harbor
    findings = [
        *config_mounts(manifests, catalog, harbor.allow_known_bugs),
        *registry_storage(manifests, claim_modes, catalog),
        *registry_http_secret(manifests, catalog),
        *redis_sessions(manifests),
        *database_settings(manifests, params.database.target, db_password),
        *token_realm(manifests, harbor.hostname, harbor.protocol, catalog),
        *configmap_secrets(manifests, secrets),
    ]
    if harbor.allow_known_bugs:
        # The 2017 layout reproduced on purpose: what follows from it (private per-replica storage)
        # is reported, not refused, so verification can show the damage for real.
        findings = [Finding(Level.WARNING, f.object, f.message, f.hint, f.check)
                    if f.check in KNOWN_BUG_CONSEQUENCES and f.level is Level.FAILED else f for f in findings]
    return findings


KNOWN_BUG_CONSEQUENCES = {"registry-storage"}


__all__ = ["config_mounts", "configmap_secrets", "database_settings", "default_catalog", "redis_sessions",
           "registry_http_secret", "registry_storage", "run_all", "token_realm", "Value"]
