"""The external DB cluster: three MariaDB Galera nodes on loopback ports.

Also home of the MariaDB server plumbing the source harbor_db reuses: the
config file (always passed with --defaults-file so /etc/mysql is never read),
datadir initialisation, root SQL over the unix socket, and a pymysql probe.

mariadbd runs as user ``mysql``: the rsync SST helper drops to nobody and
fails when the server runs as root.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

from harborlab.component import DEGRADED, DOWN, OK, STARTED, StatusRow, up_result
from harborlab.lab import LabError, generate_password

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "galera"
ADMIN_USER = "harborbook_admin"
SECRET = "galera-admin-password"
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
NODES = (1, 2, 3)
MARIADBD = "/usr/sbin/mariadbd"

# Small memory settings: three nodes plus the source DB share a 2-core box.
SMALL_SERVER = {
    "innodb_buffer_pool_size": "32M",
    "innodb_log_file_size": "16M",
    "performance_schema": "OFF",
    "max_connections": "60",
    "key_buffer_size": "1M",
    "skip_name_resolve": "ON",
    "character_set_server": "utf8mb3",
    "collation_server": "utf8mb3_general_ci",
}


class DbError(LabError):
    """Raised by root SQL; the message never contains the SQL text (it may hold passwords)."""


# -- the MariaDB server plumbing (shared with sourcedb) ---------------------------


def server_cnf(*, host: str, port: int, folder: Path, settings: dict[str, str]) -> str:
    """A complete [mysqld] config for one server living in folder."""
    base = {
        "datadir": str(folder / "data"),
        "socket": str(folder / "mysqld.sock"),
        "pid_file": str(folder / "mysqld.pid"),
        "bind_address": host,
        "port": str(port),
        "log_error": str(folder / "error.log"),
        "tmpdir": str(folder / "tmp"),
        **SMALL_SERVER,
        **settings,
    }
    return "[mysqld]\n" + "".join(f"{key} = {value}\n" for key, value in base.items())


def mysql_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("mysql")
    return entry.pw_uid, entry.pw_gid


def prepare_folder(folder: Path) -> None:
    """The server's folder, datadir and tmpdir, owned by mysql."""
    require_traversable(folder.parent)
    uid, gid = mysql_ids()
    for sub in (folder, folder / "data", folder / "tmp"):
        sub.mkdir(parents=True, exist_ok=True)
        shutil.chown(sub, uid, gid)
        sub.chmod(0o750 if sub != folder else 0o755)


def require_traversable(folder: Path) -> None:
    """mariadbd runs as mysql: every folder above its data must let other users through."""
    for parent in [folder, *folder.parents]:
        if not parent.exists():
            continue  # created below with the lab's own modes
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            raise LabError(f"{parent} is not traversable by other users (mode {mode & 0o777:o}): the lab's MariaDB "
                           "servers run as user mysql and could not reach their data under it",
                           hint=f"chmod o+x {parent}, or put the lab state elsewhere (--state /var/tmp/harborbook-lab)")


def initialised(folder: Path) -> bool:
    return (folder / "data" / "mysql").is_dir()


def install_datadir(folder: Path, cnf: Path, log: Path) -> None:
    """mariadb-install-db into an empty datadir (no test db, root by unix socket only)."""
    argv = [
        "/usr/bin/mariadb-install-db",
        f"--defaults-file={cnf}",
        "--user=mysql",
        "--skip-test-db",
        "--auth-root-authentication-method=socket",
        "--wsrep-on=OFF",
    ]
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0:
        raise DbError(f"mariadb-install-db failed for {folder} (exit {done.returncode}); see {log}")


def root_sql(socket: Path, sql: str, timeout: float = 60) -> str:
    """Run SQL as root over the unix socket (fed on stdin so it never shows in ps)."""
    argv = ["/usr/bin/mariadb", "--no-defaults", f"--socket={socket}", "-uroot", "--batch", "--skip-column-names"]
    done = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise DbError(f"root SQL on {socket} failed: {refusal(done.stderr, done.returncode)}")
    return done.stdout


def refusal(stderr: str, returncode: int) -> str:
    """The client's first error line, cut where its first quotation opens: a quotation may echo
    the SQL (a syntax error's ``near '...'``), and the SQL may hold a password hash. (An
    apostrophe inside a word, as in "Can't", opens none.)"""
    lines = stderr.strip().splitlines()
    if not lines:
        return f"exit {returncode}, nothing on stderr"
    first = lines[0]
    quoted = re.search(r"(?:^|\s)'", first)
    return first[: quoted.start()].rstrip() + " …" if quoted else first


def root_sql_until_accepted(socket: Path, sql: str, within: float = 60) -> str:
    """root_sql, again every half second while the server refuses it, up to within seconds.

    For idempotent SQL right after a start: a node that just answered its first
    SELECT can still refuse a replicated statement for a moment under load.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            return root_sql(socket, sql)
        except DbError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def socket_answers(socket: Path) -> bool:
    try:
        return root_sql(socket, "SELECT 1;", timeout=5).strip() == "1"
    except (DbError, subprocess.TimeoutExpired):
        return False


def connect(host: str, port: int, user: str, password: str, database: str | None = None, **extra):
    settings = {"connect_timeout": 3, "read_timeout": 10, "write_timeout": 10, **extra}
    return pymysql.connect(host=host, port=port, user=user, password=password, database=database, **settings)


def native_password_hash(password: str) -> str:
    """mysql_native_password's stored form: '*' + SHA1(SHA1(password)) in upper-case hex."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def superuser_sql(user: str, password: str) -> str:
    """An all-privileges account for TCP clients; the anonymous account goes (it shadows '%').

    The password is sent already hashed: a plain ``IDENTIFIED BY '<value>'`` is
    kept verbatim in Galera's write-set cache (galera.cache) on every node.
    """
    hashed = native_password_hash(password)
    return "DROP USER IF EXISTS ''@'localhost';\n" + "".join(
        f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY PASSWORD '{hashed}';\n"
        f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}' WITH GRANT OPTION;\n"
        for host in ("%", "localhost")
    )


def create_admin(socket: Path, user: str, password: str) -> None:
    root_sql_until_accepted(socket, superuser_sql(user, password))


# -- Galera ----------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    index: int
    port: int
    gcomm: int
    ist: int
    sst: int

    @property
    def name(self) -> str:
        return f"galera-{self.index}"


def nodes_from(ports: dict[str, int]) -> list[Node]:
    return [
        Node(i, ports[f"galera-{i}-mysql"], ports[f"galera-{i}-gcomm"], ports[f"galera-{i}-ist"], ports[f"galera-{i}-sst"])
        for i in NODES
    ]


def wsrep_settings(node: Node, cluster: list[Node], host: str) -> dict[str, str]:
    address = ",".join(f"{host}:{peer.gcomm}" for peer in cluster)
    return {
        "binlog_format": "ROW",
        "default_storage_engine": "InnoDB",
        "innodb_autoinc_lock_mode": "2",
        "wsrep_on": "ON",
        "wsrep_provider": PROVIDER,
        "wsrep_cluster_name": "harborlab",
        "wsrep_cluster_address": f"gcomm://{address}",
        "wsrep_node_name": node.name,
        "wsrep_node_address": f"{host}:{node.gcomm}",
        "wsrep_node_incoming_address": f"{host}:{node.port}",
        "wsrep_sst_method": "rsync",
        "wsrep_sst_receive_address": f"{host}:{node.sst}",
        "wsrep_provider_options": (
            f'"gmcast.listen_addr=tcp://{host}:{node.gcomm};ist.recv_addr={host}:{node.ist};'
            'gcache.size=32M;pc.recovery=FALSE"'
        ),
    }


def parse_grastate(text: str) -> dict[str, str]:
    state = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            state[key.strip()] = value.strip()
    return state


def choose_bootstrap(states: dict[int, dict[str, str]]) -> int:
    """The node to restart a stopped cluster from: the one marked safe, else the highest seqno.

    A clean shutdown marks the last node out safe_to_bootstrap: 1. After a crash
    none is marked and the most advanced node (highest seqno) must lead, or
    committed transactions are lost. Ties go to the lowest index.
    """
    safe = [i for i, s in sorted(states.items()) if s.get("safe_to_bootstrap") == "1"]
    if safe:
        return safe[0]
    if not states:
        return min(NODES)
    return max(sorted(states), key=lambda i: int(states[i].get("seqno", "-1") or -1))


def mark_safe(grastate: Path) -> None:
    text = grastate.read_text()
    grastate.write_text(re.sub(r"safe_to_bootstrap:\s*\d", "safe_to_bootstrap: 1", text))


def classify(size: int | None, state: str | None, expected: int) -> tuple[str, str]:
    """Health of one node from wsrep_cluster_size and wsrep_local_state_comment."""
    if size is None:
        return DEGRADED, "no answer to the wsrep probe"
    detail = f"wsrep_cluster_size={size} {state}"
    return (OK if size == expected and state == "Synced" else DEGRADED), detail


class Galera:
    name = NAME

    def planned_ports(self, lab: "Lab") -> list[int]:
        ports = []
        for node in nodes_from(lab.ports):
            if lab.pid(node.name) is None:
                ports += [node.port, node.gcomm, node.ist, node.sst]
        return ports

    def folder(self, lab: "Lab", node: Node) -> Path:
        return lab.path("galera", node.name)

    def _write_cnf(self, lab: "Lab", node: Node) -> Path:
        folder = self.folder(lab, node)
        prepare_folder(folder)
        cnf = folder / "my.cnf"
        settings = wsrep_settings(node, nodes_from(lab.ports), lab.host)
        cnf.write_text(server_cnf(host=lab.host, port=node.port, folder=folder, settings=settings))
        return cnf

    def _wsrep(self, lab: "Lab", node: Node) -> tuple[int | None, str | None]:
        try:
            conn = connect(lab.host, node.port, ADMIN_USER, lab.secret_value(SECRET))
        except pymysql.MySQLError:
            return None, None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment')")
                found = dict(cur.fetchall())
        except pymysql.MySQLError:
            return None, None
        finally:
            conn.close()
        size = found.get("wsrep_cluster_size")
        return (int(size) if size else None), found.get("wsrep_local_state_comment")

    def _start(self, lab: "Lab", node: Node, *, bootstrap: bool) -> None:
        cnf = self._write_cnf(lab, node)
        folder = self.folder(lab, node)
        if bootstrap and not initialised(folder):
            install_datadir(folder, cnf, lab.path("log", f"{node.name}-install.log"))
        argv = [MARIADBD, f"--defaults-file={cnf}"] + (["--wsrep-new-cluster"] if bootstrap else [])
        lab.spawn(node.name, argv, user="mysql")
        socket = folder / "mysqld.sock"
        # An SST of the lab's small datadir takes a few seconds; allow for a slow box.
        lab.wait_for(f"{node.name} (mysql on {lab.host}:{node.port})", lambda: socket_answers(socket), 90, log=node.name)
        if bootstrap:
            create_admin(socket, ADMIN_USER, lab.secret_value(SECRET))
        lab.wait_for(
            f"{node.name} to reach Synced",
            lambda: self._wsrep(lab, node)[1] == "Synced",
            90,
            log=node.name,
        )

    def up(self, lab: "Lab") -> str:
        lab.secret(SECRET, generate_password)
        nodes = nodes_from(lab.ports)
        dead = [n for n in nodes if lab.pid(n.name) is None]
        result = up_result(len(nodes) - len(dead), len(nodes))
        if result == STARTED:
            first = self._bootstrap_node(lab, nodes)
            self._start(lab, first, bootstrap=True)
            for node in nodes:
                if node is not first:
                    self._start(lab, node, bootstrap=False)
        else:
            # The cluster lives: each dead node rejoins it (IST or SST), one at a time.
            for node in dead:
                self._start(lab, node, bootstrap=False)
        lab.record(
            NAME,
            {
                "nodes": [
                    {"name": n.name, "host": lab.host, "port": n.port, "pid": lab.pid(n.name)} for n in nodes
                ],
                "user": ADMIN_USER,
                "password_file": str(lab.secret(SECRET)),
            },
        )
        return result

    def _bootstrap_node(self, lab: "Lab", nodes: list[Node]) -> Node:
        states = {}
        for node in nodes:
            grastate = self.folder(lab, node) / "data" / "grastate.dat"
            if grastate.exists():
                states[node.index] = parse_grastate(grastate.read_text())
        index = choose_bootstrap(states)
        chosen = next(n for n in nodes if n.index == index)
        grastate = self.folder(lab, chosen) / "data" / "grastate.dat"
        if grastate.exists():
            mark_safe(grastate)
        return chosen

    def status(self, lab: "Lab") -> list[StatusRow]:
        rows = []
        for node in nodes_from(lab.ports):
            pid = lab.pid(node.name)
            address = f"{lab.host}:{node.port}"
            if pid is None:
                rows.append(StatusRow(node.name, None, address, DOWN, "not running"))
                continue
            health, detail = classify(*self._wsrep(lab, node), expected=len(NODES))
            rows.append(StatusRow(node.name, pid, address, health, detail))
        return rows

    def down(self, lab: "Lab") -> None:
        # Last one out is marked safe_to_bootstrap, so the next up restarts from it.
        for node in reversed(nodes_from(lab.ports)):
            lab.stop(node.name, timeout=30)
