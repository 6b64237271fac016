"""The legacy Harbor: a single-host (docker-compose) Harbor 1.2 full of images, to migrate from.

A docker-compose Harbor keeps its images in ``/data/registry`` on the host (mounted at
``/storage`` in the registry container, distribution's filesystem driver) and its rows in the
``registry`` database of its mysql container. The lab's legacy Harbor is:

- a real registry storage tree at ``<state>/legacy/data/registry``, written by a real
  ``docker-registry`` (Debian's build of distribution) that keeps serving it on loopback, as the
  old Harbor does while its images are copied away;
- filled by pushing generated images over the registry API (:mod:`harborlab.legacy_images`,
  :mod:`harborlab.pusher`), so every file in the tree is distribution's own work;
- the matching ``project``/``repository``/``user`` rows in the source database (the
  ``harbor-db`` component), with users whose passwords are hashed as Harbor 1.2 does.

The registry config follows Harbor 1.2's ``make/common/templates/registry/config.yml``
(filesystem storage, in-memory layer-info cache, upload purging off, deletes on) without its
token auth and notifications: nothing here plays the old Harbor's ui. "Freezing" the old
Harbor restarts it with distribution's ``storage.maintenance.readonly.enabled: true``, the
registry's real read-only mode (pulls work, pushes and deletes are refused).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

from harborlab import procs
from harborlab.component import DEGRADED, DOWN, OK, RUNNING, STARTED, StatusRow
from harborlab.errors import LabError
from harborlab.galera import connect
from harborlab.lab import generate_password
from harborlab.legacy_images import NEW_PROJECT, image_for, plan, pushed_image
from harborlab.pusher import Registry, RegistryError
from harborlab.ui.passwords import encrypt, login_matches, random_salt

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "legacy-harbor"
PROCESS = "legacy-registry"  # run/<PROCESS>.pid, log/<PROCESS>.log
PORT = "legacy-registry"  # key in lab.ports
PROGRAM = "/usr/bin/docker-registry"
DEFAULT_IMAGES = 24
FILL_WORKERS = 4

# The old install's own users and their roles in its project (1 projectAdmin, 2 developer).
LEGACY_USERS = (
    ("dave", "dave@legacy.example.com", "Dave Legacy-Admin", 1),
    ("erin", "erin@legacy.example.com", "Erin Legacy-Dev", 2),
)

# distribution/reference: path components of lowercase alphanumerics joined by separators; tags.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})+$")  # Harbor: at least project/name
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")


# -- layout -----------------------------------------------------------------------------------

def folder(lab: "Lab") -> Path:
    return lab.path("legacy")


def registry_path(lab: "Lab") -> Path:
    """The old host's /data/registry: distribution's root directory."""
    return folder(lab) / "data" / "registry"


def config_path(lab: "Lab") -> Path:
    return folder(lab) / "registry-config.yml"


def frozen_mark(lab: "Lab") -> Path:
    return folder(lab) / "frozen"


def is_frozen(lab: "Lab") -> bool:
    return frozen_mark(lab).exists()


def registry_url(lab: "Lab") -> str:
    return f"http://{lab.host}:{lab.ports[PORT]}"


def registry_config(rootdirectory: Path, addr: str, readonly: bool) -> str:
    """Harbor 1.2's registry config.yml, minus token auth and notifications (see module doc)."""
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: info",
        "  fields:",
        "    service: registry",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {rootdirectory}",
        "  cache:",
        "    layerinfo: inmemory",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "    readonly:",
        f"      enabled: {'true' if readonly else 'false'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {addr}",
        "",
    ])


def user_secret(name: str) -> str:
    return f"legacy-user-{name}-password"


def lab_command(lab: "Lab", *words: str) -> str:
    return " ".join(["harborbook", "lab", "legacy", *words, "--state", shlex.quote(str(lab.state))])


# -- the tree, read back ----------------------------------------------------------------------

def read_tree(root: Path) -> dict:
    """What a distribution storage tree holds: ``{"tags": {repo: {tag: digest}},
    "blobs": {digest: size}}`` (repositories are the folders holding ``_manifests``)."""
    v2 = root / "docker" / "registry" / "v2"
    tags: dict[str, dict[str, str]] = {}
    repos = v2 / "repositories"
    for dirpath, dirnames, _ in os.walk(repos):
        if "_manifests" in dirnames:
            name = os.path.relpath(dirpath, repos)
            found = {}
            tag_dir = Path(dirpath) / "_manifests" / "tags"
            for tag in sorted(os.listdir(tag_dir)) if tag_dir.is_dir() else []:
                link = tag_dir / tag / "current" / "link"
                if link.is_file():
                    found[tag] = link.read_text().strip()
            tags[name] = found
            # _layers, _manifests and _uploads are not repositories; nested names may follow.
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
    blobs: dict[str, int] = {}
    store = v2 / "blobs" / "sha256"
    if store.is_dir():
        for prefix in os.listdir(store):
            for hexdigest in os.listdir(store / prefix):
                data = store / prefix / hexdigest / "data"
                if data.is_file():
                    blobs[f"sha256:{hexdigest}"] = data.stat().st_size
    return {"tags": dict(sorted(tags.items())), "blobs": blobs}


# -- filling ----------------------------------------------------------------------------------

def fill(registry: Registry, count: int, workers: int = FILL_WORKERS) -> int:
    """Push the first ``count`` planned tags that the registry lacks; how many were pushed."""
    wanted = plan(count)
    by_repo: dict[str, list] = defaultdict(list)
    for item in wanted:
        by_repo[item.repository].append(item)

    def missing_of(repo: str) -> list:
        present = set(registry.tags(repo))
        return [item for item in by_repo[repo] if item.tag not in present]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        missing = {repo: todo for repo, todo in zip(by_repo, pool.map(missing_of, by_repo)) if todo}
    if not missing:
        return 0
    # The shared base layers go up once each, first; every other repository mounts them
    # (as docker push does with a layer the registry already has).
    home: dict[str, str] = {}
    for repo, todo in missing.items():
        for item in todo:
            base = image_for(repo, item.version).layers[0]
            if base.digest not in home:
                home[base.digest] = repo
                registry.push_blob(repo, base)

    def push_repo(repo: str) -> int:
        try:
            for item in missing[repo]:
                registry.push_image(repo, item.tag, image_for(repo, item.version), mount_from=home)
            return len(missing[repo])
        finally:
            registry.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(push_repo, list(missing)))


# -- the source database ----------------------------------------------------------------------

def _db(lab: "Lab"):
    from harborlab.sourcedb import DATABASE, SECRET, USER

    details = lab.details.get("harbor-db")
    if not details:
        raise LabError("the legacy Harbor needs the source database (harbor-db), which is not up",
                       hint="run: harborbook lab up")
    try:
        return connect(lab.host, lab.ports["harbor-db"], USER, lab.secret_value(SECRET), database=DATABASE,
                       autocommit=False)
    except pymysql.MySQLError as exc:
        raise LabError(f"cannot reach the source database on {lab.host}:{lab.ports['harbor-db']}: {exc.args[-1]}",
                       hint="run: harborbook lab up") from None


def _user_id(cur, name: str) -> int | None:
    cur.execute("SELECT user_id FROM user WHERE username = %s", (name,))
    row = cur.fetchone()
    return row[0] if row else None


def ensure_users(lab: "Lab", cur) -> list[dict]:
    """The legacy users with passwords from their secret files; a row whose hash does not match
    its file (a new secret after a purge of secrets/) gets the file's password."""
    users = []
    for name, email, realname, _role in LEGACY_USERS:
        secret = lab.secret(user_secret(name), generate_password)
        password = lab.secret_value(user_secret(name))
        cur.execute("SELECT password, salt FROM user WHERE username = %s", (name,))
        row = cur.fetchone()
        if row is None:
            salt = random_salt()
            cur.execute(
                "INSERT INTO user (username, email, password, realname, comment, deleted, salt, sysadmin_flag,"
                " creation_time, update_time) VALUES (%s, %s, %s, %s, 'legacy harbor', 0, %s, 0, NOW(), NOW())",
                (name, email, encrypt(password, salt), realname, salt),
            )
        elif not login_matches(row[0], password, row[1] or ""):
            salt = random_salt()
            cur.execute("UPDATE user SET password = %s, salt = %s WHERE username = %s",
                        (encrypt(password, salt), salt, name))
        users.append({"name": name, "password_file": str(secret)})
    return users


def ensure_project(cur) -> None:
    """The old install's own project, owned by its first user, with both users as members."""
    owner = _user_id(cur, LEGACY_USERS[0][0])
    cur.execute("SELECT project_id FROM project WHERE name = %s", (NEW_PROJECT,))
    row = cur.fetchone()
    if row is None:
        cur.execute("INSERT INTO project (owner_id, name, creation_time, update_time, public)"
                    " VALUES (%s, %s, NOW(), NOW(), 0)", (owner, NEW_PROJECT))
        project_id = cur.lastrowid
    else:
        project_id = row[0]
    for name, _email, _real, role in LEGACY_USERS:
        user_id = _user_id(cur, name)
        cur.execute("SELECT 1 FROM project_member WHERE project_id = %s AND user_id = %s", (project_id, user_id))
        if cur.fetchone() is None:
            cur.execute("INSERT INTO project_member (project_id, user_id, role, creation_time, update_time)"
                        " VALUES (%s, %s, %s, NOW(), NOW())", (project_id, user_id, role))


def project_ids(cur) -> dict[str, int]:
    cur.execute("SELECT name, project_id FROM project WHERE deleted = 0")
    return dict(cur.fetchall())


def ensure_repositories(cur, names: list[str]) -> list[str]:
    """A ``repository`` row for each name (Harbor 1.2's ui adds one on the registry's push
    event); the names added. Every name's project must exist."""
    projects = project_ids(cur)
    cur.execute("SELECT name FROM repository")
    have = {row[0] for row in cur.fetchall()}
    added = []
    for name in names:
        if name in have:
            continue
        project = name.split("/", 1)[0]
        if project not in projects:
            raise LabError(f"repository {name}: project {project!r} does not exist in the source database",
                           hint=f"Harbor refuses pushes to unknown projects; use one of: {', '.join(sorted(projects))}")
        cur.execute("INSERT INTO repository (name, project_id, description, pull_count, star_count,"
                    " creation_time, update_time) VALUES (%s, %s, '', 0, 0, NOW(), NOW())",
                    (name, projects[project]))
        added.append(name)
    return added


# -- the registry process ---------------------------------------------------------------------

def _answers(registry: Registry) -> bool:
    try:
        return registry.ping() == 200
    except OSError:
        return False
    finally:
        registry.close()


def start_registry(lab: "Lab") -> int:
    """Write the config for the current frozen state and start the registry; wait for /v2/."""
    root = registry_path(lab)
    root.mkdir(parents=True, exist_ok=True)
    config = config_path(lab)
    config.write_text(registry_config(root, f"{lab.host}:{lab.ports[PORT]}", is_frozen(lab)))
    pid = lab.spawn(PROCESS, [PROGRAM, "serve", str(config)])
    registry = Registry(lab.host, lab.ports[PORT])
    lab.wait_for(f"the legacy registry on {lab.host}:{lab.ports[PORT]}", lambda: _answers(registry), 20, log=PROCESS)
    return pid


def stop_registry(lab: "Lab") -> None:
    lab.stop(PROCESS)
    # The pid reads as dead (a zombie thread-group leader) while the Go runtime's other
    # threads still hold the listening socket: wait for the port itself to be released.
    deadline = time.monotonic() + 10
    while procs.conflicts(procs.listeners(), lab.ports[PORT], lab.host) and time.monotonic() < deadline:
        time.sleep(0.05)


def restart_registry(lab: "Lab") -> None:
    stop_registry(lab)
    lab.ensure_port_free(lab.ports[PORT])
    start_registry(lab)


def inventory(lab: "Lab") -> dict:
    """The lab.json fields describing what the tree holds now."""
    tree = read_tree(registry_path(lab))
    tags = {repo: sorted(found) for repo, found in tree["tags"].items()}
    return {
        "images": sum(len(t) for t in tags.values()),
        "manifests": len({d for found in tree["tags"].values() for d in found.values()}),
        "blobs": len(tree["blobs"]),
        "bytes": sum(tree["blobs"].values()),
        "repositories": sorted(tags),
        "tags": tags,
    }


class LegacyHarbor:
    name = NAME

    def count(self, lab: "Lab") -> int:
        count = int(lab.options.get("legacy_images", DEFAULT_IMAGES))
        if count < 0:
            raise LabError(f"--legacy-images must be 0 or more, not {count}")
        return count

    def planned_ports(self, lab: "Lab") -> list[int]:
        return [] if lab.pid(PROCESS) or self.count(lab) == 0 else [lab.ports[PORT]]

    def up(self, lab: "Lab") -> str:
        count = self.count(lab)
        if count == 0:
            stop_registry(lab)
            lab.record(NAME, {"enabled": False, "pid": None})
            return "disabled"
        was_running = lab.pid(PROCESS) is not None
        if not was_running:
            start_registry(lab)
        registry = Registry(lab.host, lab.ports[PORT])
        frozen = is_frozen(lab)
        began = time.monotonic()
        # A frozen registry refuses pushes: fill it after `lab legacy thaw`.
        pushed = 0 if frozen else fill(registry, count)
        filled_in = time.monotonic() - began
        tree = inventory(lab)
        conn = _db(lab)
        try:
            with conn.cursor() as cur:
                users = ensure_users(lab, cur)
                ensure_project(cur)
                ensure_repositories(cur, tree["repositories"])
            conn.commit()
        finally:
            conn.close()
        lab.record(NAME, {
            "enabled": True,
            "registry_path": str(registry_path(lab)),
            "registry_url": registry_url(lab),
            "registry_config": str(config_path(lab)),
            "pid": lab.pid(PROCESS),
            "frozen": frozen,
            "planned_images": count,
            "pushed_last_up": pushed,
            "fill_seconds": round(filled_in, 2),
            **tree,
            "projects": sorted({NEW_PROJECT} | {r.split("/")[0] for r in tree["repositories"]}),
            "users": users,
            "freeze_command": lab_command(lab, "freeze"),
            "thaw_command": lab_command(lab, "thaw"),
            "push_command": lab_command(lab, "push", "REPO:TAG"),
        })
        return RUNNING if was_running else STARTED

    def status(self, lab: "Lab") -> list[StatusRow]:
        pid = lab.pid(PROCESS)
        address = f"{lab.host}:{lab.ports[PORT]}"
        record = lab.details.get(NAME) or {}
        if pid is None:
            if not record.get("enabled"):
                return []  # never started, or --legacy-images 0
            return [StatusRow(NAME, None, address, DOWN, "not running")]
        registry = Registry(lab.host, lab.ports[PORT], timeout=5)
        try:
            answer = registry.ping()
        except OSError as exc:
            return [StatusRow(NAME, pid, address, DEGRADED, f"GET /v2/ failed: {exc}")]
        finally:
            registry.close()
        mode = "read-only" if is_frozen(lab) else "read-write"
        good = answer == 200
        return [StatusRow(NAME, pid, address, OK if good else DEGRADED, f"GET /v2/ {answer}, {mode}")]

    def down(self, lab: "Lab") -> None:
        stop_registry(lab)


# -- what `harborbook lab legacy ...` does ------------------------------------------------------

def _running(lab: "Lab") -> None:
    if lab.pid(PROCESS) is None:
        raise LabError(f"the legacy registry is not running (state {lab.state})",
                       hint="run: harborbook lab up (with --legacy-images N > 0)")


def set_frozen(lab: "Lab", frozen: bool) -> dict:
    """Restart the legacy registry read-only (freeze) or read-write (thaw)."""
    _running(lab)
    if frozen:
        frozen_mark(lab).write_text("storage.maintenance.readonly.enabled: true\n")
    else:
        frozen_mark(lab).unlink(missing_ok=True)
    began = time.monotonic()
    restart_registry(lab)
    info = {"frozen": frozen, "pid": lab.pid(PROCESS)}
    lab.record(NAME, info)
    return {**info, "restart_seconds": round(time.monotonic() - began, 2)}


def parse_reference(ref: str) -> tuple[str, str]:
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise LabError(f"not a REPO:TAG reference: {ref!r}", hint="e.g. library/demo:1.0")
    if not REPOSITORY_RE.match(repo):
        raise LabError(f"not a repository name Harbor accepts: {repo!r}",
                       hint="PROJECT/NAME, lowercase letters, digits and . _ - separators")
    if not TAG_RE.match(tag):
        raise LabError(f"not a valid tag: {tag!r}", hint="letters, digits, _ . -; at most 128 characters")
    return repo, tag


def push(lab: "Lab", ref: str, size: int, seed: str | None = None) -> dict:
    """Push one generated image into the running legacy registry and add its repository row."""
    repo, tag = parse_reference(ref)
    if size < 0:
        raise LabError(f"--size must be 0 or more bytes, not {size}")
    _running(lab)
    conn = _db(lab)
    try:
        with conn.cursor() as cur:
            # Check the project before anything is written: a refused push leaves nothing.
            project = repo.split("/", 1)[0]
            known = project_ids(cur)
            if project not in known:
                raise LabError(f"project {project!r} does not exist in the source database",
                               hint=f"Harbor refuses pushes to unknown projects; use one of: {', '.join(sorted(known))}")
            image = pushed_image(repo, tag, size, seed)
            registry = Registry(lab.host, lab.ports[PORT])
            try:
                previous = registry.manifest_digest(repo, tag)
                digest = registry.push_image(repo, tag, image)
            except RegistryError as exc:
                hint = "the legacy registry is frozen (read-only): harborbook lab legacy thaw" if is_frozen(lab) else None
                raise LabError(exc.message, hint=hint) from None
            finally:
                registry.close()
            added = ensure_repositories(cur, [repo])
        conn.commit()
    finally:
        conn.close()
    lab.record(NAME, inventory(lab))
    return {"repository": repo, "tag": tag, "digest": digest, "previous": previous,
            "bytes": sum(b.size for b in image.blobs), "row_added": bool(added)}


__all__ = [
    "LegacyHarbor",
    "fill",
    "inventory",
    "parse_reference",
    "push",
    "read_tree",
    "registry_config",
    "registry_path",
    "set_frozen",
]
