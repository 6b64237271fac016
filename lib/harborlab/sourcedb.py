"""The source ``harbor_db``: a standalone MariaDB holding Harbor 1.2's ``registry`` database.

This is what the migration runbook dumps from. It gets the faithful 1.2 schema
and seed rows (data/harbor-1.2-schema.sql), then a deterministic sample load:
a few users, projects, members, repositories and ``access_log`` rows. The
access log can be made large (``access_log_rows``) for benchmarks, so it is
generated as a tab-separated file and loaded with LOAD DATA, not row by row.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

from harborlab.component import DEGRADED, DOWN, OK, RUNNING, STARTED, StatusRow
from harborlab.galera import (
    MARIADBD,
    connect,
    create_admin,
    initialised,
    install_datadir,
    prepare_folder,
    root_sql,
    server_cnf,
    socket_answers,
)

from harborlab.lab import generate_password

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "harbor-db"
USER = "harbor_src"
SECRET = "harbor-db-password"
DATABASE = "registry"
LOADED_MARK = "loaded"

# The sample load, as data. Users 1 and 2 (admin, anonymous) and project 1
# (library) come from the seed rows.
SAMPLE_USERS = [
    ("alice", "alice@example.com", "Alice Operator"),
    ("bob", "bob@example.com", "Bob Developer"),
    ("carol", "carol@example.com", "Carol Guest"),
]
SAMPLE_PROJECTS = [("harbor-k8s", 3, 0), ("team-web", 4, 1), ("team-data", 3, 0)]  # name, owner_id, public
SAMPLE_MEMBERS = [(2, 3, 1), (2, 4, 2), (3, 4, 1), (3, 5, 3), (4, 3, 1), (4, 5, 2)]  # project, user, role
SAMPLE_REPOSITORIES = [
    ("library/busybox", 1),
    ("library/nginx", 1),
    ("harbor-k8s/registry", 2),
    ("harbor-k8s/ui", 2),
    ("team-web/frontend", 3),
    ("team-web/api", 3),
    ("team-data/etl", 4),
]
OPERATIONS = ["push", "pull", "pull", "pull", "delete"]
LOG_EPOCH = dt.datetime(2017, 10, 1, 0, 0, 0)


def schema_sql() -> str:
    return resources.files("harborlab").joinpath("data/harbor-1.2-schema.sql").read_text()


def access_log_lines(count: int) -> Iterator[str]:
    """Deterministic access_log rows as LOAD DATA lines: row i is the same on every run."""
    users = ["admin"] + [u[0] for u in SAMPLE_USERS]
    for i in range(count):
        repo, project_id = SAMPLE_REPOSITORIES[i % len(SAMPLE_REPOSITORIES)]
        user = users[(i // 7) % len(users)]
        operation = OPERATIONS[i % len(OPERATIONS)]
        when = LOG_EPOCH + dt.timedelta(seconds=37 * i)
        yield f"{user}\t{project_id}\t{repo}\tv{i % 40}\t\\N\t{operation}\t{when:%Y-%m-%d %H:%M:%S}\n"


def load_access_log(cur, rows: int, scratch: Path) -> None:
    """LOAD DATA the first ``rows`` deterministic rows into access_log (a cursor on the source's
    registry database, opened with local_infile), through a file in ``scratch``."""
    data = scratch / "access_log.tsv"
    with open(data, "w") as out:
        out.writelines(access_log_lines(rows))
    try:
        cur.execute(
            f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE access_log"
            " FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
            " (username, project_id, repo_name, repo_tag, GUID, operation, op_time)"
        )
    finally:
        data.unlink(missing_ok=True)


def resize_access_log(cur, rows: int, scratch: Path) -> bool:
    """Make access_log hold exactly the first ``rows`` deterministic rows; False when it already
    does (same cursor requirements as :func:`load_access_log`)."""
    cur.execute("SELECT COUNT(*) FROM access_log")
    if cur.fetchone()[0] == rows:
        return False
    cur.execute("TRUNCATE TABLE access_log")
    load_access_log(cur, rows, scratch)
    return True


def sample_sql() -> str:
    """The small deterministic part of the load (users, projects, members, repositories)."""
    ts = LOG_EPOCH.strftime("%Y-%m-%d %H:%M:%S")
    users = ",\n".join(
        f"('{name}', '{mail}', '', '{real}', 'lab sample', 0, 0, '{ts}', '{ts}')" for name, mail, real in SAMPLE_USERS
    )
    projects = ",\n".join(f"({owner}, '{name}', '{ts}', '{ts}', {public})" for name, owner, public in SAMPLE_PROJECTS)
    members = ",\n".join(f"({p}, {u}, {r}, '{ts}', '{ts}')" for p, u, r in SAMPLE_MEMBERS)
    repos = ",\n".join(
        f"('{name}', {pid}, 'lab sample', {10 * (i + 1)}, {i % 3}, '{ts}', '{ts}')"
        for i, (name, pid) in enumerate(SAMPLE_REPOSITORIES)
    )
    return (
        "USE registry;\n"
        "INSERT INTO user (username, email, password, realname, comment, deleted, sysadmin_flag,"
        f" creation_time, update_time) VALUES\n{users};\n"
        f"INSERT INTO project (owner_id, name, creation_time, update_time, public) VALUES\n{projects};\n"
        f"INSERT INTO project_member (project_id, user_id, role, creation_time, update_time) VALUES\n{members};\n"
        "INSERT INTO repository (name, project_id, description, pull_count, star_count, creation_time,"
        f" update_time) VALUES\n{repos};\n"
    )


class SourceDb:
    name = NAME

    def planned_ports(self, lab: "Lab") -> list[int]:
        return [] if lab.pid(NAME) else [lab.ports["harbor-db"]]

    def folder(self, lab: "Lab") -> Path:
        return lab.path("harbor-db")

    def _connect(self, lab: "Lab", **extra):
        return connect(lab.host, lab.ports["harbor-db"], USER, lab.secret_value(SECRET), **extra)

    def up(self, lab: "Lab") -> str:
        if lab.pid(NAME):
            return RUNNING
        lab.secret(SECRET, generate_password)
        folder = self.folder(lab)
        if initialised(folder) and not (folder / LOADED_MARK).exists():
            # A load that died half-way: start over rather than trust it.
            shutil.rmtree(folder / "data")
        prepare_folder(folder)
        cnf = folder / "my.cnf"
        cnf.write_text(server_cnf(host=lab.host, port=lab.ports["harbor-db"], folder=folder, settings={}))
        fresh = not initialised(folder)
        if fresh:
            install_datadir(folder, cnf, lab.path("log", f"{NAME}-install.log"))
        lab.spawn(NAME, [MARIADBD, f"--defaults-file={cnf}"], user="mysql")
        socket = folder / "mysqld.sock"
        lab.wait_for(f"{NAME} (mysql on {lab.host}:{lab.ports['harbor-db']})", lambda: socket_answers(socket), 60, log=NAME)
        rows = int(lab.options.get("access_log_rows", 300))
        if fresh:
            self._load(lab, socket, rows)
        lab.record(
            NAME,
            {
                "host": lab.host,
                "port": lab.ports["harbor-db"],
                "user": USER,
                "database": DATABASE,
                "password_file": str(lab.secret(SECRET)),
                "pid": lab.pid(NAME),
                **({"access_log_rows": rows} if fresh else {}),
            },
        )
        return STARTED

    def _load(self, lab: "Lab", socket: Path, rows: int) -> None:
        # harbor_src is root-equivalent on the source, as the reference setup's root was.
        create_admin(socket, USER, lab.secret_value(SECRET))
        root_sql(socket, schema_sql() + sample_sql(), timeout=120)
        conn = self._connect(lab, database=DATABASE, local_infile=True, read_timeout=3600)
        try:
            with conn.cursor() as cur:
                load_access_log(cur, rows, self.folder(lab))
            conn.commit()
        finally:
            conn.close()
        (self.folder(lab) / LOADED_MARK).write_text(f"{rows}\n")

    def set_access_log_rows(self, lab: "Lab", rows: int) -> bool:
        """Make access_log hold exactly the first ``rows`` deterministic rows (tests and benchmarks
        resize it on a running lab); False when it already does."""
        conn = self._connect(lab, database=DATABASE, local_infile=True, read_timeout=3600, autocommit=True)
        try:
            with conn.cursor() as cur:
                return resize_access_log(cur, rows, self.folder(lab))
        finally:
            conn.close()

    def status(self, lab: "Lab") -> list[StatusRow]:
        pid = lab.pid(NAME)
        address = f"{lab.host}:{lab.ports['harbor-db']}"
        if pid is None:
            return [StatusRow(NAME, None, address, DOWN, "not running")]
        try:
            conn = self._connect(lab, database=DATABASE)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    answer = cur.fetchone()
            finally:
                conn.close()
        except pymysql.MySQLError as exc:
            return [StatusRow(NAME, pid, address, DEGRADED, f"SELECT 1 failed: {exc.args[0]}")]
        good = answer == (1,)
        return [StatusRow(NAME, pid, address, OK if good else DEGRADED, "SELECT 1" if good else repr(answer))]

    def down(self, lab: "Lab") -> None:
        lab.stop(NAME, timeout=30)
