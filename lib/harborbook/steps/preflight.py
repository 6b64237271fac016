"""00-preflight: every precondition of the deployment, checked before anything changes.

Each area is one step returning rows (check, status, detail, hint). The runbook shows each
area as it runs and ends with :func:`verdict`, the single table an operator reads: a failed
row fails the runbook, a warning does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import beego, checks, conditions, redisclient
from .. import cephfs as ceph
from ..checks import Check, failed, guard, ok, warning
from ..errors import HarborbookError
from ..kube import Kube
from ..params import Params
from ..runbook import Status, StepResult


COLUMNS = checks.COLUMNS

# What the runbooks do to the cluster: (verb, resource, group, needed by).
NEEDED_ACCESS = [
    ("get", "namespaces", "", "01"),
    ("create", "namespaces", "", "01"),
    ("patch", "namespaces", "", "01"),      # 01 applies it server-side (PATCH)
    ("patch", "secrets", "", "01, 03, 04"),
    ("patch", "configmaps", "", "04"),
    ("patch", "services", "", "04"),
    ("patch", "deployments", "apps", "04"),
    ("patch", "persistentvolumes", "", "01"),
    ("patch", "persistentvolumeclaims", "", "01"),
    ("watch", "pods", "", "04, 05"),
    ("get", "pods/log", "", "04"),
    ("delete", "pods", "", "05"),
    ("get", "pods/proxy", "", "05"),
    ("list", "events", "", "04, 06"),
    ("list", "nodes", "", "00, 06"),
    ("get", "nodes/proxy", "", "06"),
    # 07's restore drill tears its scratch deployment down
    ("delete", "deployments", "apps", "07"),
    ("delete", "services", "", "07"),
    ("delete", "configmaps", "", "07"),
    ("delete", "secrets", "", "07"),
    ("delete", "persistentvolumeclaims", "", "07"),
    ("delete", "persistentvolumes", "", "07"),
]
OPTIONAL_ACCESS = {"nodes/proxy"}  # 06 falls back to the kubelet log and a node shell


# ------------------------------------------------------------------ kubernetes
def kubernetes(params: Params, kube: Kube) -> StepResult[None]:
    """The API answers with the kubeconfig given; its version; the namespace; our permissions."""
    area = "kubernetes"
    state: dict[str, tuple[int, int]] = {}

    def api() -> Check:
        info = kube.version()
        state["version"] = kube.minor()
        return ok(area, "API reachable", f"{info.get('gitVersion')} at {kube.api.configuration.host}")

    found = guard(area, "API reachable", api)
    if "version" in state:
        found += guard(area, "namespace", lambda: _namespace(kube, params.cluster.namespace))
        found += guard(area, "permissions", lambda: _access(kube, params.cluster.namespace))
    result: StepResult[None] = checks.result("kubernetes", found)
    result.data.update(version=".".join(map(str, state.get("version", ()))))
    return result


def _namespace(kube: Kube, namespace: str) -> Check:
    if kube.get("v1", "Namespace", namespace):
        return ok("kubernetes", "namespace", f"{namespace} exists")
    return warning("kubernetes", "namespace", f"{namespace} does not exist yet", "01-cephfs-storage creates it")


_CLUSTER_SCOPED = ("nodes", "namespaces", "persistentvolumes")


def _access(kube: Kube, namespace: str) -> Iterator[Check]:
    denied: list[str] = []
    optional: list[str] = []
    for verb, resource, group, needed_by in NEEDED_ACCESS:
        base, _, sub = resource.partition("/")
        if not kube.can_i(verb, base, group, None if base in _CLUSTER_SCOPED else namespace, sub or None):
            (optional if resource in OPTIONAL_ACCESS else denied).append(f"{verb} {resource} ({needed_by})")
    if denied:
        yield failed("kubernetes", "permissions", "denied: " + ", ".join(denied),
                     "grant these verbs to the identity in the kubeconfig (RBAC)")
    else:
        yield ok("kubernetes", "permissions", f"{len(NEEDED_ACCESS) - len(optional)} verb/resource pairs allowed")
    if optional:
        yield warning("kubernetes", "optional permissions", "denied: " + ", ".join(optional),
                      "06 reads thresholds from the kubelet log and files through a node shell instead; "
                      "04 cannot show a failing container's log lines")


# ------------------------------------------------------------------ nodes
def schedulable(node: dict[str, Any]) -> bool:
    spec = node.get("spec") or {}
    blocking = [t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
    return conditions.ready(node) and not spec.get("unschedulable") and not blocking


def nodes(params: Params, kube: Kube) -> StepResult[None]:
    """Enough Ready, schedulable nodes for the replicas to spread across."""
    def probe() -> Check:
        items = kube.list("v1", "Node")
        usable = sorted(n["metadata"]["name"] for n in items if schedulable(n))
        widest = max(params.harbor.replicas.model_dump().values())
        if not usable:
            return failed("nodes", "schedulable nodes", f"0 of {len(items)} nodes are Ready and schedulable",
                          "uncordon a node or remove NoSchedule taints; see 06-node-disk-pressure for DiskPressure")
        if len(usable) < widest:
            return warning("nodes", "schedulable nodes",
                           f"{len(usable)} of {len(items)} usable, fewer than the {widest} replicas: some will "
                           "share a node", "add nodes, or accept that one node failure takes several replicas down")
        return ok("nodes", "schedulable nodes", f"{len(usable)} of {len(items)} usable: {', '.join(usable)}")

    return checks.result("nodes", guard("nodes", "schedulable nodes", probe))


# ------------------------------------------------------------------ storage
def storage_backend(params: Params, kube: Kube) -> StepResult[None]:
    """The storage backend fits the cluster version (in-tree cephfs is gone in 1.31)."""
    name = f"backend {params.storage.backend}"

    def probe() -> Check:
        version = kube.minor()
        csi = kube.get("storage.k8s.io/v1", "CSIDriver", params.storage.csi.driver) is not None
        status, detail, hint = ceph.backend_fits(params.storage.backend, version, csi)
        return Check("storage", name, Status(status), detail, hint or "")

    return checks.result("storage backend", guard("storage", name, probe))


def cephfs(params: Params) -> StepResult[None]:
    """The CephFS root is mounted, writable, and the admin key is readable."""
    st = params.storage
    mounted, detail = ceph.check_cephfs_mount(st.mount)
    found = [ok("storage", "CephFS mounted", detail) if mounted else
             failed("storage", "CephFS mounted", detail, "mount the CephFS root at storage.mount (mount -t ceph "
                    "or ceph-fuse); for the lab: harborbook lab up")]
    if mounted:
        def writable() -> Check:
            marker = Path(st.mount) / ceph.new_marker()
            marker.write_text("ok")
            marker.unlink()
            return ok("storage", "CephFS writable", f"created and removed a file in {st.mount}")

        found += guard("storage", "CephFS writable", writable)

    def key() -> Check:
        ceph.admin_key(st)
        return ok("storage", "admin key", f"readable from {st.admin_key.ref} (not shown)")

    found += guard("storage", "admin key", key)
    return checks.result("cephfs", found)


# ------------------------------------------------------------------ databases
def source_database(params: Params) -> StepResult[None]:
    """The source database answers and holds a Harbor 1.2 schema."""
    from .. import db

    src = params.database.source

    def probe() -> Check:
        if src.kind == "dumpfile":
            path = Path(src.path)
            if not path.is_file() or not os.access(path, os.R_OK):
                return failed("database", "source dump", f"{path} is not a readable file",
                              "set database.source.path to the mysqldump file")
            return ok("database", "source dump", f"{path} ({path.stat().st_size} bytes)")
        login = db.Login(src.user, src.password, field="database.source.password")
        conn = db.connect(db.Endpoint(src.host, src.port), login, database=src.database, timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                versions = [r[0] for r in cur.fetchall()]
        finally:
            conn.close()
        if versions == ["1.2.0"]:
            return ok("database", "source schema", f"{src.host}:{src.port}/{src.database}: alembic_version 1.2.0")
        return failed("database", "source schema", f"alembic_version is {versions or 'empty'}, not 1.2.0",
                      "these runbooks migrate a Harbor 1.2 database; point database.source at one")

    return checks.result("source database", guard("database", "source", probe))


_DB_KINDS = {"galera": "Galera", "group-replication": "Group Replication", "plain": "plain server"}


def target_database(params: Params) -> StepResult[None]:
    """The target cluster answers with the admin credentials and is healthy."""
    from .. import db

    tgt = params.database.target

    def probe() -> Iterator[Check]:
        login = db.Login(tgt.admin_user, tgt.admin_password, field="database.target.admin_password")
        endpoints = [db.Endpoint(e.host, e.port) for e in tgt.endpoints]
        conn, info, probed = db.first_healthy(endpoints, login, timeout=5)
        conn.close()
        for p in probed:
            detail = f"{_DB_KINDS.get(p.kind, p.kind)} {p.version}: {p.detail}".strip()
            yield (ok("database", f"target {p.endpoint}", detail) if p.healthy else
                   warning("database", f"target {p.endpoint}", detail, "this endpoint is skipped; repair or remove it"))
        if info.kind == "plain":
            yield warning("database", "target cluster", "a single server, not a cluster: no database HA",
                          "use a Galera or Group Replication cluster for HA")

    return checks.result("target database", guard("database", "target", probe))


# ------------------------------------------------------------------ redis
def redis_sessions(params: Params) -> StepResult[None]:
    """Redis answers with the password; the db index and password fit beego's _REDIS_URL."""
    r = params.redis

    def probe() -> Iterator[Check]:
        password = r.password.reveal() if r.password else ""
        try:
            beego.build_redis_url(r.host, r.port, password, r.db, r.pool_size)
        except HarborbookError as exc:
            yield failed("redis", "_REDIS_URL", exc.message.split("(")[0].strip(), exc.hint or "")
            return
        yield ok("redis", "_REDIS_URL", f"{r.host}:{r.port}, pool {r.pool_size}, db {r.db} (password not shown)")
        client = redisclient.connect(r, db=0)
        try:
            pong = client.ping()
            databases = int(client.config_get("databases").get("databases") or 16)
        except redisclient.AuthenticationError:
            yield failed("redis", "PING", f"{r.host}:{r.port} refused the password",
                         "check the secret referenced by redis.password (the value is never shown)")
            return
        except redisclient.ResponseError:
            databases = 16  # CONFIG may be renamed away on managed Redis
            pong = True
        except redisclient.RedisError as exc:
            yield failed("redis", "PING", f"{r.host}:{r.port}: {type(exc).__name__}",
                         "is Redis running there? check redis.host/port; for the lab: harborbook lab status")
            return
        finally:
            client.close()
        yield ok("redis", "PING", "PONG") if pong else failed("redis", "PING", "no PONG")
        if r.db >= databases:
            yield failed("redis", "db index", f"db {r.db} but the server has {databases} databases",
                         "choose redis.db below the server's `databases` setting")
        else:
            yield ok("redis", "db index", f"db {r.db} of {databases}")

    return checks.result("redis", guard("redis", "redis", probe))


# ------------------------------------------------------------------ node port
def node_port(params: Params, kube: Kube) -> StepResult[None]:
    """The NodePort is free, or already held by our own nginx Service."""
    port, ns = params.harbor.node_port, params.cluster.namespace
    name = f"NodePort {port}"

    def probe() -> Check:
        holders = []
        for svc in kube.list("v1", "Service"):
            for p in (svc.get("spec") or {}).get("ports") or []:
                if p.get("nodePort") == port:
                    holders.append((svc["metadata"].get("namespace"), svc["metadata"]["name"]))
        foreign = [h for h in holders if h != (ns, "nginx")]
        if foreign:
            who = ", ".join(f"{a}/{b}" for a, b in foreign)
            return failed("network", name, f"already allocated to {who}",
                          "choose another harbor.node_port (30000-32767) or free that one")
        return ok("network", name, f"held by our Service {ns}/nginx" if holders else "free")

    return checks.result("node port", guard("network", name, probe))


# ------------------------------------------------------------------ the verdict
def verdict(steps: list[StepResult[Any]]) -> StepResult[None]:
    """All checks in one table, sorted by area; failed when any check failed."""
    return checks.verdict("preflight", steps)
