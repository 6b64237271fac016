"""00-preflight: every precondition of the deployment, checked before anything changes.

Each area is one step returning rows (check, status, detail, hint). The runbook shows each
area as it runs and ends with :func:`verdict`, the single table an operator reads: a failed
row fails the runbook, a warning does not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from .. import beego
from . import storage
from ..errors import HarborbookError
from ..runbook import Status, StepResult

COLUMNS = ["area", "check", "status", "detail", "hint"]

# What the runbooks do to the cluster: (verb, resource, group, needed by).
NEEDED_ACCESS = [
    ("get", "namespaces", "", "01"),
    ("create", "namespaces", "", "01"),
    ("patch", "secrets", "", "01, 03, 04"),
    ("patch", "configmaps", "", "04"),
    ("patch", "services", "", "04"),
    ("patch", "deployments", "apps", "04"),
    ("patch", "persistentvolumes", "", "01"),
    ("patch", "persistentvolumeclaims", "", "01"),
    ("watch", "pods", "", "04, 05"),
    ("delete", "pods", "", "05"),
    ("get", "pods/proxy", "", "05"),
    ("list", "events", "", "04, 06"),
    ("list", "nodes", "", "00, 06"),
    ("get", "nodes/proxy", "", "06"),
]
OPTIONAL_ACCESS = {"nodes/proxy"}  # 06 falls back to the kubelet log and a node shell


@dataclass(frozen=True)
class Check:
    area: str
    check: str
    status: str  # ok | warning | failed
    detail: str
    hint: str = ""

    def row(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


def _result(name: str, checks: list[Check]) -> StepResult:
    worst = "failed" if any(c.status == "failed" for c in checks) else (
        "warning" if any(c.status == "warning" for c in checks) else "ok")
    failed = [c for c in checks if c.status == "failed"]
    summary = f"{len(checks)} check{'' if len(checks) == 1 else 's'}: " + ", ".join(
        f"{sum(1 for c in checks if c.status == s)} {s}" for s in ("ok", "warning", "failed")
        if any(c.status == s for c in checks))
    return StepResult(name, Status(worst), summary, table=pd.DataFrame([c.row() for c in checks], columns=COLUMNS),
                      data={"checks": [c.row() for c in checks]}, hint=failed[0].hint if failed else None)


def _guard(area: str, check: str, fn) -> list[Check]:
    """Run one probe; an error becomes a failed row carrying the error's own hint."""
    try:
        return list(fn())
    except HarborbookError as exc:
        return [Check(area, check, "failed", exc.message.splitlines()[0][:300], exc.hint or "")]
    except OSError as exc:
        return [Check(area, check, "failed", f"{type(exc).__name__}: {exc.strerror or exc}", "")]


# ------------------------------------------------------------------ kubernetes
def kubernetes(params, kube) -> StepResult:
    """The API answers with the kubeconfig given; its version; the namespace; our permissions."""
    area = "kubernetes"
    state: dict = {}

    def api():
        info = kube.version()
        state["version"] = kube.minor()
        yield Check(area, "API reachable", "ok", f"{info.get('gitVersion')} at {kube.api.configuration.host}")

    checks = _guard(area, "API reachable", api)
    if "version" in state:
        checks += _guard(area, "namespace", lambda: _namespace(kube, params.cluster.namespace))
        checks += _guard(area, "permissions", lambda: _access(kube, params.cluster.namespace))
    result = _result("kubernetes", checks)
    result.data.update(version=".".join(map(str, state.get("version", ()))))
    return result


def _namespace(kube, namespace: str) -> Iterable[Check]:
    found = kube.get("v1", "Namespace", namespace)
    if found:
        yield Check("kubernetes", "namespace", "ok", f"{namespace} exists")
    else:
        yield Check("kubernetes", "namespace", "warning", f"{namespace} does not exist yet",
                    "01-cephfs-storage creates it")


def _access(kube, namespace: str) -> Iterable[Check]:
    denied, optional = [], []
    for verb, resource, group, needed_by in NEEDED_ACCESS:
        base, _, sub = resource.partition("/")
        if not kube.can_i(verb, base, group, namespace if base not in ("nodes", "namespaces", "persistentvolumes") else None,
                          sub or None):
            (optional if resource in OPTIONAL_ACCESS else denied).append(f"{verb} {resource} ({needed_by})")
    if denied:
        yield Check("kubernetes", "permissions", "failed", "denied: " + ", ".join(denied),
                    "grant these verbs to the identity in the kubeconfig (RBAC)")
    else:
        yield Check("kubernetes", "permissions", "ok", f"{len(NEEDED_ACCESS) - len(optional)} verb/resource pairs allowed")
    if optional:
        yield Check("kubernetes", "node proxy", "warning", "denied: " + ", ".join(optional),
                    "06 will read thresholds from the kubelet log and files through a node shell instead")


# ------------------------------------------------------------------ nodes
def schedulable(node: dict) -> bool:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    blocking = [t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
    return ready and not spec.get("unschedulable") and not blocking


def nodes(params, kube) -> StepResult:
    """Enough Ready, schedulable nodes for the replicas to spread across."""
    def probe():
        items = kube.list("v1", "Node")
        usable = sorted(n["metadata"]["name"] for n in items if schedulable(n))
        widest = max(params.harbor.replicas.model_dump().values())
        if not usable:
            yield Check("nodes", "schedulable nodes", "failed", f"0 of {len(items)} nodes are Ready and schedulable",
                        "uncordon a node or remove NoSchedule taints; see 06-node-disk-pressure for DiskPressure")
        elif len(usable) < widest:
            yield Check("nodes", "schedulable nodes", "warning",
                        f"{len(usable)} of {len(items)} usable, fewer than the {widest} replicas: some will share a node",
                        "add nodes, or accept that one node failure takes several replicas down")
        else:
            yield Check("nodes", "schedulable nodes", "ok", f"{len(usable)} of {len(items)} usable: {', '.join(usable)}")

    return _result("nodes", _guard("nodes", "schedulable nodes", probe))


# ------------------------------------------------------------------ storage
def storage_backend(params, kube) -> StepResult:
    """The storage backend fits the cluster version (in-tree cephfs is gone in 1.31)."""
    def probe():
        version = kube.minor()
        csi = kube.get("storage.k8s.io/v1", "CSIDriver", params.storage.csi.driver) is not None
        status, detail, hint = storage.backend_fits(params.storage.backend, version, csi)
        yield Check("storage", f"backend {params.storage.backend}", status, detail, hint or "")

    return _result("storage backend", _guard("storage", f"backend {params.storage.backend}", probe))


def cephfs(params) -> StepResult:
    """The CephFS root is mounted, writable, and the admin key is readable."""
    st = params.storage
    checks: list[Check] = []
    mounted, detail = storage.check_cephfs_mount(st.mount)
    checks.append(Check("storage", "CephFS mounted", "ok" if mounted else "failed", detail,
                        "" if mounted else "mount the CephFS root at storage.mount (mount -t ceph or ceph-fuse); "
                                           "for the lab: harborbook lab up"))
    if mounted:
        def writable():
            marker = Path(st.mount) / storage.new_marker()
            marker.write_text("ok")
            marker.unlink()
            yield Check("storage", "CephFS writable", "ok", f"created and removed a file in {st.mount}")

        checks += _guard("storage", "CephFS writable", writable)

    def key():
        storage.admin_key(st)
        yield Check("storage", "admin key", "ok", f"readable from {st.admin_key.ref} (not shown)")

    checks += _guard("storage", "admin key", key)
    return _result("cephfs", checks)


# ------------------------------------------------------------------ databases
def source_database(params) -> StepResult:
    """The source database answers and holds a Harbor 1.2 schema."""
    from .. import db

    src = params.database.source

    def probe():
        if src.kind == "dumpfile":
            path = Path(src.path)
            if not path.is_file() or not os.access(path, os.R_OK):
                yield Check("database", "source dump", "failed", f"{path} is not a readable file",
                            "set database.source.path to the mysqldump file")
                return
            yield Check("database", "source dump", "ok", f"{path} ({path.stat().st_size} bytes)")
            return
        login = db.Login(src.user, src.password, field="database.source.password")
        conn = db.connect(db.Endpoint(src.host, src.port), login, database=src.database, timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                versions = [r[0] for r in cur.fetchall()]
        finally:
            conn.close()
        if versions == ["1.2.0"]:
            yield Check("database", "source schema", "ok", f"{src.host}:{src.port}/{src.database}: alembic_version 1.2.0")
        else:
            yield Check("database", "source schema", "failed", f"alembic_version is {versions or 'empty'}, not 1.2.0",
                        "these runbooks migrate a Harbor 1.2 database; point database.source at one")

    return _result("source database", _guard("database", "source", probe))


def target_database(params) -> StepResult:
    """The target cluster answers with the admin credentials and is healthy."""
    from .. import db

    tgt = params.database.target

    def probe():
        login = db.Login(tgt.admin_user, tgt.admin_password, field="database.target.admin_password")
        endpoints = [db.Endpoint(e.host, e.port) for e in tgt.endpoints]
        conn, info, probed = db.first_healthy(endpoints, login, timeout=5)
        conn.close()
        for p in probed:
            status = "ok" if p.healthy else "warning"
            kind = {"galera": "Galera", "group-replication": "Group Replication", "plain": "plain server"}.get(p.kind, p.kind)
            yield Check("database", f"target {p.endpoint}", status, f"{kind} {p.version}: {p.detail}".strip(),
                        "" if p.healthy else "this endpoint is skipped; repair or remove it")
        if info.kind == "plain":
            yield Check("database", "target cluster", "warning", "a single server, not a cluster: no database HA",
                        "use a Galera or Group Replication cluster for HA")

    return _result("target database", _guard("database", "target", probe))


# ------------------------------------------------------------------ redis
def redis_sessions(params) -> StepResult:
    """Redis answers with the password; the db index and password fit beego's _REDIS_URL."""
    import redis as redis_lib

    r = params.redis
    checks: list[Check] = []

    def probe():
        password = r.password.reveal() if r.password else ""
        try:
            beego.build_redis_url(r.host, r.port, password, r.db, r.pool_size)
        except HarborbookError as exc:
            yield Check("redis", "_REDIS_URL", "failed", exc.message.split("(")[0].strip(), exc.hint or "")
            return
        yield Check("redis", "_REDIS_URL", "ok", f"{r.host}:{r.port}, pool {r.pool_size}, db {r.db} (password not shown)")
        client = redis_lib.Redis(host=r.host, port=r.port, password=password or None, db=0, socket_timeout=5,
                                 socket_connect_timeout=5)
        try:
            pong = client.ping()
            databases = int(client.config_get("databases").get("databases", 16))
        except redis_lib.AuthenticationError:
            yield Check("redis", "PING", "failed", f"{r.host}:{r.port} refused the password",
                        "check the secret referenced by redis.password (the value is never shown)")
            return
        except redis_lib.ResponseError:
            databases = 16  # CONFIG may be renamed away on managed Redis
            pong = True
        except redis_lib.RedisError as exc:
            yield Check("redis", "PING", "failed", f"{r.host}:{r.port}: {type(exc).__name__}",
                        "is Redis running there? check redis.host/port; for the lab: harborbook lab status")
            return
        finally:
            client.close()
        yield Check("redis", "PING", "ok" if pong else "failed", "PONG" if pong else "no PONG")
        if r.db >= databases:
            yield Check("redis", "db index", "failed", f"db {r.db} but the server has {databases} databases",
                        "choose redis.db below the server's `databases` setting")
        else:
            yield Check("redis", "db index", "ok", f"db {r.db} of {databases}")

    checks += _guard("redis", "redis", probe)
    return _result("redis", checks)


# ------------------------------------------------------------------ node port
def node_port(params, kube) -> StepResult:
    """The NodePort is free, or already held by our own nginx Service."""
    port, ns = params.harbor.node_port, params.cluster.namespace

    def probe():
        holders = []
        for svc in kube.list("v1", "Service"):
            for p in (svc.get("spec") or {}).get("ports") or []:
                if p.get("nodePort") == port:
                    holders.append((svc["metadata"].get("namespace"), svc["metadata"]["name"]))
        foreign = [h for h in holders if h != (ns, "nginx")]
        if foreign:
            who = ", ".join(f"{a}/{b}" for a, b in foreign)
            yield Check("network", f"NodePort {port}", "failed", f"already allocated to {who}",
                        "choose another harbor.node_port (30000-32767) or free that one")
        elif holders:
            yield Check("network", f"NodePort {port}", "ok", f"held by our Service {ns}/nginx")
        else:
            yield Check("network", f"NodePort {port}", "ok", "free")

    return _result("node port", _guard("network", f"NodePort {port}", probe))


# ------------------------------------------------------------------ the verdict
def verdict(steps: list[StepResult]) -> StepResult:
    """All checks in one table, sorted by area; failed when any check failed."""
    rows = [row for s in steps for row in s.data.get("checks", [])]
    checks = [Check(**row) for row in rows]
    result = _result("preflight", checks)
    result.table = result.table.sort_values(["area", "check"], kind="stable").reset_index(drop=True)
    if result.failed:
        bad = [c for c in checks if c.status == "failed"]
        result.summary = f"{len(bad)} of {len(checks)} checks failed: " + "; ".join(f"{c.check}: {c.detail}" for c in bad)
    return result
