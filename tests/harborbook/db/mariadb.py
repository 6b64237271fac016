"""A private, throwaway mariadbd for the db tests: own datadir, loopback port, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql

ADMIN_USER = "hbtest_admin"
PORTS = range(13400, 13500)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 13400-13499")


class PrivateMariaDB:
    def __init__(self, root: Path, password: str):
        self.root = root
        self.password = password
        self.datadir = root / "data"
        self.port = free_port()
        self.cnf = root / "my.cnf"
        self.proc: subprocess.Popen | None = None

    def install(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "mysql", "mysql")
        self.cnf.write_text(
            "[mariadbd]\n"
            f"datadir={self.datadir}\nsocket={self.root}/sock\npid-file={self.root}/pid\n"
            f"port={self.port}\nbind-address=127.0.0.1\nskip-name-resolve\nskip-log-bin\n"
            "innodb_buffer_pool_size=256M\ninnodb_log_file_size=256M\n"
            "innodb_flush_log_at_trx_commit=2\nmax_allowed_packet=64M\n"
            f"log-error={self.root}/error.log\n"
            f"init-file={self.root}/init.sql\n")
        (self.root / "init.sql").write_text(
            f"CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'127.0.0.1' IDENTIFIED BY "
            f"'{self.password}';\nGRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'127.0.0.1' "
            "WITH GRANT OPTION;\n")
        os.chmod(self.root / "init.sql", 0o600)
        shutil.chown(self.root / "init.sql", "mysql", "mysql")
        subprocess.run(["mariadb-install-db", f"--defaults-file={self.cnf}", "--user=mysql",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True)

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(["mariadbd", f"--defaults-file={self.cnf}", "--user=mysql"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + (self.root / "error.log").read_text()[-2000:])
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user=ADMIN_USER,
                                password=self.password, connect_timeout=2).close()
                return
            except pymysql.err.MySQLError:
                time.sleep(0.2)
        raise RuntimeError("mariadbd did not answer in time")

    def kill(self) -> None:
        """SIGKILL, like a node that dies (crash recovery on the next start)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user=ADMIN_USER,
                               password=self.password, database=database, autocommit=True,
                               charset="utf8mb4")
