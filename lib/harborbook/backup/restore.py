"""Bringing a backup back: the registry tree, the database (02's staged import), the objects.

The database goes through 02's machinery: the dump is imported into a staging database,
verified (tables, rows, ``CHECKSUM TABLE``) and moved into place by one atomic ``RENAME TABLE``;
with ``replace`` the tables already there move into a timestamped backup database in the same
statement. Registry files are decrypted into place one by one, each checked against backup.json
(and each blob against its digest); a file that fails is reported with the tags it breaks and the
restore goes on, so one damaged blob does not hide another.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pymysql
import yaml

from .. import db
from ..db.verify import TableCheck, TableStats, compare, measure
from ..db.load import server_tables
from ..errors import HarborbookError, NotFound
from .crypto import Keyring, decrypt
from .manifest import DATABASE_PREFIX, KUBE_PREFIX, MANIFEST, REGISTRY_PREFIX, Manifest, blob_digest, listing
from .target import Target

Obj = dict[str, Any]


def choose(target: Target, which: str = "latest") -> str:
    """The backup to use: the newest complete one, or the one named (it must be complete)."""
    found = listing(target.names())
    if which == "latest":
        if not found.complete:
            raise NotFound(f"no complete backup in {target.describe()}"
                           + (f" ({len(found.partial)} incomplete)" if found.partial else ""),
                           hint="take one first (backup.mode: backup)")
        return found.complete[-1]
    if which not in found.complete:
        raise NotFound(f"{target.describe()} has no complete backup named {which}"
                       + (" (it is incomplete)" if which in found.partial else ""),
                       hint=f"complete backups: {', '.join(found.complete) or 'none'}")
    return which


def load_manifest(target: Target, name: str, keyring: Keyring) -> Manifest:
    data = bytearray()
    with target.reader(f"{name}/{MANIFEST}") as src:
        for block in decrypt(src, keyring, what=f"{name}/{MANIFEST}"):
            data += block
    return Manifest.from_json(bytes(data))


def read_bytes(target: Target, name: str, keyring: Keyring) -> bytes:
    data = bytearray()
    with target.reader(name) as src:
        for block in decrypt(src, keyring, what=name):
            data += block
    return bytes(data)


def objects(target: Target, manifest: Manifest, keyring: Keyring, kind: str) -> list[Obj]:
    """The exported objects of one kind (cleaned manifests)."""
    name = f"{manifest.name}/{KUBE_PREFIX}{kind}.yaml"
    if name not in manifest.files:
        return []
    return [o for o in yaml.safe_load_all(read_bytes(target, name, keyring)) if o]


# ------------------------------------------------------------------ the registry tree
@dataclass(frozen=True)
class FileProblem:
    name: str  # inside the registry tree
    blob: str | None
    tags: tuple[str, ...]
    problem: str

    def row(self) -> dict[str, str]:
        return {"file": self.name, "blob": self.blob or "", "tags": ", ".join(self.tags) or "(none)",
                "problem": self.problem}


def restore_tree(target: Target, manifest: Manifest, keyring: Keyring, dest: Path, *, uid: int, gid: int,
                 progress: Callable[[int], None] | None = None) -> tuple[int, list[FileProblem]]:
    """Decrypt every registry file into ``dest``; (files restored, problems)."""
    restored, problems = 0, []
    dest.mkdir(parents=True, exist_ok=True)
    _chown(dest, uid, gid)
    for name in manifest.registry_files():
        relative = name[len(manifest.name) + 1 + len(REGISTRY_PREFIX):]
        entry = manifest.files[name]
        digest = blob_digest(relative)
        path = dest.joinpath(*relative.split("/"))
        _makedirs(path.parent, dest, uid, gid)
        tmp = path.with_name(f".{path.name}.restoring")
        problem = ""
        try:
            sha, size = hashlib.sha256(), 0
            with open(tmp, "wb") as out, target.reader(name) as src:
                for block in decrypt(src, keyring, what=relative):
                    sha.update(block)
                    size += len(block)
                    out.write(block)
            if (size, sha.hexdigest()) != (entry.size, entry.sha256):
                problem = f"restored {size} bytes sha256:{sha.hexdigest()}, backup.json lists {entry.size} bytes sha256:{entry.sha256}"
            elif digest and "sha256:" + sha.hexdigest() != digest:
                problem = f"bytes hash to sha256:{sha.hexdigest()}, not to the blob's digest"
        except HarborbookError as exc:
            problem = exc.message.replace(relative + ": ", "").replace(relative + " ", "")
        if problem:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            problems.append(FileProblem(relative, digest, tuple(manifest.tags_using(digest) if digest else ()), problem))
            continue
        os.replace(tmp, path)
        _chown(path, uid, gid)
        restored += 1
        if progress:
            progress(entry.size)
    return restored, problems


def _chown(path: Path, uid: int, gid: int) -> None:
    with contextlib.suppress(PermissionError):
        os.chown(path, uid, gid)


def _makedirs(folder: Path, top: Path, uid: int, gid: int) -> None:
    missing = []
    while not folder.is_dir() and folder != top:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _chown(path, uid, gid)


# ------------------------------------------------------------------ the database
def expected_stats(manifest: Manifest) -> dict[str, TableStats]:
    return {t: TableStats(e.rows, e.checksum) for t, e in manifest.tables.items()}


def restore_database(target: Target, manifest: Manifest, keyring: Keyring, conn: pymysql.Connection, *,
                     endpoint: str, database: str, now: datetime, replace: bool) -> tuple[db.MigrationResult, list[TableCheck]]:
    """Import the dump through 02's staging-verify-swap into ``database``; then compare every
    table's rows and CHECKSUM TABLE with backup.json."""
    dump = f"{manifest.name}/{DATABASE_PREFIX}{manifest.database}.sql"
    with tempfile.TemporaryDirectory(prefix="harborbook-restore-") as tmp:
        path = Path(tmp) / "dump.sql"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out, target.reader(dump) as src:
            for block in decrypt(src, keyring, what=dump):
                out.write(block)
        result = db.migrate(db.DumpFile(path, database=manifest.database), conn, endpoint=endpoint, target=database,
                            now=now, replace=replace)
    checks = compare(expected_stats(manifest), measure(conn, database, server_tables(conn, database)))
    return result, checks


def drop_database(conn: pymysql.Connection, database: str, *, user: str, host: str) -> None:
    """Drop a scratch database and the Harbor user's grant on it (the grant outlives the DROP)."""
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db.names.quote_ident(database)}")
        with contextlib.suppress(pymysql.err.MySQLError):  # 1141: there was no such grant
            cur.execute(f"REVOKE ALL PRIVILEGES ON {db.names.quote_ident(database)}.* FROM {db.names.account(user, host)}")
