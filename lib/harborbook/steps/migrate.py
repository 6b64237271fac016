"""08-migrate-existing-harbor's steps: inventory, bulk copy, cut-over, verification tag by tag.

The work is done by :mod:`harborbook.migrate` (the registry tree) and by 02's, 03's and 04's own
steps (the database, the manifests, the rollout), which this module calls rather than
re-implements: the cut-over moves the database exactly as 02 does, with ``replace`` and a backup
of what was there, and rolls out exactly as 03/04 do.

One :class:`Migration` travels from cell to cell: what the inventory found, what the copies
did, and the clock of the cut-over (the write-unavailability window is measured, not guessed).
Without a ``migrate`` section in the params every step says so and skips.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import checks, db, migrate
from ..checks import Check, failed, guard, ok
from ..errors import HarborbookError, Unauthorized, file_system_refusal
from ..kube import Kube
from ..params import Params
from ..params.migrate import Migrate
from ..params.models import Database, Harbor, Storage
from ..registry import RegistryClient
from ..registry.pullcheck import TagCheck, verify_tag
from ..runbook import Status, StepResult
from . import configure, database, rollout

NO_SECTION = "no `migrate` section in the params: there is no old Harbor to move (see params/example-migrate.yaml)"
COMPONENTS = ["adminserver", "ui", "jobservice", "registry", "nginx"]
RESTART_AFTER_DATABASE = ("ui", "jobservice")
ADMIN_HINT = ("after the move the admin's password is the old Harbor's (HARBOR_ADMIN_PASSWORD only sets it on a "
              "database whose admin has no salt): set harbor.admin_password to the old admin password")


def freeze_hint(repository: str) -> str:
    return ("make the old registry refuse writes first, keeping pulls: in a docker-compose install set "
            "`storage.maintenance.readonly.enabled: true` in common/config/registry/config.yml and run "
            "`docker-compose restart registry` (or `docker-compose stop registry` to stop it); in the lab: "
            f"`harborbook lab legacy freeze`. Checked with an upload to {repository}")


@dataclass
class Migration:
    """What the cells of 08 share."""

    section: Migrate | None = None
    inventory: migrate.Inventory | None = None
    rows: migrate.SourceRows | None = None
    bulk: migrate.CopyReport | None = None
    frozen: bool = False
    final: migrate.Inventory | None = None  # the source as it was once writes were refused
    skipped_tags: dict[str, list[str]] = field(default_factory=dict)  # repo:tag -> blobs it lacks
    clock: dict[str, float] = field(default_factory=dict)  # phase -> seconds (cut-over)
    frozen_at: float | None = None  # time.monotonic() when writes were found refused
    frozen_wall: str = ""
    database_changed: bool = False
    # The connection to the old host the cut-over opens and the delta copy closes: one connection
    # (over SSH an authentication, about 0.2 s) inside the write window, not one per step.
    connection: migrate.Source | None = None

    @property
    def executing(self) -> bool:
        return self.section is not None and self.section.cutover == "execute"

    @property
    def latest(self) -> migrate.Inventory | None:
        return self.final or self.inventory


def target_root(storage: Storage) -> Path:
    """The registry's root directory on our CephFS mount (01 creates it; 03 mounts it at /storage)."""
    return Path(storage.mount) / storage.root.lstrip("/") / "registry"


def _owner(storage: Storage) -> tuple[int, int] | None:
    # The registry runs as storage.owner_uid: new files must be its own. Only root can give them.
    return (storage.owner_uid, storage.owner_gid) if os.geteuid() == 0 else None


def _source(section: Migrate) -> migrate.Source:
    """The old registry tree (a local path, or over SSH: connected now, closed by the caller's ``with``)."""
    src = section.source
    return migrate.open_source(src.registry, ssh_key=src.ssh_key, known_hosts=src.known_hosts,
                               what="migrate.source.registry")


def _scan(section: Migrate) -> migrate.Inventory:
    with _source(section) as src:
        return migrate.scan(src)


def _skip(name: str, why: str, value: Any = None) -> StepResult[Any]:
    return StepResult(name, Status.SKIPPED, why, value=value)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# ---------------------------------------------------------------- 1. inventory
def inventory(params: Params) -> StepResult[Migration]:
    """Repositories, tags, manifests and blobs (counts and bytes) of the old registry tree."""
    section = params.migrate
    if section is None:
        return _skip("inventory", NO_SECTION, Migration())
    inv = _scan(section)
    rows = []
    for repo in sorted(inv.repositories.values(), key=lambda r: r.name):
        needed = set().union(*(inv.closure(d) for d in repo.tags.values())) if repo.tags else set()
        rows.append({"repository": repo.name, "tags": len(repo.tags), "manifests": len(repo.revisions),
                     "blobs": len(needed), "bytes": sum(inv.blobs.get(d, 0) for d in needed)})
    counts = inv.counts()
    summary = (f"{counts['repositories']} repositories, {counts['tags']} tags, {counts['manifests']} manifests, "
               f"{counts['blobs']} blobs ({_mb(counts['bytes'])}) in {section.source.registry}")
    status = Status.OK
    hint = None
    if inv.problems:
        status = Status.WARNING
        summary += f"; {len(inv.problems)} problem(s): " + "; ".join(inv.problems[:3])
        hint = "the old registry cannot serve these either: fix them on the old host (re-push or delete the tag)"
    return StepResult("inventory", status, summary, table=pd.DataFrame(rows, columns=["repository", "tags", "manifests",
                                                                                      "blobs", "bytes"]),
                      data={**counts, "problems": inv.problems}, hint=hint,
                      value=Migration(section=section, inventory=inv))


# ---------------------------------------------------------------- 2. the source database
def _login(section: Migrate) -> tuple[db.Endpoint, db.Login, str]:
    src = section.source.database
    return (db.Endpoint(src.host, src.port), db.Login(src.user, src.password, field="migrate.source.database.password"),
            src.database)


def source_database(state: Migration) -> StepResult[None]:
    """Projects, repository rows and users of the old Harbor, against the tree: where they disagree."""
    if state.section is None or state.inventory is None:
        return _skip("source database", NO_SECTION)
    rows = state.rows = migrate.read(*_login(state.section))
    agreement = migrate.compare(state.inventory.repositories, rows)
    table = ([{"repository": r, "disagreement": "a row in `repository`, no tree: the UI lists it, nobody can pull it"}
              for r in agreement.rows_without_tree]
             + [{"repository": r, "disagreement": "a tree, no row: pullable, invisible in the UI"}
                for r in agreement.trees_without_row]
             + [{"repository": r, "disagreement": "its project is not in `project`"}
                for r in agreement.trees_without_project])
    summary = (f"{len(rows.projects)} projects, {len(rows.repositories)} repository rows, {len(rows.users)} users")
    data = {"projects": len(rows.projects), "repositories": len(rows.repositories), "users": len(rows.users),
            "rows_without_tree": agreement.rows_without_tree, "trees_without_row": agreement.trees_without_row}
    if agreement.agrees:
        return StepResult("source database", Status.OK, summary + "; every repository row has a tree and vice versa",
                          data=data)
    return StepResult("source database", Status.WARNING, summary + f"; {len(table)} disagreement(s) with the tree "
                      "(moved as they are)", table=pd.DataFrame(table), data=data,
                      hint="they move as they are; fix them in the old Harbor (delete the repository in its UI, "
                           "or push the image again) to have them right in the new one")


# ---------------------------------------------------------------- 3. bulk copy
def _copy(section: Migrate, storage: Storage, inv: migrate.Inventory, desc: str,
          connection: migrate.Source | None = None) -> tuple[migrate.CopyReport, migrate.LinkReport]:
    """Blobs then links; from ``connection`` when one is open (the caller closes it), else a new one."""
    from tqdm.auto import tqdm

    target = target_root(storage)
    if not target.is_dir():
        raise HarborbookError(f"the registry directory {target} does not exist on the CephFS mount",
                              hint="run 01-cephfs-storage first (it creates <storage.root>/registry)",
                              see="01-cephfs-storage")
    journal = migrate.Journal(target)
    opened = contextlib.nullcontext(connection) if connection is not None else _source(section)
    try:
        with opened as src, tqdm(total=inv.bytes, desc=desc, unit="B", unit_scale=True, mininterval=1.0,
                                 leave=False) as bar:
            return migrate.copy_tree(src, target, inv, parallel=section.parallel, journal=journal,
                                     owner=_owner(storage), progress=bar.update)
    except OSError as exc:
        raise _copy_failed(exc, target, storage) from None


def _copy_failed(exc: OSError, target: Path, storage: Storage) -> HarborbookError:
    """A file system's refusal (full, over quota, read-only, an I/O error) as what to do about it."""
    said, full = file_system_refusal(exc)
    quota_dir = Path(storage.mount) / storage.root.lstrip("/")
    hint = (f"make room on the CephFS, or raise the quota that holds {storage.root} (setfattr -n ceph.quota.max_bytes "
            f"-v BYTES {quota_dir}, or on the directory above it that carries the quota)" if full
            else "fix the file system") + ", and run the step again: the blobs already verified are kept"
    return HarborbookError(f"the copy into {target} stopped: {said}", hint=hint)


def _copy_table(inv: migrate.Inventory, report: migrate.CopyReport) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for action, n in sorted(report.counts().items()):
        size = sum(o.size for o in report.outcomes if o.action == action)
        rows.append({"blobs": action, "count": n, "bytes": size, "detail": ""})
    for bad in report.bad():
        rows.append({"blobs": f"{bad.action}: {bad.digest}", "count": 1, "bytes": bad.size,
                     "detail": f"{bad.detail}; used by " + (", ".join(inv.users(bad.digest)) or "no tag")})
    return pd.DataFrame(rows, columns=["blobs", "count", "bytes", "detail"])


def _copy_result(name: str, inv: migrate.Inventory, report: migrate.CopyReport, links: migrate.LinkReport,
                 extra: str = "") -> StepResult[migrate.CopyReport]:
    rate = report.bytes_copied / report.seconds if report.seconds else 0.0
    counts = report.counts()
    summary = (f"{counts.get('copied', 0) + counts.get('replaced', 0)} blobs copied ({_mb(report.bytes_copied)}, "
               f"{rate / 1e6:.1f} MB/s verified), {counts.get('present', 0)} already present and verified; "
               f"{links.written} links written, {len(links.tags_linked)} tags linked{extra}")
    status = Status.CHANGED if (report.changed or links.changed) else Status.UNCHANGED
    hint = None
    if report.bad():
        status = Status.WARNING
        named = "; ".join(f"{b.digest} ({b.action}, used by {', '.join(inv.users(b.digest)) or 'no tag'})"
                          for b in report.bad())
        summary += f"; NOT copied: {named}"
        hint = ("a corrupt blob is corrupt in the old registry too (its pulls fail): push those images again to "
                "the old Harbor, or delete the tags, then re-run; the other tags are unaffected")
    data = {"counts": counts, "bytes_copied": report.bytes_copied, "seconds": round(report.seconds, 3),
            "links_written": links.written, "tags_linked": len(links.tags_linked),
            "bad": [{"digest": b.digest, "action": b.action, "tags": inv.users(b.digest)} for b in report.bad()],
            "tags_skipped": links.tags_skipped}
    return StepResult(name, status, summary, table=_copy_table(inv, report), data=data, hint=hint, value=report)


def _probe(section: Migrate, inv: migrate.Inventory) -> migrate.WriteProbe:
    repository = sorted(inv.repositories)[0] if inv.repositories else "library/probe"
    password = section.source.password.reveal() if section.source.password else None
    client = RegistryClient(section.source.url or "", section.source.user if password else None, password)
    return migrate.probe_writes(client, repository)


def bulk_copy(state: Migration, storage: Storage, dry_run: bool) -> StepResult[migrate.CopyReport]:
    """Every blob into the CephFS registry path, verified, while the old Harbor still serves; then links.

    In a cut-over being executed on an old registry that already refuses writes, nothing is
    copied here: what is left is the delta, copied inside the measured window.
    """
    if state.section is None or state.inventory is None:
        return _skip("bulk copy", NO_SECTION)
    inv = state.inventory
    target = target_root(storage)
    if dry_run:
        d = migrate.delta(inv, target, migrate.Journal(target))
        return _skip("bulk copy", f"dry run: would copy {len(d.copy)} blobs ({_mb(d.copy_bytes)}), verify "
                                  f"{len(d.verify)} present ones and write {d.links} links into {target}")
    if state.executing and state.section.source.url and _probe(state.section, inv).refused:
        return _skip("bulk copy", "the old registry already refuses writes: what is left is copied by the delta "
                                  "copy below, inside the measured window")
    report, links = _copy(state.section, storage, inv, "bulk copy")
    state.bulk = report
    state.skipped_tags = dict(links.tags_skipped)
    journal = migrate.Journal(target)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    last = journal.state()
    if report.changed or not last:
        # Each bulk copy after the first copies what changed since the one before: the rate of
        # change the cut-over plan extrapolates from.
        journal.save_state(bytes_copied=report.bytes_copied, seconds=report.seconds, finished=now,
                           previous=last.get("finished"), source=str(state.section.source.registry))
    return _copy_result("bulk copy", inv, report, links)


# ---------------------------------------------------------------- 4. cut-over
def cutover(state: Migration, storage: Storage, dry_run: bool) -> StepResult[None]:
    """plan: the final delta and how long copying it will take; execute: the old registry refuses writes."""
    if state.section is None or state.inventory is None:
        return _skip("cut-over", NO_SECTION)
    section = state.section
    target = target_root(storage)
    journal = migrate.Journal(target)
    if not state.executing:
        inv = _scan(section)
        d = migrate.delta(inv, target, journal)
        measured = journal.state()
        rate = (measured["bytes_copied"] / measured["seconds"]) if measured.get("seconds") else None
        estimate = d.estimate(rate)
        rows = [{"what": "blobs to copy", "count": len(d.copy), "bytes": d.copy_bytes},
                {"what": "blobs present, to verify", "count": len(d.verify), "bytes": d.verify_bytes},
                {"what": "links to write", "count": d.links, "bytes": 0},
                {"what": "tags new or moved", "count": len(d.tags), "bytes": 0}]
        when = f" (bulk copy at {rate / 1e6:.1f} MB/s, {measured.get('finished', '?')})" if rate else ""
        churn = ""
        if measured.get("previous") and measured.get("bytes_copied"):
            # What the last bulk copy found new since the one before it: the old Harbor's rate of change.
            churn = (f"; the last bulk copy found {_mb(measured['bytes_copied'])} new since the one of "
                     f"{measured['previous']}: re-run the bulk copy just before the cut-over to keep the delta small")
        est = ("nothing to copy" if estimate == 0 else f"about {estimate:.1f} s of copying{when}" if estimate is not None
               else "no copy throughput measured yet (run the bulk copy first)")
        return StepResult("cut-over plan", Status.OK,
                          f"final delta since the bulk copy: {len(d.copy)} blobs ({_mb(d.copy_bytes)}), {d.links} links, "
                          f"{len(d.tags)} tags new or moved: {est}; then the database move and the rollout, with "
                          f"the old registry read-only throughout (set migrate.cutover: execute to do it){churn}",
                          table=pd.DataFrame(rows), data={"copy": len(d.copy), "copy_bytes": d.copy_bytes,
                                                          "links": d.links, "tags": d.tags, "estimate_s": estimate})
    if dry_run:
        return _skip("cut-over", "dry run: the freeze would be checked, the delta copied, the database moved")
    if section.source.url is None:
        return StepResult("cut-over", Status.FAILED, "migrate.source.url is not set: whether the old registry "
                          "still takes writes cannot be checked", hint="set migrate.source.url to the old registry's "
                          "address (and migrate.source.password when it asks for a token)")
    repository = sorted(state.inventory.repositories)[0] if state.inventory.repositories else "library/probe"
    probe = _probe(section, state.inventory)
    if not probe.refused:
        return StepResult("cut-over", Status.FAILED, probe.detail + ": writes pushed now would be lost",
                          hint=freeze_hint(repository) if probe.refused is False else
                          "set migrate.source.user/password to an account that may push there (the old admin)",
                          data={"status": probe.status})
    state.frozen = True
    state.frozen_at = time.monotonic()
    state.frozen_wall = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    if state.connection is not None:  # the cell run again
        state.connection.close()
        state.connection = None
    connection = _source(section)
    try:
        state.final = migrate.scan(connection)
    except BaseException:
        connection.close()
        raise
    state.connection = connection  # the delta copy reads through it, then closes it
    state.clock["final inventory"] = time.monotonic() - clock
    return StepResult("cut-over", Status.OK, f"{probe.detail}: the old Harbor serves pulls only; "
                      f"{len(state.final.tags())} tags to move", data={"status": probe.status, "frozen": state.frozen_wall})


def _executing(state: Migration, name: str, dry_run: bool) -> StepResult[Any] | None:
    """The skip for steps that only run in a cut-over being executed (None: go on)."""
    if state.section is None:
        return _skip(name, NO_SECTION)
    if not state.executing:
        return _skip(name, "migrate.cutover is plan: nothing changes in the cut-over")
    if dry_run:
        return _skip(name, "dry run")
    if not state.frozen:
        return StepResult(name, Status.FAILED, "the old registry was not found read-only", see="the cut-over step")
    return None


def delta_copy(state: Migration, storage: Storage, dry_run: bool) -> StepResult[migrate.CopyReport]:
    """What changed since the bulk copy, copied the same way (the old registry is read-only now)."""
    skipped = _executing(state, "delta copy", dry_run)
    if skipped is not None:
        return skipped
    assert state.section is not None and state.final is not None
    clock = time.monotonic()
    connection, state.connection = state.connection, None
    try:
        report, links = _copy(state.section, storage, state.final, "delta copy", connection)
    finally:
        if connection is not None:
            connection.close()
    state.clock["delta copy"] = time.monotonic() - clock
    state.skipped_tags = dict(links.tags_skipped)
    return _copy_result("delta copy", state.final, report, links)


def cutover_database(params: Params) -> Database:
    """02's database params with the old Harbor as the source and replace semantics."""
    assert params.migrate is not None
    return Database(source=params.migrate.source.database, target=params.database.target, replace=True)


def move_database(params: Params, state: Migration, artifact: Path, dry_run: bool) -> StepResult[None]:
    """The old Harbor's database into the cluster with 02's machinery: staged, verified, swapped; old tables kept."""
    skipped = _executing(state, "database", dry_run)
    if skipped is not None:
        return skipped
    clock = time.monotonic()
    moved = database.migrate(cutover_database(params), artifact, dry_run, keep_migrated=True)
    state.clock["database"] = time.monotonic() - clock
    state.database_changed = moved.status is Status.CHANGED
    moved.name = "database"
    moved.summary = moved.summary.replace(" (database.replace: true to start over)", "")
    return moved


def roll_out(kube: Kube, params: Params, state: Migration, dry_run: bool) -> StepResult[None]:
    """03's manifests applied and 04's readiness wait: the new Harbor serves the moved data."""
    skipped = _executing(state, "rollout", dry_run)
    if skipped is not None:
        return skipped
    clock = time.monotonic()
    namespace = params.cluster.namespace
    generated = configure.stored_generated_secrets(kube, namespace, dry_run)
    assert generated.value is not None
    objects = configure.manifests(params, generated.value)
    applied = rollout.apply_all(kube, objects.value or [], dry_run)
    ready = rollout.wait_ready(kube, namespace, COMPONENTS, timeout=params.cluster.rollout_timeout, dry_run=dry_run)
    if ready.failed:
        state.clock["rollout"] = time.monotonic() - clock
        return ready
    restarted = []
    if state.database_changed:
        # The ui reads some of the database once, at start: it (re)sets the admin password from
        # HARBOR_ADMIN_PASSWORD when the admin's salt is empty. Pods started on the tables that were
        # just swapped out are replaced one by one (the others keep serving).
        for component in RESTART_AFTER_DATABASE:
            for pod in kube.list("v1", "Pod", namespace, label_selector=f"name={component}-apps"):
                fresh, seconds = rollout.wait_deleted_and_replaced(kube, namespace, pod, params.cluster.rollout_timeout)
                restarted.append({"component": component, "pod": pod["metadata"]["name"], "replaced by": fresh,
                                  "seconds": round(seconds, 1)})
    state.clock["rollout"] = time.monotonic() - clock
    summary = f"{applied.summary}; {ready.summary}"
    if restarted:
        summary += f"; {len(restarted)} pods of {', '.join(RESTART_AFTER_DATABASE)} replaced to start on the moved database"
    status = Status.CHANGED if restarted else applied.status
    return StepResult("rollout", status, summary, table=pd.DataFrame(restarted) if restarted else ready.table)


def window(state: Migration) -> StepResult[None]:
    """The measured write-unavailability window: from the freeze found to the new Harbor ready."""
    skipped = _executing(state, "write window", False)
    if skipped is not None:
        return skipped
    assert state.frozen_at is not None
    total = time.monotonic() - state.frozen_at
    rows = [{"phase": k, "seconds": round(v, 2)} for k, v in state.clock.items()]
    rows.append({"phase": "total (writes refused at least this long)", "seconds": round(total, 2)})
    return StepResult("write window", Status.OK,
                      f"writes were refused for at least {total:.1f} s (from {state.frozen_wall} UTC, when the old "
                      "registry was found read-only, until the new Harbor was ready); pulls were served throughout "
                      "by the old Harbor", table=pd.DataFrame(rows), data={"seconds": round(total, 3),
                                                                          "phases": {k: round(v, 3) for k, v in state.clock.items()}})


# ---------------------------------------------------------------- 5. verification
def _base(harbor: Harbor) -> str:
    return f"{harbor.protocol}://{harbor.hostname}"


def verify_tags(state: Migration, harbor: Harbor) -> StepResult[list[TagCheck]]:
    """Every tag of the inventory pulled through the new Harbor: same manifest digest, every blob's bytes."""
    skipped = _executing(state, "tags", False)
    if skipped is not None:
        if skipped.status is Status.SKIPPED and state.section is not None:
            skipped.summary = "migrate.cutover is plan: the new Harbor does not serve the old repositories yet"
        return skipped
    inv = state.latest
    assert inv is not None and state.section is not None
    password = harbor.admin_password.reveal()
    try:
        RegistryClient(_base(harbor), "admin", password).login()
    except Unauthorized as exc:
        return StepResult("tags", Status.FAILED, f"admin cannot log in to the new Harbor: {exc.message}",
                          hint=ADMIN_HINT, data={"checks": [failed("tags", "admin login", exc.message[:300],
                                                                   ADMIN_HINT).row()]})

    def one(tag: migrate.Tag) -> TagCheck:
        lacking = state.skipped_tags.get(tag.ref)
        if lacking:
            return TagCheck(tag.repository, tag.tag, tag.digest,
                            problems=(f"not migrated: the source's {', '.join(lacking)} is corrupt or missing",))
        return verify_tag(RegistryClient(_base(harbor), "admin", password), tag.repository, tag.tag, tag.digest)

    with ThreadPoolExecutor(max(1, min(state.section.parallel, 8)), thread_name_prefix="verify-tag") as pool:
        found = list(pool.map(one, inv.tags()))
    rows = [c.row() for c in found]
    check_rows = [ok("tags", c.ref, f"{c.blobs} blobs, {c.bytes} bytes, digest {c.expected[:19]}...") if c.ok
                  else failed("tags", c.ref, "; ".join(c.problems)[:300],
                              "see the bulk copy's table for corrupt blobs" if c.ref in state.skipped_tags
                              else ADMIN_HINT if "401" in " ".join(c.problems)
                              else "re-run the cut-over: the delta copy links what is missing")
                  for c in found]
    bad = [c for c in found if not c.ok]
    total = sum(c.bytes for c in found)
    summary = (f"{len(found) - len(bad)} of {len(found)} tags pulled through {_base(harbor)} with the same digest "
               f"and bytes ({_mb(total)})")
    if bad:
        summary += "; failed: " + ", ".join(c.ref for c in bad[:5]) + (" ..." if len(bad) > 5 else "")
    return StepResult("tags", Status.FAILED if bad else Status.OK, summary,
                      table=pd.DataFrame(rows, columns=["tag", "digest", "blobs", "bytes", "ok", "problem"]),
                      data={"checks": [c.row() for c in check_rows], "tags": len(found), "failed": [c.ref for c in bad]},
                      hint=check_rows[[c.ok for c in found].index(False)].hint if bad else None, value=found)


def verify_accounts(params: Params, state: Migration) -> StepResult[None]:
    """Users log in with their old passwords; users (hash, salt) and repository rows match the source."""
    skipped = _executing(state, "accounts and rows", False)
    if skipped is not None:
        return skipped
    section = params.migrate
    assert section is not None
    harbor = params.harbor
    found: list[Check] = []

    def admin() -> Check:
        try:
            RegistryClient(_base(harbor), "admin", harbor.admin_password.reveal()).login()
        except Unauthorized as exc:
            return failed("accounts", "login admin", exc.message[:300], ADMIN_HINT)
        return ok("accounts", "login admin", "with harbor.admin_password")

    found += guard("accounts", "login admin", admin, os_hint="is the NodePort reachable from here?")
    for user in section.users:
        def login(user: Any = user) -> Check:
            RegistryClient(_base(harbor), user.name, user.password.reveal()).login()
            return ok("accounts", f"login {user.name}", "docker login's token flow with the old password")
        found += guard("accounts", f"login {user.name}", login, os_hint="is the NodePort reachable from here?")

    def rows() -> list[Check]:
        source = state.rows or migrate.read(*_login(section))
        t = params.database.target
        admin = db.Login(t.admin_user, t.admin_password, field="database.target.admin_password")
        conn, info, _ = db.first_healthy([db.Endpoint(e.host, e.port) for e in t.endpoints], admin)
        conn.close()
        host, port = info.endpoint.rsplit(":", 1)
        target = migrate.read(db.Endpoint(host, int(port)), admin, t.database)
        diff = migrate.differences(source, target)
        out = []
        users_bad = diff["users missing"] + diff["users changed"]
        out.append(failed("rows", "users", f"missing or different (password hash, salt): {', '.join(users_bad)}",
                          "re-run the cut-over: the database move replaces the target")
                   if users_bad else ok("rows", "users", f"{len(source.users)} users with the same password hash "
                                                        "and salt: the old passwords work" + (
                                                            f" ({', '.join(diff['users reset'])} had no password set: "
                                                            "the ui set it from harbor.admin_password)"
                                                            if diff["users reset"] else "")))
        repos_bad = diff["repositories missing"] + diff["repositories moved"]
        out.append(failed("rows", "repositories", f"missing or in another project: {', '.join(repos_bad)}",
                          "re-run the cut-over") if repos_bad
                   else ok("rows", "repositories", f"{len(source.repositories)} repository rows, same projects"))
        return out

    found += guard("rows", "users and repositories", rows)
    return checks.result("accounts and rows", found)


def summary(state: Migration, steps: list[StepResult[Any]]) -> StepResult[None]:
    """One table of every check of the verification, and what was moved."""
    if state.section is None:
        return _skip("migration", NO_SECTION)
    out: StepResult[None] = checks.verdict("migration", steps)
    inv = state.latest
    if inv is not None:
        counts = inv.counts()
        moved = (f"{counts['repositories']} repositories, {counts['tags']} tags, {counts['blobs']} blobs "
                 f"({_mb(counts['bytes'])})")
        if not state.executing:
            out.summary = f"planned (bulk copy done, cut-over not executed): {moved} copied so far"
            out.status = Status.OK if not any(s.failed for s in steps) else Status.FAILED
        else:
            rows = checks.of_steps(steps)
            bad = [c for c in rows if c.failed]
            verdict = (f"{len(bad)} of {len(rows)} checks failed: " + ", ".join(c.name for c in bad[:5])
                       + (" ..." if len(bad) > 5 else "")) if bad else f"all {len(rows)} checks ok"
            out.summary = f"{moved} moved; {verdict}"
        out.data["moved"] = counts
    return out
