"""The source database's view of the registry: projects, repository rows and users.

Harbor 1.2 keeps a ``repository`` row per repository (the UI lists those, not the storage),
``project`` rows for the first path component, and its users with salted password hashes.
Before anything moves, the tree and the rows must agree: a row without a tree is a repository
the UI shows but nobody can pull; a tree without a row is invisible in the UI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from .. import db
from ..db.connection import query, wrap


@dataclass(frozen=True)
class SourceRows:
    projects: dict[str, int]  # name -> project_id (not deleted)
    repositories: dict[str, int]  # name -> project_id
    users: dict[str, tuple[str, str, int]]  # username -> (password hash, salt, deleted)


@dataclass
class Agreement:
    rows_without_tree: list[str] = field(default_factory=list)
    trees_without_row: list[str] = field(default_factory=list)
    trees_without_project: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not (self.rows_without_tree or self.trees_without_row or self.trees_without_project)


def compare(trees: Iterable[str], rows: SourceRows) -> Agreement:
    """Where the tree's repositories and the rows disagree (each list sorted)."""
    trees = set(trees)
    named = set(rows.repositories)
    return Agreement(
        rows_without_tree=sorted(named - trees),
        trees_without_row=sorted(trees - named),
        trees_without_project=sorted(t for t in trees if t.split("/", 1)[0] not in rows.projects or "/" not in t),
    )


def read(endpoint: db.Endpoint, login: db.Login, database: str) -> SourceRows:
    """Projects, repositories and users from a Harbor 1.2 database."""
    conn = db.connect(endpoint, login, database=database)
    try:
        projects = {str(n): int(i) for i, n in query(conn, "SELECT project_id, name FROM project WHERE deleted = 0")}
        repos = {str(n): int(p) for n, p in query(conn, "SELECT name, project_id FROM repository")}
        users = {str(u): (str(p or ""), str(s or ""), int(d)) for u, p, s, d in
                 query(conn, "SELECT username, password, salt, deleted FROM user")}
    except pymysql.err.MySQLError as exc:
        raise wrap(exc, endpoint, login, f"reading {database}'s projects, repositories and users") from None
    finally:
        conn.close()
    return SourceRows(projects, repos, users)


def differences(source: SourceRows, target: SourceRows) -> dict[str, Any]:
    """Repository rows and users (hash and salt) that differ between two databases.

    A source user without a salt never had a password set through Harbor: the seeded admin of a
    Harbor whose ui never started. The ui sets it from HARBOR_ADMIN_PASSWORD at its start, so it
    differs by design ("users reset"), not by a fault of the move.
    """
    differing = sorted(u for u, v in source.users.items() if u in target.users and target.users[u] != v)
    return {
        "repositories missing": sorted(set(source.repositories) - set(target.repositories)),
        "repositories moved": sorted(n for n, p in source.repositories.items()
                                     if n in target.repositories and target.repositories[n] != p),
        "users missing": sorted(set(source.users) - set(target.users)),
        "users changed": [u for u in differing if source.users[u][1]],
        "users reset": [u for u in differing if not source.users[u][1]],
    }
