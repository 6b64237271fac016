"""Throwaway backing services for the ui stand-in's own tests: a MariaDB and a Redis.

Each is a real server on loopback, in a private temporary directory, started as a child
process and stopped by its PID. The MariaDB holds a ``user`` table shaped like Harbor 1.2's
with its two seed rows (admin with an empty salt, anonymous deleted), which is all the ui
stand-in reads. Passwords go to 0600 files or SQL, never to a command line.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

USER_TABLE = """
CREATE TABLE `user` (
  `user_id` int(11) NOT NULL AUTO_INCREMENT,
  `username` varchar(255) DEFAULT NULL,
  `email` varchar(255) DEFAULT NULL,
  `password` varchar(40) NOT NULL,
  `realname` varchar(255) NOT NULL,
  `comment` varchar(30) DEFAULT NULL,
  `deleted` tinyint(1) NOT NULL DEFAULT 0,
  `reset_uuid` varchar(40) DEFAULT NULL,
  `salt` varchar(40) DEFAULT NULL,
  `sysadmin_flag` tinyint(1) DEFAULT NULL,
  `creation_time` timestamp NULL DEFAULT NULL,
  `update_time` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`user_id`),
  UNIQUE KEY `username` (`username`),
  UNIQUE KEY `email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8
"""
USER_SEED = """
INSERT INTO `user` (user_id, username, email, password, realname, comment, deleted, sysadmin_flag,
                    creation_time, update_time, salt) VALUES
 (1, 'admin', 'admin@example.com', '', 'system admin', 'admin user', 0, 1, NOW(), NOW(), ''),
 (2, 'anonymous', 'anonymous@example.com', '', 'anonymous user', 'anonymous user', 1, 0, NOW(), NOW(), '')
"""


def free_port(first: int, last: int, host: str = "127.0.0.1") -> int:
    """The first port in ``first..last`` nobody listens on (a race is possible; retry on clash)."""
    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last} on {host}")


def wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode}: {tail}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def stop_pid(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM this one process, wait, SIGKILL if it will not go."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


@dataclass
class PrivateMariaDB:
    """A MariaDB server with a ``registry`` database holding Harbor 1.2's ``user`` table."""

    base: Path
    port: int = 0
    database: str = "registry"
    user: str = "harbor"
    password: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.base / "mysqld.sock"

    def start(self, ports: tuple[int, int] = (13500, 13599)) -> "PrivateMariaDB":
        mysql = pwd.getpwnam("mysql")
        self.base.mkdir(parents=True, exist_ok=True)
        os.chown(self.base, mysql.pw_uid, mysql.pw_gid)
        datadir = self.base / "data"
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )
        self.port = self.port or free_port(*ports)
        defaults = self.base / "my.cnf"
        defaults.write_text(
            "[mysqld]\n"
            f"datadir={datadir}\nsocket={self.socket_path}\nport={self.port}\n"
            f"bind-address=127.0.0.1\npid-file={self.base / 'mysqld.pid'}\n"
            f"log-error={self.base / 'error.log'}\nuser=mysql\nskip-name-resolve\n"
            "innodb_buffer_pool_size=16M\nperformance_schema=OFF\nskip-log-bin\n"
        )
        self.proc = subprocess.Popen(
            ["mariadbd", f"--defaults-file={defaults}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            wait_for_port("127.0.0.1", self.port, self.proc, 60, self.base / "error.log")
            self._seed()
        except BaseException:
            self.stop()
            raise
        return self

    def admin(self):
        """A connection as root over the socket (socket auth: we are root)."""
        return pymysql.connect(unix_socket=str(self.socket_path), user="root", autocommit=True)

    def _seed(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{self.database}` DEFAULT CHARACTER SET utf8")
                cur.execute(f"CREATE USER '{self.user}'@'%%' IDENTIFIED BY %s", (self.password,))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{self.database}`.* TO '{self.user}'@'%'")
                cur.execute(f"USE `{self.database}`")
                cur.execute(USER_TABLE)
                cur.execute(USER_SEED)
        finally:
            conn.close()

    def env(self) -> dict[str, str]:
        """The adminserver's ``MYSQL_*`` settings pointing at this server."""
        return {
            "MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": str(self.port), "MYSQL_USR": self.user,
            "MYSQL_PWD": self.password, "MYSQL_DATABASE": self.database,
        }

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc, timeout=30)
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class PrivateRedis:
    """A redis-server with ``requirepass``, no persistence."""

    base: Path
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, ports: tuple[int, int] = (13600, 13699)) -> "PrivateRedis":
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(*ports)
        conf = self.base / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\nsave \"\"\n"
            f"appendonly no\ndir {self.base}\ndaemonize no\nlogfile {self.base / 'redis.log'}\n"
        )
        self.proc = subprocess.Popen(
            ["redis-server", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port("127.0.0.1", self.port, self.proc, 20, self.base / "redis.log")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


class Processes:
    """Programs started from launches (``harborlab.programs``), each stopped by its own PID."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def run(self, name: str, launch, timeout: float = 30.0) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        proc = launch.start(log)
        self.running[name] = proc
        launch.wait_ready(proc, timeout, log)
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is not None:
            stop_pid(proc)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def loopback_block() -> str:
    """A random ``127.79.X.`` prefix, so concurrent test runs do not share pod addresses."""
    return f"127.79.{secrets.randbelow(250) + 1}."
