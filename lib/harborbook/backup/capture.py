"""Taking a consistent backup: one Galera node desynced and frozen, a CephFS snapshot, the objects.

The database and the registry's blobs must agree: a dump whose rows name repositories whose blobs
are missing restores a Harbor that lists images it cannot serve. So the capture freezes one
moment on one node and photographs both:

1. one Galera node (not the one Harbor writes to, when there is a choice) leaves flow control
   (``SET GLOBAL wsrep_desync=ON``): whatever it does now, the cluster is not slowed;
2. ``FLUSH TABLES WITH READ LOCK`` on it: its tables stop changing, so the row counts and
   ``CHECKSUM TABLE`` measured now are the ones the dump holds;
3. a CephFS snapshot of the registry directory (``mkdir .snap/<name>``): an instant, read-only
   copy of the tree, cheap whatever its size;
4. ``mariadb-dump --single-transaction`` of the frozen node, streamed into the target;
5. unlock and ``wsrep_desync`` back as it was - in a ``finally``, so a failed dump never leaves
   the node desynced; the node catches up from its gcache;
6. the registry tree is copied from the snapshot at leisure, each blob checked against its
   digest, and the snapshot removed (also in a ``finally``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Callable, ContextManager, Iterator

import pymysql
import yaml

from .. import db
from ..db.connection import query, wrap
from ..db.load import server_tables
from ..db.source import dump_process
from ..db.verify import measure
from ..errors import HarborbookError, TransportError
from ..kube import Kube
from ..registry.image import manifest_blob_digests
from . import store
from .crypto import Keyring
from .manifest import (DATABASE_PREFIX, KUBE_PREFIX, MANIFEST, REGISTRY_PREFIX, FileEntry, Manifest, TableEntry,
                       TagRef, blob_digest, blob_path, skip_in_tree, tags_in_tree)
from .target import Target

Obj = dict[str, Any]
Progress = Callable[[int], None]


class SnapshotError(HarborbookError):
    """A CephFS snapshot could not be taken."""


# ------------------------------------------------------------------ the database node
def pick_node(endpoints: list[db.Endpoint], login: db.Login) -> tuple[pymysql.Connection, db.ServerInfo]:
    """A healthy node, preferring the last: Harbor writes to the first (render/values.py)."""
    conn, info, _ = db.first_healthy(list(reversed(endpoints)), login)
    return conn, info


META_DB = "harborbook_meta"  # 02's bookkeeping database (never Harbor's own)
MARKS = f"`{META_DB}`.backup_desync"


def _mark(conn: pymysql.Connection, node: str) -> None:
    """Record (replicated) that ``node`` is desynced by a backup: a run killed outright (SIGKILL,
    a lost machine) cannot undo it, so the next backup finds the mark and does."""
    query(conn, f"CREATE DATABASE IF NOT EXISTS `{META_DB}` CHARACTER SET utf8")
    query(conn, f"CREATE TABLE IF NOT EXISTS {MARKS} (node VARCHAR(255) PRIMARY KEY, since DATETIME NOT NULL) "
                "ENGINE=InnoDB")
    query(conn, f"REPLACE INTO {MARKS} VALUES (%s, UTC_TIMESTAMP())", (node,))


def recover(conn: pymysql.Connection, node: str) -> bool:
    """Undo the desync a killed backup left on ``node``; True when there was one."""
    if not query(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME='backup_desync'",
                 (META_DB,)):
        return False
    if not query(conn, f"SELECT 1 FROM {MARKS} WHERE node=%s", (node,)):
        return False
    query(conn, "SET GLOBAL wsrep_desync=OFF")
    query(conn, f"DELETE FROM {MARKS} WHERE node=%s", (node,))
    return True


@contextlib.contextmanager
def frozen(conn: pymysql.Connection, info: db.ServerInfo) -> Iterator[None]:
    """The node desynced (Galera) and under a global read lock; both undone on the way out."""
    galera = info.kind == "galera"
    endpoint = info.endpoint
    was = None
    try:
        if galera:
            recover(conn, endpoint)
            was = str(query(conn, "SELECT @@GLOBAL.wsrep_desync")[0][0])
            _mark(conn, endpoint)
            query(conn, "SET GLOBAL wsrep_desync=ON")
        query(conn, "FLUSH TABLES WITH READ LOCK")
    except pymysql.err.MySQLError as exc:
        _undo(conn, galera, was, endpoint)
        raise wrap(exc, endpoint, doing="desyncing and locking the node for the backup") from None
    try:
        yield
    finally:
        _undo(conn, galera, was, endpoint)


def _undo(conn: pymysql.Connection, galera: bool, was: str | None, node: str) -> None:
    with contextlib.suppress(pymysql.err.MySQLError):
        query(conn, "UNLOCK TABLES")
    if galera and was is not None:
        value = "ON" if was in ("1", "ON") else "OFF"
        query(conn, f"SET GLOBAL wsrep_desync={value}")
        query(conn, f"DELETE FROM {MARKS} WHERE node=%s", (node,))


def desync_state(conn: pymysql.Connection) -> str:
    return str(query(conn, "SELECT @@GLOBAL.wsrep_desync")[0][0])


def table_stats(conn: pymysql.Connection, database: str) -> dict[str, TableEntry]:
    stats = measure(conn, database, server_tables(conn, database))
    return {t: TableEntry(s.rows, s.checksum) for t, s in stats.items()}


def schema_version(conn: pymysql.Connection, database: str) -> str:
    try:
        rows = query(conn, f"SELECT version_num FROM {db.names.quote_ident(database)}.alembic_version")
    except pymysql.err.MySQLError:
        return ""
    return ",".join(str(r[0]) for r in rows)


def dump_stream(endpoint: db.Endpoint, login: db.Login, database: str) -> ContextManager[BinaryIO]:
    """``mariadb-dump --single-transaction`` of ``database`` as a byte stream (02's dumper)."""
    return dump_process(endpoint, login, database,
                        hint="check the database.target endpoints and the admin account")


# ------------------------------------------------------------------ the CephFS snapshot
@contextlib.contextmanager
def snapshot(directory: Path, name: str, fs_name: str = "cephfs") -> Iterator[Path]:
    """A CephFS snapshot of ``directory`` (``mkdir <dir>/.snap/<name>``), removed afterwards."""
    snap = directory / ".snap" / name
    try:
        os.mkdir(snap)
    except FileExistsError:
        pass  # left by a killed run of this same backup: use it, remove it at the end
    except OSError as exc:
        hint = ("CephFS refuses new snapshots: enable them with `ceph fs set " + fs_name + " allow_new_snaps true`"
                if exc.errno in (errno.EPERM, errno.EACCES) else
                "is storage.mount a CephFS mount (kernel or ceph-fuse) and the client allowed snapshots ('s' cap)?")
        raise SnapshotError(f"cannot take a CephFS snapshot of {directory}: {exc.strerror}", hint=hint) from None
    try:
        yield snap
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(snap)


def tree_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every regular file under ``root``, sorted, uploads skipped."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        for f in sorted(files):
            relative = f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}"
            if not skip_in_tree(relative):
                yield relative, Path(folder) / f


def copy_tree(tree: Path, target: Target, prefix: str, keyring: Keyring, *, reuse: frozenset[str] | set[str] = frozenset(),
              progress: Progress | None = None) -> dict[str, FileEntry]:
    """Copy the registry tree into ``prefix``; blobs are checked against their digest path.

    ``reuse``: names already in the target from an interrupted run of this backup. A blob among
    them is kept when it decrypts to its digest (blobs are immutable), otherwise rewritten.
    """
    entries: dict[str, FileEntry] = {}
    for relative, path in tree_files(tree):
        name = prefix + relative
        digest = blob_digest(relative)
        if digest and name in reuse:
            with contextlib.suppress(HarborbookError):
                size, sha = store.read_into(target, name, keyring, None)
                if "sha256:" + sha == digest:
                    stored = target.size(name) or 0
                    entries[name] = FileEntry(size, sha, stored)
                    if progress:
                        progress(size)
                    continue
        with open(path, "rb") as src:
            entries[name] = store.put(target, name, src, keyring, compress=digest is None,
                                      expect_sha256=digest.split(":", 1)[1] if digest else None, progress=progress)
    return entries


def tag_refs(tree: Path) -> list[TagRef]:
    """Every tag of the tree with its manifest digest and the blobs that manifest references."""
    refs = []
    for repository, tag, digest in tags_in_tree(tree):
        blobs: tuple[str, ...] = ()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            blobs = tuple(manifest_blob_digests((tree / blob_path(digest)).read_bytes()))
        refs.append(TagRef(repository, tag, digest, blobs))
    return refs


# ------------------------------------------------------------------ Kubernetes objects
KINDS = (("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("apps/v1", "Deployment"),
         ("v1", "PersistentVolumeClaim"))
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                      "pv.kubernetes.io/", "volume.beta.kubernetes.io/", "volume.kubernetes.io/")


def clean(obj: Obj, api_version: str, kind: str) -> Obj:
    """An object as one would write it: no status, no server-set metadata or fields."""
    out = {k: v for k, v in obj.items() if k != "status" and v is not None}
    out["apiVersion"], out["kind"] = api_version, kind
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_FIELDS and v is not None}
    notes = {k: v for k, v in (meta.get("annotations") or {}).items()
             if not any(k == a or (a.endswith("/") and k.startswith(a)) for a in SERVER_ANNOTATIONS)}
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    spec = dict(out.get("spec") or {})
    if kind == "Service":
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    if kind == "PersistentVolume":
        spec.pop("claimRef", None)
    if kind == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
    if spec:
        out["spec"] = _drop_none(spec)
    return out


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def export_objects(kube: Kube, namespace: str) -> dict[str, list[Obj]]:
    """The namespace's objects by kind, and the PVs its claims are bound to."""
    found: dict[str, list[Obj]] = {}
    for api_version, kind in KINDS:
        items = []
        for obj in kube.list(api_version, kind, namespace):
            if kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
                continue  # minted by the cluster for this namespace, never restored
            if kind == "ConfigMap" and obj["metadata"]["name"] == "kube-root-ca.crt":
                continue
            items.append(clean(obj, api_version, kind))
        found[kind] = sorted(items, key=lambda o: o["metadata"]["name"])
    pvs = []
    for pv in kube.list("v1", "PersistentVolume"):
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("namespace") == namespace:
            pvs.append(clean(pv, "v1", "PersistentVolume"))
    found["PersistentVolume"] = sorted(pvs, key=lambda o: o["metadata"]["name"])
    return found


def deployed_version(deployments: list[Obj]) -> str:
    """Harbor's version as deployed: the tag of the ui Deployment's image ('' when not found)."""
    for dep in deployments:
        if dep["metadata"]["name"] == "ui":
            for container in dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                image = container.get("image", "")
                if ":" in image.rsplit("/", 1)[-1]:
                    return str(image.rsplit(":", 1)[1])
    return ""


def objects_yaml(objects: list[Obj]) -> bytes:
    return yaml.safe_dump_all(objects, sort_keys=True).encode()


# ------------------------------------------------------------------ the whole capture
def take(*, target: Target, keyring: Keyring, name: str, now: datetime, endpoints: list[db.Endpoint],
         login: db.Login, database: str, registry_dir: Path, fs_name: str, kube: Kube, namespace: str,
         harbor_version: str, reuse: frozenset[str] | set[str] = frozenset(), progress: Progress | None = None) -> Manifest:
    """Write backup ``name`` (everything, then backup.json last) and return its manifest."""
    import io

    manifest = Manifest(name=name, created=now.isoformat(timespec="seconds"), harbor_version=harbor_version,
                        database=database, namespace=namespace, target=target.describe())
    snap_name = f"harborbook-{name}"
    manifest.snapshot = snap_name
    clock = time.monotonic()
    if not registry_dir.is_dir():
        raise HarborbookError(f"the registry directory {registry_dir} does not exist",
                              hint="storage.root must be where 01 created the registry's tree", see="01-cephfs-storage")
    conn, info = pick_node(endpoints, login)
    manifest.database_node = info.endpoint
    host, port = info.endpoint.rsplit(":", 1)
    node = db.Endpoint(host, int(port))
    try:
        with snapshot_stack() as stack:
            with frozen(conn, info):
                if not server_tables(conn, database):
                    raise HarborbookError(f"the database {database} on {info.endpoint} has no tables",
                                          hint="back up after 02-database has migrated it", see="02-database")
                manifest.tables = table_stats(conn, database)
                manifest.schema_version = schema_version(conn, database)
                tree = stack.enter_context(snapshot(registry_dir, snap_name, fs_name))
                with dump_stream(node, login, database) as dump:
                    dump_name = f"{name}/{DATABASE_PREFIX}{database}.sql"
                    manifest.files[dump_name] = store.put(target, dump_name, dump, keyring, progress=progress)
            manifest.timings["database"] = round(time.monotonic() - clock, 3)
            clock = time.monotonic()
            manifest.tags = tag_refs(tree)
            manifest.files.update(copy_tree(tree, target, f"{name}/{REGISTRY_PREFIX}", keyring, reuse=reuse,
                                            progress=progress))
        manifest.timings["registry"] = round(time.monotonic() - clock, 3)
    finally:
        conn.close()
    clock = time.monotonic()
    exported = export_objects(kube, namespace)
    manifest.harbor_version = deployed_version(exported.get("Deployment", [])) or harbor_version
    for kind, objects in exported.items():
        object_name = f"{name}/{KUBE_PREFIX}{kind}.yaml"
        manifest.objects += [f"{kind}/{o['metadata']['name']}" for o in objects]
        manifest.files[object_name] = store.put(target, object_name, io.BytesIO(objects_yaml(objects)), keyring)
    manifest.timings["kubernetes"] = round(time.monotonic() - clock, 3)
    # Last: its presence is what makes the backup complete.
    store.put(target, f"{name}/{MANIFEST}", io.BytesIO(manifest.to_json()), keyring)
    return manifest


@contextlib.contextmanager
def snapshot_stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack
