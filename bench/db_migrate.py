"""Runbook 02's migration against the reference `mariadb-dump | rename | mariadb`, same data and target.

    .venv/bin/python bench/db_migrate.py --state .lab --rows 1000000 --runs 3

Ours is ``harborbook.db.migrate`` with a ``SourceServer`` and a gzip artifact, exactly what the
``database.migrate`` step of 02-database calls: dump, rename, staged import, verification
(rows, CHECKSUM TABLE of source and staging, seed rows), atomic swap. The baseline is the
reference procedure: ``mariadb-dump --single-transaction --databases registry``, the rename of
the database in CREATE DATABASE / USE lines (sed), piped into the ``mariadb`` client; it verifies
nothing. Both load the lab's source ``registry`` into the same database on the first Galera
node, alternately, the target dropped (untimed) before every run.

Peak RSS is each process's VmHWM (the kernel's high-water mark of its resident set), sampled
every 20 ms over the whole process tree of a side: ours runs in a fresh worker process (so the
peak is this run's alone) with the mariadb-dump it spawns; the baseline is the three pipeline
processes. Not ``wait4``'s ru_maxrss: it keeps the high-water mark of the forking Python's image
from before ``exec``, so every child would report at least its parent's size. A side's figure
is the sum of its processes' peaks (an upper bound: they run at the same time). The database
servers' memory is the same on both sides and not counted. Goal: ratio <= 1.0, ours under 300 MB
whatever the row count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, env_note, median, table  # noqa: E402

import pymysql  # noqa: E402

from harborbook import db  # noqa: E402
from harborbook.db.source import dumper  # noqa: E402

TARGET = "registry_bench"
RSS_GOAL_MB = 300


@dataclass(frozen=True)
class Server:
    """One MySQL endpoint of the lab and who may log in (the password stays in its file)."""

    host: str
    port: int
    user: str
    password_file: Path

    @property
    def endpoint(self) -> db.Endpoint:
        return db.Endpoint(self.host, self.port)

    @property
    def login(self) -> db.Login:
        return db.Login(self.user, self.password_file.read_text(encoding="utf-8").strip())

    def connect(self, **extra) -> pymysql.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password_file.read_text(encoding="utf-8").strip(),
                               autocommit=True, charset="utf8mb4", **extra)


def lab_servers(state: Path) -> tuple[Server, Server]:
    """(source harbor_db, first Galera node) from the lab's lab.json."""
    lab = json.loads((state / "lab.json").read_text())
    src, galera = lab["harbor-db"], lab["galera"]
    node = galera["nodes"][0]
    return (Server(src["host"], src["port"], src["user"], Path(src["password_file"])),
            Server(node["host"], node["port"], galera["user"], Path(galera["password_file"])))


def ensure_rows(source: Server, rows: int) -> bool:
    """Make the source's access_log hold exactly ``rows`` rows (the lab's deterministic rows)."""
    from harborlab.sourcedb import resize_access_log  # the lab's own generator: same data as lab up

    conn = source.connect(database="registry", local_infile=True, read_timeout=3600)
    try:
        with conn.cursor() as cur, tempfile.TemporaryDirectory(prefix="hb-bench-") as scratch:
            return resize_access_log(cur, rows, Path(scratch))
    finally:
        conn.close()


def drop_target(target: Server, name: str) -> None:
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            for database in (name, db.staging_name(name)):
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()


def target_rows(target: Server, name: str) -> int:
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{name}`.access_log")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


@contextlib.contextmanager
def defaults_file(server: Server) -> Iterator[Path]:
    """A 0600 client option file with the password, in a private temp dir (never on argv)."""
    with tempfile.TemporaryDirectory(prefix="hb-bench-") as tmp:
        path = Path(tmp) / "client.cnf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        secret = server.password_file.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(f'[client]\nuser="{server.user}"\npassword="{secret}"\n')
        yield path


class PeakSampler:
    """Per-process VmHWM of a process tree, sampled in a thread until stopped (MB by name)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.roots: list[int] = []
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def watch(self, pid: int) -> None:
        self.roots.append(pid)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for pid in tree(list(self.roots)):
            status = _status(pid)
            if status and "VmHWM" in status:  # kernel threads and zombies have none
                mb = int(status["VmHWM"].split()[0]) / 1024
                name = status.get("Name", "?")
                if mb >= self.peaks.get(pid, ("", 0.0))[1]:
                    self.peaks[pid] = (name, mb)

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, mb in self.peaks.values():
            out[name] = out.get(name, 0.0) + mb
        return out


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def tree(roots: list[int]) -> list[int]:
    """The pids of roots and all their descendants (from /proc/<pid>/task/*/children)."""
    seen, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        seen.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return seen


def rename_command(source_db: str, target_db: str) -> list[str]:
    """The reference rename: only CREATE DATABASE and USE lines change (a blind replace is wrong)."""
    old, new = f"`{source_db}`", f"`{target_db}`"
    return ["sed", "-e", f"/^CREATE DATABASE/s/{old}/{new}/", "-e", f"/^USE /s/{old}/{new}/"]


def baseline(source: Server, target: Server, name: str) -> dict:
    """mariadb-dump --single-transaction --databases registry | sed | mariadb, timed end to end."""
    with defaults_file(source) as src_cnf, defaults_file(target) as dst_cnf:
        dump = [dumper(), f"--defaults-extra-file={src_cnf}", f"--host={source.host}",
                f"--port={source.port}", "--protocol=tcp", "--single-transaction",
                "--databases", "registry"]
        client = ["mariadb", f"--defaults-extra-file={dst_cnf}", f"--host={target.host}",
                  f"--port={target.port}", "--protocol=tcp"]
        with PeakSampler() as sampler:
            started = time.perf_counter()
            p1 = subprocess.Popen(dump, stdout=subprocess.PIPE)
            p2 = subprocess.Popen(rename_command("registry", name), stdin=p1.stdout,
                                  stdout=subprocess.PIPE)
            p1.stdout.close()  # now sed's alone: mariadb-dump gets SIGPIPE if sed dies
            p3 = subprocess.Popen(client, stdin=p2.stdout)
            p2.stdout.close()
            for proc in (p1, p2, p3):
                sampler.watch(proc.pid)
            codes = [p.wait() for p in (p3, p2, p1)]
            seconds = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"the baseline pipeline failed: exit codes client/sed/dump = {codes}")
    peaks = sampler.by_name()
    return {"seconds": seconds, "rss_mb": sum(peaks.values()), "peaks": peaks}


def ours(state: Path, name: str, artifact: bool, connections: int | None = None) -> dict:
    """harborbook.db.migrate in a fresh worker process (so its peak RSS is this run's alone)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", "--state", str(state),
            "--target", name] + ([] if artifact else ["--no-artifact"])
    if connections:
        argv += ["--connections", str(connections)]
    with PeakSampler() as sampler:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=ROOT)
        sampler.watch(proc.pid)
        out = proc.stdout.read()
        proc.stdout.close()
        code = proc.wait()
    if code:
        raise RuntimeError(f"the migration worker failed (exit {code})")
    report = json.loads(out)
    report["peaks"] = sampler.by_name()
    report["rss_mb"] = sum(report["peaks"].values())
    return report


def galera_conflicts(conn: pymysql.Connection) -> dict[str, int]:
    """The target node's certification failures and brute-force aborts so far (wsrep status)."""
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                    "('wsrep_local_cert_failures', 'wsrep_local_bf_aborts')")
        return {str(k): int(v) for k, v in cur.fetchall()}


def worker(state: Path, name: str, artifact: bool, connections: int | None = None) -> int:
    """The runbook step's call, timed; prints one JSON line (no secret in it)."""
    from datetime import datetime, timezone

    source, target = lab_servers(state)
    src = db.SourceServer(source.endpoint, db.Login(source.user, source.login.reveal(),
                                                     field="database.source.password"))
    conn = db.connect(target.endpoint, target.login, read_timeout=3600)
    galera_before = galera_conflicts(conn)
    with tempfile.TemporaryDirectory(prefix="hb-bench-") as tmp:
        started = time.perf_counter()
        result = db.migrate(src, conn, endpoint=str(target.endpoint), target=name,
                            now=datetime.now(timezone.utc),
                            artifact=Path(tmp) / "registry.sql.gz" if artifact else None,
                            **({"connections": connections} if connections else {}))
        seconds = time.perf_counter() - started
    galera_after = galera_conflicts(conn)
    conn.close()
    if not all(c.ok for c in result.checks):
        raise SystemExit("the migration's own verification failed")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "timings": result.timings, "rows": result.rows_loaded,
                      "retries": result.retries,
                      "galera": {k: galera_after[k] - galera_before[k] for k in galera_after},
                      "python_cpu_s": cpu.ru_utime + cpu.ru_stime}))
    return 0


SIDES = ("ours", "ours-no-artifact", "baseline")


def side_connections(side: str) -> tuple[str, int | None]:
    """'ours@4' -> ('ours', 4): a side of ours with that many loader connections."""
    name, _, count = side.partition("@")
    return name, int(count) if count else None


def measure(state: Path, rows: int, runs: int, sides: tuple[str, ...]) -> dict:
    source, target = lab_servers(state)
    if ensure_rows(source, rows):
        print(f"loaded {rows} access_log rows into the source", flush=True)
    results: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(runs):  # alternating: drift on this shared machine hits both sides alike
        for side in sides:
            drop_target(target, TARGET)
            kind, connections = side_connections(side)
            run = (baseline(source, target, TARGET) if side == "baseline"
                   else ours(state, TARGET, artifact=kind == "ours", connections=connections))
            copied = target_rows(target, TARGET)
            if copied != rows:
                raise RuntimeError(f"{side}: {copied} access_log rows in the target, expected {rows}")
            results[side].append(run)
            print(side, json.dumps(run), flush=True)
    drop_target(target, TARGET)
    return results


def summary(rows: int, results: dict[str, list[dict]]) -> list[dict]:
    """One table row per side of ours, each against the baseline's median."""
    base = results["baseline"]
    t_base = median([r["seconds"] for r in base])
    out = []
    for side in (s for s in results if s != "baseline"):
        mine = results[side]
        t_ours = median([r["seconds"] for r in mine])
        phases = {k: median([r["timings"][k] for r in mine]) for k in mine[0]["timings"]}
        rss_ours = max(r["rss_mb"] for r in mine)
        connections = side_connections(side)[1] or db.DEFAULT_CONNECTIONS
        out.append({"access_log rows": f"{rows:,}", "side": side.partition("@")[0],
                    "ours (median s)": f"{t_ours:.2f}",
                    "baseline (median s)": f"{t_base:.2f}", "ratio": f"{t_ours / t_base:.2f}",
                    "ours import/verify/swap (s)": "/".join(f"{phases.get(k, 0):.2f}"
                                                            for k in ("import", "verify", "swap")),
                    "ours peak RSS (MB)": f"{rss_ours:.0f}",
                    "baseline peak RSS (MB)": f"{max(r['rss_mb'] for r in base):.0f}",
                    "loader connections": connections,
                    "goal met": "yes" if t_ours <= t_base and rss_ours < RSS_GOAL_MB else "no"})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, default=ROOT / ".lab", help="the lab's state directory")
    ap.add_argument("--rows", default="1000000", help="access_log rows (comma-separated for several sizes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sides", default="ours,baseline",
                    help=f"comma-separated, among {', '.join(SIDES)} (ours-no-artifact: without the "
                         "gzip artifact the runbook keeps, to see its cost); ours@N: with N loader "
                         "connections instead of the default")
    ap.add_argument("--connections", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-artifact", dest="artifact", action="store_false", help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--target", default=TARGET, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    state = args.state.resolve()
    if args.worker:
        return worker(state, args.target, args.artifact, args.connections)
    sides = tuple(s.strip() for s in args.sides.split(","))
    if ("baseline" not in sides or not {side_connections(s)[0] for s in sides} <= set(SIDES)
            or len(sides) < 2):
        ap.error(f"--sides: the baseline and at least one of ours, among {', '.join(SIDES)}")
    lines = []
    for rows in [int(n.replace("_", "")) for n in args.rows.split(",")]:
        lines += summary(rows, measure(state, rows, args.runs, sides))
        print(lines[-1], flush=True)
    print(f"\n{env_note()}, {args.runs} runs each, alternating; target on the first Galera node\n")
    print(table(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
