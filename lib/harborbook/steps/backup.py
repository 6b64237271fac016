"""07-backup-restore's steps: take a backup, keep a few, prove one by restoring it, restore.

The work is :mod:`harborbook.backup`'s; these steps turn params into its inputs and its results
into tables. The drill reuses 01's, 03's, 04's and 05's step code on a params object whose
names point at scratch copies (namespace, NodePort, database, CephFS path), so what the drill
proves is what those runbooks would build from the backup.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .. import checks, db, render
from ..backup import capture, restore as restoring
from ..backup.crypto import Keyring
from ..backup.manifest import Manifest, backup_name, listing, plan_retention
from ..backup.target import DirectoryTarget, Target, open_target
from ..checks import Check, failed, ok
from ..conditions import ready_and_running
from ..errors import RunbookError, file_system_refusal
from ..kube import Kube
from ..params import Params
from ..params.backup import Backup
from ..registry import RegistryClient
from ..registry.pullcheck import verify_tag
from ..runbook import Status, StepResult
from . import configure, rollout, storage as storage_steps, verify as verify_steps

COMPONENTS = list(render.values.COMPONENTS)
SKIP = "skipped"


@dataclass
class Setup:
    """What the cells share: the backup section, the target, the key."""

    section: Backup
    target: Target
    keyring: Keyring
    taken: str | None = None  # the backup this run wrote


def _section(params: Params) -> Backup:
    if params.backup is None:
        raise RunbookError("the params file has no backup section",
                           hint="add backup: {target: {kind: directory, path: ...}, encryption_key: file:...}; "
                                "see params/example-backup.yaml", see="07-backup-restore")
    return params.backup


def setup(params: Params) -> StepResult[Setup]:
    """The target and the backups already on it (complete and incomplete)."""
    if params.backup is None:
        return StepResult("target", Status.SKIPPED, "the params file has no backup section: nothing to do",
                          hint="add one to back up this deployment (see params/example-backup.yaml)")
    section = params.backup
    if not section.encryption_key.exists():
        section.encryption_key.reveal()  # raises the SecretError naming the reference
    target = open_target(section.target)
    found = listing(target.names())
    rows = [{"backup": n, "state": "complete"} for n in found.complete] + \
           [{"backup": n, "state": "incomplete (no backup.json)"} for n in found.partial]
    return StepResult("target", Status.OK,
                      f"{target.describe()}: {len(found.complete)} complete, {len(found.partial)} incomplete backup(s); "
                      f"mode {section.mode}", table=pd.DataFrame(rows, columns=["backup", "state"]),
                      data={"target": target.describe(), "complete": found.complete, "partial": found.partial},
                      value=Setup(section, target, Keyring(section.encryption_key)))


def _no_section(name: str) -> StepResult[Any]:
    return StepResult(name, Status.SKIPPED, "no backup section in the params file")


def _registry_dir(params: Params, root: str | None = None) -> Path:
    return Path(params.storage.mount) / (root or params.storage.root).lstrip("/") / "registry"


def _endpoints(params: Params) -> list[db.Endpoint]:
    return [db.Endpoint(e.host, e.port) for e in params.database.target.endpoints]


def _login(params: Params) -> db.Login:
    t = params.database.target
    return db.Login(t.admin_user, t.admin_password, field="database.target.admin_password")


def _harbor_version(params: Params) -> str:
    return params.harbor.images.ui.rsplit(":", 1)[-1]


def take(params: Params, ready: Setup | None, kube: Kube, dry_run: bool, now: datetime | None = None) -> StepResult[Manifest]:
    """The consistent capture (see harborbook.backup.capture), written and verified; resumes an
    interrupted backup (its blobs are kept when they still decrypt to their digest)."""
    if ready is None:
        return _no_section("backup")
    section = ready.section
    if section.mode != "backup":
        return StepResult("backup", Status.SKIPPED, f"mode {section.mode}: no new backup taken")
    if dry_run:
        return StepResult("backup", Status.SKIPPED, f"dry run: would back up {params.database.target.database}, "
                          f"{params.storage.root}/registry and namespace {params.cluster.namespace} "
                          f"to {ready.target.describe()}")
    from tqdm.auto import tqdm

    now = now or datetime.now(timezone.utc)
    found = listing(ready.target.names())
    newest = found.complete[-1] if found.complete else ""
    resumable = [p for p in found.partial if p > newest]
    name = resumable[-1] if resumable else backup_name(now)
    reuse: set[str] = set()
    if resumable:
        if isinstance(ready.target, DirectoryTarget):
            ready.target.remove_stale_temporaries(name)
        reuse = set(ready.target.names(name + "/"))
    clock = time.monotonic()
    try:
        with tqdm(desc="backup", unit="B", unit_scale=True, mininterval=1.0, leave=False) as bar:
            manifest = capture.take(target=ready.target, keyring=ready.keyring, name=name, now=now,
                                    endpoints=_endpoints(params), login=_login(params),
                                    database=params.database.target.database, registry_dir=_registry_dir(params),
                                    fs_name=params.storage.csi.fs_name, kube=kube, namespace=params.cluster.namespace,
                                    harbor_version=_harbor_version(params), reuse=reuse, progress=bar.update)
    except OSError as exc:
        return _write_failed(exc, ready.target.describe(), name)
    elapsed = time.monotonic() - clock
    ready.taken = name
    rows = _areas(manifest)
    size = sum(e.size for e in manifest.files.values())
    summary = (f"{name}{' (resumed)' if resumable else ''}: {len(manifest.files)} files, {size / 1e6:.1f} MB, "
               f"{len(manifest.tables)} tables, {len(manifest.tags)} tags, {len(manifest.objects)} objects in "
               f"{elapsed:.1f}s; database from {manifest.database_node}, registry from snapshot {manifest.snapshot}; "
               "every file read back and verified")
    return StepResult("backup", Status.CHANGED, summary, table=pd.DataFrame(rows),
                      data={"name": name, "resumed": bool(resumable), "files": len(manifest.files), "bytes": size,
                            "seconds": round(elapsed, 3), "tags": [t.row() for t in manifest.tags],
                            "timings": manifest.timings}, value=manifest)


def _write_failed(exc: OSError, target: str, name: str) -> StepResult[Manifest]:
    """A file system's refusal (full, over quota, read-only, an I/O error) as what to do about it."""
    said, full = file_system_refusal(exc)
    hint = ((f"make room on {target} (backup.keep bounds how many backups are kept)" if full else f"fix {target}")
            + f", then run the step again: {name} resumes, keeping every file already written and verified")
    return StepResult("backup", Status.FAILED, f"the backup {name} into {target} stopped: {said}", hint=hint)


def _areas(manifest: Manifest) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for name, entry in manifest.files.items():
        area = name.split("/")[1]
        row = rows.setdefault(area, {"part": area, "files": 0, "bytes": 0, "stored bytes": 0})
        row["files"] += 1
        row["bytes"] += entry.size
        row["stored bytes"] += entry.stored
    return list(rows.values())


def tags(manifest_result: StepResult[Manifest]) -> pd.DataFrame:
    """Every repository:tag in the backup with its manifest digest (for display)."""
    manifest = manifest_result.value
    rows = [{"repository": t.repository, "tag": t.tag, "digest": t.digest, "blobs": len(t.blobs)}
            for t in (manifest.tags if manifest else [])]
    return pd.DataFrame(rows, columns=["repository", "tag", "digest", "blobs"])


def retention(ready: Setup | None, dry_run: bool) -> StepResult[None]:
    """Keep the newest ``keep`` complete backups (never fewer than one); remove older ones and
    incomplete ones older than the newest complete backup."""
    if ready is None:
        return _no_section("retention")
    found = listing(ready.target.names())
    plan = plan_retention(found, ready.section.keep)
    rows = [{"backup": n, "action": "keep"} for n in plan.keep]
    doomed = plan.delete + plan.partial
    for name in doomed:
        rows.append({"backup": name, "action": ("would delete" if dry_run else "deleted")
                     + (" (incomplete)" if name in plan.partial else "")})
        if not dry_run:
            for obj in ready.target.names(name + "/"):
                ready.target.delete(obj)
    return StepResult("retention", checks.status_for(bool(doomed), dry_run),
                      f"keep {ready.section.keep}: {len(plan.keep)} kept, {len(doomed)} "
                      f"{'to delete' if dry_run else 'deleted'}", table=pd.DataFrame(rows, columns=["backup", "action"]))


# ------------------------------------------------------------------ the drill
def scratch_params(params: Params) -> Params:
    """The same deployment under the drill's names: namespace, NodePort, database, CephFS root."""
    drill = _section(params).drill
    clashes = [what for what, mine, live in (
        ("namespace", drill.namespace, params.cluster.namespace), ("node_port", drill.node_port, params.harbor.node_port),
        ("database", drill.database, params.database.target.database), ("root", drill.root, params.storage.root))
        if mine == live]
    live_root = params.storage.root.rstrip("/") + "/"
    if drill.root.startswith(live_root) or live_root.startswith(drill.root.rstrip("/") + "/"):
        clashes.append("root (one holds the other)")  # the teardown removes the drill's root, whole
    if clashes:
        raise RunbookError(f"backup.drill uses the live deployment's {', '.join(clashes)}",
                           hint="the drill's scratch names must differ from the live ones: it deletes them afterwards")
    host = params.harbor.hostname.rsplit(":", 1)[0] if ":" in params.harbor.hostname else params.harbor.hostname
    return params.model_copy(update={
        "cluster": params.cluster.model_copy(update={"namespace": drill.namespace}),
        "harbor": params.harbor.model_copy(update={"node_port": drill.node_port,
                                                   "hostname": drill.hostname or f"{host}:{drill.node_port}"}),
        "storage": params.storage.model_copy(update={"root": drill.root}),
        "database": params.database.model_copy(update={
            "target": params.database.target.model_copy(update={"database": drill.database}), "replace": True}),
    })


TIMINGS: dict[str, float] = {}  # seconds per part of the last drill or restore (shown in its data)


def _guard(found: list[Check], area: str, name: str, fn: Callable[[], Check | list[Check]]) -> bool:
    """Run one part; record its checks; False when it failed (later parts are then skipped)."""
    clock = time.monotonic()
    got = checks.guard(area, name, fn)
    TIMINGS[f"{area}/{name}"] = round(time.monotonic() - clock, 3)
    found.extend(got)
    return not any(c.failed for c in got)


def _from_step(area: str, name: str, result: StepResult[Any]) -> list[Check]:
    status = Status.FAILED if result.failed else Status.WARNING if result.status is Status.WARNING else Status.OK
    rows = [Check.from_row(r) for r in result.data.get("checks", [])]
    return rows or [Check(area, name, status, result.summary, result.hint or "")]


def _which(ready: Setup, which: str) -> str:
    return ready.taken if which == "latest" and ready.taken else restoring.choose(ready.target, which)


DRILL_LABEL = "harborbook.io/restore-drill"  # on the drill's namespace: its teardown touches nothing else


def _restore_everything(params: Params, ready: Setup, kube: Kube, manifest: Manifest,
                        found: list[Check], now: datetime, *, registry: Path, replace: bool,
                        drill: bool = False) -> bool:
    """Tree, database, generated secrets, storage objects, rollout; each part a row (or rows)."""
    ns = params.cluster.namespace
    t = params.database.target

    def tree() -> list[Check]:
        restored, problems = restoring.restore_tree(ready.target, manifest, ready.keyring, registry,
                                                    uid=params.storage.owner_uid, gid=params.storage.owner_gid)
        rows = [failed("restore", f"blob {p.blob}" if p.blob else p.name, f"{p.problem}; breaks {', '.join(p.tags) or 'no tag'}"
                       if p.blob else p.problem, "this file of the backup is damaged: use another backup")
                for p in problems]
        return rows + [ok("restore", "registry tree", f"{restored} files into {registry}")] if not problems else rows

    def database() -> list[Check]:
        conn, info, _ = db.first_healthy(_endpoints(params), _login(params))
        try:
            host, port = info.endpoint.rsplit(":", 1)
            db.ensure_account(conn, db.Endpoint(host, int(port)), database=t.database, user=t.user,
                              password=t.password, host=t.user_host)
            result, tables = restoring.restore_database(ready.target, manifest, ready.keyring, conn,
                                                        endpoint=info.endpoint, database=t.database, now=now,
                                                        replace=replace)
        finally:
            conn.close()
        rows = [ok("database", f"table {c.table}", f"{c.rows_target} rows, CHECKSUM TABLE {c.checksum_target} as in backup.json")
                if c.ok else failed("database", f"table {c.table}", c.problem + " (against backup.json)")
                for c in tables]
        moved = f"; the tables that were there are in {result.backup}" if result.backup else ""
        return rows + [ok("database", "import", f"{result.summary}{moved}")]

    def secrets() -> Check:
        stored = [o for o in restoring.objects(ready.target, manifest, ready.keyring, "Secret")
                  if o["metadata"]["name"] == render.STORED_SECRET_NAME]
        if not stored:
            return failed("kubernetes", "generated secrets", f"the backup has no Secret {render.STORED_SECRET_NAME}")
        meta: dict[str, Any] = {"name": ns}
        if drill:
            meta["labels"] = {DRILL_LABEL: "true"}
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        secret = stored[0]
        secret["metadata"] = {**secret["metadata"], "namespace": ns}
        kube.apply(secret)
        return ok("kubernetes", "generated secrets", f"Secret {render.STORED_SECRET_NAME} restored into {ns} (values not shown)")

    def volumes() -> list[Check]:
        out = []
        for fn in (lambda: storage_steps.ensure_directories(params.storage, False),
                   lambda: storage_steps.apply_ceph_secret(kube, params.storage, ns, False),
                   lambda: storage_steps.apply_volumes(kube, params.storage, ns, False),
                   lambda: storage_steps.wait_bound(kube, params.storage, ns, timeout=params.cluster.rollout_timeout,
                                                    dry_run=False)):
            out += _from_step("storage", "volumes", fn())
        return out

    def deploy() -> list[Check]:
        generated = configure.stored_generated_secrets(kube, ns)
        assert generated.value is not None
        objects = configure.manifests(params, generated.value)
        assert objects.value is not None
        out = _from_step("rollout", "apply", rollout.apply_all(kube, objects.value, False))
        if replace:  # running pods may hold the registry directory that was moved aside: replace them
            out.append(_replace_pods(kube, ns, params.cluster.rollout_timeout))
        ready_result = rollout.wait_ready(kube, ns, COMPONENTS, timeout=params.cluster.rollout_timeout, dry_run=False)
        return out + _from_step("rollout", "ready", ready_result)

    return (_guard(found, "restore", "registry tree", tree)
            and _guard(found, "database", "import", database)
            and _guard(found, "kubernetes", "generated secrets", secrets)
            and _guard(found, "storage", "volumes", volumes)
            and _guard(found, "rollout", "ready", deploy))


SERVING_TIMEOUT = 90.0


def _wait_serving(params: Params, found: list[Check]) -> None:
    """Ready pods are not yet a served NodePort (Service endpoints, nginx's upstreams): wait until
    the UI page and the token challenge answer, as 05's endpoint checks see them."""
    deadline = time.monotonic() + SERVING_TIMEOUT
    while True:
        result = verify_steps.endpoints(params.harbor)
        if not result.failed or time.monotonic() > deadline:
            found.extend(_from_step("prove", "endpoints", result))
            return
        time.sleep(1.0)


def _replace_pods(kube: Kube, namespace: str, timeout: float) -> Check:
    """Delete every Harbor pod; wait until none of them is left and each component is ready again."""
    old = {p["metadata"]["name"] for c in COMPONENTS
           for p in kube.list("v1", "Pod", namespace, label_selector=f"name={c}-apps")}
    for name in sorted(old):
        kube.delete("v1", "Pod", name, namespace)
    wanted = {c: ((kube.get("apps/v1", "Deployment", c, namespace) or {}).get("spec") or {}).get("replicas", 1)
              for c in COMPONENTS}

    def replaced(objs: dict[str, Any]) -> bool:
        if old & set(objs):
            return False
        fresh = [p for p in objs.values() if ready_and_running(p)]
        return all(sum(1 for p in fresh if (p["metadata"].get("labels") or {}).get("name") == f"{c}-apps") >= n
                   for c, n in wanted.items())

    if not replaced({p["metadata"]["name"]: p for p in kube.list("v1", "Pod", namespace)}):
        try:
            kube.wait_for("v1", "Pod", namespace, replaced, timeout=timeout)
        except TimeoutError:
            return failed("rollout", "pods replaced", f"the pods were not all replaced within {timeout:.0f}s",
                          "run 04-rollout again: on a timeout it shows why the pods wait")
    return ok("rollout", "pods replaced", f"{len(old)} pods replaced by ready ones (they now mount the restored tree)")


def _prove(params: Params, manifest: Manifest, found: list[Check]) -> None:
    """Log in, pull every tag of the backup: same manifest digest, every layer's bytes."""
    _wait_serving(params, found)
    found.extend(_from_step("prove", "login", verify_steps.login(params.harbor)))
    client = RegistryClient(verify_steps.base_url(params.harbor), "admin", params.harbor.admin_password.reveal())
    for tag in manifest.tags:
        check = verify_tag(client, tag.repository, tag.tag, tag.digest)
        name = f"pull {tag.repository}:{tag.tag}"
        found.append(ok("prove", name, f"{tag.digest}, {check.blobs} blobs, {check.bytes} bytes, every digest matches")
                     if check.ok else failed("prove", name, "; ".join(check.problems)
                                             + (f" (bad blob {', '.join(check.bad_blobs)})" if check.bad_blobs else ""),
                                             "the restored registry does not serve this tag as it was backed up"))
    if not manifest.tags:
        found.append(Check("prove", "pull", Status.WARNING, "the backup holds no tag: nothing to pull"))


def teardown(params: Params, kube: Kube) -> list[Check]:
    """Remove the scratch deployment: objects, volumes, namespace, database, CephFS directory."""
    ns = params.cluster.namespace
    out: list[Check] = []
    live = kube.get("v1", "Namespace", ns)
    if live is not None and ((live.get("metadata") or {}).get("labels") or {}).get(DRILL_LABEL) != "true":
        return [failed("teardown", "namespace", f"namespace {ns} exists and is not a restore drill's (no label "
                       f"{DRILL_LABEL}): nothing was deleted", "set backup.drill.namespace to a namespace of its own")]

    def objects() -> Check:
        for api, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"),
                          ("v1", "PersistentVolumeClaim")):
            for obj in kube.list(api, kind, ns):
                kube.delete(api, kind, obj["metadata"]["name"], ns)
        if kube.list("v1", "Pod", ns):  # the pods must be gone before their directory is removed
            with contextlib.suppress(TimeoutError):
                kube.wait_for("v1", "Pod", ns, lambda objs: not objs, timeout=60)
        for volume in ("log", "registry"):
            kube.delete("v1", "PersistentVolume", f"harbor-{ns}-{volume}")
        # The labelled namespace itself stays, empty, for the next drill: deleting namespaces is a
        # right the operator's role does not carry (deploy/operator-rbac.yaml).
        return ok("teardown", "kubernetes", f"namespace {ns} emptied: its objects and volumes deleted")

    def database() -> Check:
        conn, _, _ = db.first_healthy(_endpoints(params), _login(params))
        try:
            t = params.database.target
            restoring.drop_database(conn, t.database, user=t.user, host=t.user_host)
        finally:
            conn.close()
        return ok("teardown", "database", f"{params.database.target.database} dropped, its grant revoked")

    def directory() -> Check:
        root = Path(params.storage.mount) / params.storage.root.lstrip("/")
        shutil.rmtree(root, ignore_errors=False) if root.exists() else None
        return ok("teardown", "cephfs", f"{params.storage.root} removed")

    _guard(out, "teardown", "kubernetes", objects)
    _guard(out, "teardown", "database", database)
    _guard(out, "teardown", "cephfs", directory)
    return out


def drill(params: Params, ready: Setup | None, kube: Kube, dry_run: bool, now: datetime | None = None) -> StepResult[None]:
    """Restore the backup into scratch names, roll it out, prove it, tear it down; the table is
    the evidence and a failed row fails the runbook."""
    if ready is None:
        return _no_section("restore drill")
    section = ready.section
    wanted = section.mode == "restore-drill" or (section.mode == "backup" and section.restore_drill)
    if not wanted:
        return StepResult("restore drill", Status.SKIPPED, f"mode {section.mode}, restore_drill {section.restore_drill}")
    scratch = scratch_params(params)
    name = _which(ready, section.backup)
    if dry_run:
        return StepResult("restore drill", Status.SKIPPED,
                          f"dry run: would restore {name} into namespace {scratch.cluster.namespace}, database "
                          f"{scratch.database.target.database}, {scratch.storage.root}, NodePort {scratch.harbor.node_port}")
    manifest = restoring.load_manifest(ready.target, name, ready.keyring)
    now = now or datetime.now(timezone.utc)
    found: list[Check] = []
    clock = time.monotonic()
    TIMINGS.clear()
    before = teardown(scratch, kube)  # what an earlier drill left (kept on failure, or killed)
    if any(c.failed for c in before):  # not ours to clear, or not clearable: restore nothing there
        refused: StepResult[None] = checks.result("restore drill", [c for c in before if c.failed])
        refused.summary = f"{name}: the scratch names are not free: " + refused.summary
        return refused
    try:
        if _restore_everything(scratch, ready, kube, manifest, found, now,
                               registry=_registry_dir(scratch), replace=True, drill=True):
            proving = time.monotonic()
            _prove(scratch, manifest, found)
            TIMINGS["prove"] = round(time.monotonic() - proving, 3)
    finally:
        if not (section.drill.keep_on_failure and any(c.failed for c in found)):
            found += teardown(scratch, kube)
    result: StepResult[None] = checks.result("restore drill", found)
    result.summary = f"{name}: " + result.summary + f" ({time.monotonic() - clock:.0f}s)"
    result.data["backup"] = name
    result.data["seconds"] = round(time.monotonic() - clock, 3)
    result.data["timings"] = dict(TIMINGS)
    return result


def restore_live(params: Params, ready: Setup | None, kube: Kube, dry_run: bool,
                 now: datetime | None = None) -> StepResult[None]:
    """Restore into the live names (mode restore, confirm true): the database's tables move to a
    timestamped backup database and the registry tree to a sibling directory first."""
    if ready is None:
        return _no_section("restore")
    section = ready.section
    if section.mode != "restore":
        return StepResult("restore", Status.SKIPPED, f"mode {section.mode}: the live deployment is not touched")
    if not section.confirm:
        raise RunbookError("mode restore needs backup.confirm: true", see="07-backup-restore")
    name = _which(ready, section.backup)
    now = now or datetime.now(timezone.utc)
    registry = _registry_dir(params)
    aside = registry.with_name(f"registry.before-restore-{now.strftime('%Y%m%dT%H%M%SZ')}")
    if dry_run:
        return StepResult("restore", Status.SKIPPED, f"dry run: would move {registry.name} to {aside.name}, the "
                          f"tables of {params.database.target.database} to a backup database, and restore {name}")
    manifest = restoring.load_manifest(ready.target, name, ready.keyring)
    found: list[Check] = []
    if registry.exists():
        registry.rename(aside)
        found.append(ok("restore", "moved aside", f"the registry tree that was there is in {aside.name}"))
    if _restore_everything(params, ready, kube, manifest, found, now, registry=registry, replace=True):
        _prove(params, manifest, found)
    result: StepResult[None] = checks.result("restore", found)
    if not result.failed:
        result.status = Status.CHANGED
    result.summary = f"{name}: " + result.summary
    result.data["aside"] = str(aside)
    return result
