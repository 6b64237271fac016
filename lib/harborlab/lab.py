"""The lab: one state directory, the daemons started in it, and the components that own them.

Layout of the state directory (the contract other lab parts code against):

    lab.json           connection details, no secret values
    secrets/<name>     one secret per file, 0600 (directory 0700)
    run/<name>.pid     pid files of the daemons the lab started
    log/<name>.log     their stdout/stderr
    kubeconfig         written by the kube API server component
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets as pysecrets
import shutil
import string
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harborlab.errors import LabError, NotRootError
from harborlab.requirements import check_programs
from harborlab import procs
from harborlab.component import DOWN, RUNNING, STARTED, Component, StatusRow  # noqa: F401 - re-exported

PROFILES = ("article", "modern")

# Every fixed loopback port the lab binds, in one table (override with
# Lab(..., ports={"redis": 26379})). Ceph's mgr/osd/mds take free ports from
# ms_bind_port range 16800-16900.
PORTS: dict[str, int] = {
    "ceph-mon-v2": 13300,
    "ceph-mon-v1": 16789,
    "ceph-ms-min": 16800,
    "ceph-ms-max": 16900,
    "galera-1-mysql": 13306,
    "galera-2-mysql": 13307,
    "galera-3-mysql": 13308,
    "galera-1-gcomm": 14567,
    "galera-2-gcomm": 14577,
    "galera-3-gcomm": 14587,
    "galera-1-ist": 14568,
    "galera-2-ist": 14578,
    "galera-3-ist": 14588,
    "galera-1-sst": 14444,
    "galera-2-sst": 14454,
    "galera-3-sst": 14464,
    "harbor-db": 13316,
    "redis": 16379,
    "kube-apiserver": 16443,
    "radosgw": 17480,
    "legacy-registry": 15000,
    "legacy-ssh": 15022,
}

HOST = "127.0.0.1"


def shifted_ports(offset: int) -> dict[str, int]:
    """Every lab port moved by offset: a second lab beside the first (tests, side-by-side runs)."""
    return {name: port + offset for name, port in PORTS.items()}


# Secrets no lab service uses but params/sandbox.yaml references: in a real
# environment the operator chooses them; here the lab invents them once (0600).
OPERATOR_SECRETS = ("harbor-admin-password", "harbor-db-user-password", "backup-key")

DEFAULT_OPTIONS: dict = {"access_log_rows": 300, "synthetic_nodes": 0, "legacy_images": 24}


def check_root(euid: int) -> None:
    if euid != 0:
        # One line, no hint: this is the whole story.
        raise NotRootError("the lab needs root (fuse mounts, loop mounts, service users): run it as root")


def why_unavailable(euid: int | None = None,
                    exists: Callable[[str], bool] = os.path.exists) -> str | None:
    """Why the lab cannot run on this machine, in one line (tests skip with it), or None."""
    try:
        check_root(os.geteuid() if euid is None else euid)
        check_programs(exists)
    except LabError as exc:
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return None


def generate_password(length: int = 24) -> str:
    """Alphanumeric only: safe in every connection string we write (no comma, colon, quote)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(pysecrets.choice(alphabet) for _ in range(length))


def default_components() -> list[Component]:
    # Imported here so `harborlab.lab` stays importable (and unit-testable)
    # without pulling in every service module.
    from harborlab.ceph import Ceph
    from harborlab.galera import Galera
    from harborlab.kube.component import KubeApiServer
    from harborlab.legacy import LegacyHarbor
    from harborlab.nodes import NodeRoots
    from harborlab.redisd import Redis
    from harborlab.rgw import Radosgw
    from harborlab.sourcedb import SourceDb

    # The node roots come before the API server: its kubelet simulators live on them.
    # The legacy Harbor writes its rows into the source database: after it.
    # radosgw (the S3 backup target) stores its objects in the Ceph cluster, so it follows Ceph.
    return [Ceph(), Radosgw(), Galera(), SourceDb(), LegacyHarbor(), Redis(), NodeRoots(), KubeApiServer()]


class Lab:
    """The lab rooted at one state directory."""

    def __init__(
        self,
        state: Path | str,
        profile: str = "article",
        *,
        components: Sequence[Component] | None = None,
        ports: dict[str, int] | None = None,
        **options,
    ):
        if profile not in PROFILES:
            raise LabError(f"unknown lab profile {profile!r}", hint=f"use one of: {', '.join(PROFILES)}")
        self.profile = profile
        self.options = {**DEFAULT_OPTIONS, **options}
        self.state = Path(state).absolute()
        # Ports an earlier `up` recorded win over the defaults, so `status` and
        # `down` find a lab that was started on overridden ports.
        recorded = self.details.get("lab", {}).get("ports", {})
        self.ports = {**PORTS, **recorded, **(ports or {})}
        self.host = HOST
        self._components = list(components) if components is not None else None
        self._spawned: list[str] = []
        self.timings: dict[str, float] = {}  # seconds each component's last `up` took

    # -- layout ---------------------------------------------------------------

    @property
    def components(self) -> list[Component]:
        if self._components is None:
            self._components = default_components()
        return self._components

    def path(self, *parts: str) -> Path:
        return self.state.joinpath(*parts)

    def _dir(self, name: str, mode: int = 0o755) -> Path:
        folder = self.path(name)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, mode)
        return folder

    def prepare(self) -> None:
        """Create the state directory; other users (mysql) must be able to traverse it."""
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o755)

        for name in ("run", "log"):
            self._dir(name)
        self._dir("secrets", 0o700)

    # -- lab.json -------------------------------------------------------------

    @property
    def details(self) -> dict:
        try:
            return json.loads(self.path("lab.json").read_text())
        except FileNotFoundError:
            return {}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.path(".lab.json.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def record(self, component: str, info: dict) -> None:
        """Merge info under details[component]; written atomically (tmp file + rename)."""
        with self._locked():
            details = self.details
            details.setdefault(component, {}).update(info)
            tmp = self.path("lab.json.tmp")
            tmp.write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.path("lab.json"))

    # -- secrets --------------------------------------------------------------

    def secret(self, name: str, generate: Callable[[], str] | None = None) -> Path:
        path = self.path("secrets", name)
        if not path.exists() and generate is not None:
            self._dir("secrets", 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate())
        return path

    def secret_value(self, name: str) -> str:
        path = self.secret(name)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            raise LabError(f"lab secret {name!r} is missing", hint="run: harborbook lab up") from None

    # -- daemons --------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], *, env=None, cwd=None, user=None) -> int:
        """Start a daemon in its own session; log to log/<name>.log, pid to run/<name>.pid."""
        self.prepare()
        child_env = dict(os.environ if env is None else env)
        child_env[procs.MARKER_VAR] = procs.marker(self.state, name)
        ids = {}
        if user is not None:
            entry = pwd.getpwnam(user)
            ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        log = open(self.path("log", f"{name}.log"), "ab")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.state,
                env=child_env,
                start_new_session=True,
                **ids,
            )
        except OSError as exc:
            raise LabError(f"cannot start {name}: {exc.strerror}: {argv[0]}") from exc
        finally:
            log.close()
        procs.remember(proc)
        self.path("run", f"{name}.start").write_text(f"{procs.started_at(proc.pid)}\n")
        self.path("run", f"{name}.pid").write_text(f"{proc.pid}\n")
        self._spawned.append(name)
        return proc.pid

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self.path("run", f"{name}.pid").read_text().strip())
            ticks = int(self.path("run", f"{name}.start").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if procs.is_ours(pid, ticks) else None

    def stop(self, name: str, timeout: float = 10) -> None:
        pid = self.pid(name)
        if pid is not None:
            procs.signal_and_wait(pid, timeout)
        self.path("run", f"{name}.pid").unlink(missing_ok=True)
        self.path("run", f"{name}.start").unlink(missing_ok=True)

    def log_tail(self, name: str, lines: int = 8) -> str:
        try:
            text = self.path("log", f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, what: str, probe: Callable[[], bool], timeout: float, log: str | None = None) -> None:
        """Poll probe until true; on timeout a LabError quoting the daemon's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            if log and self.pid(log) is None and self.path("run", f"{log}.pid").exists():
                break
            time.sleep(0.2)
        tail = self.log_tail(log) if log else ""
        raise LabError(
            f"{what} did not come up within {timeout:.0f}s",
            hint=f"see {self.path('log', (log or 'lab') + '.log')}" + (f"; last lines:\n{tail}" if tail else ""),
        )

    def ensure_port_free(self, port: int, host: str = HOST) -> None:
        busy = procs.conflicts(procs.listeners(), port, host)
        if not busy:
            return
        holder = procs.socket_holder(busy[0].inode)
        who = f" by {holder[1]} (pid {holder[0]})" if holder else ""
        raise LabError(
            f"port {host}:{port} is already in use{who}",
            hint="stop that process, or start the lab on other ports: harborbook lab up --port-offset 1000",
        )

    # -- the whole lab ----------------------------------------------------------

    def up(self) -> dict[str, str]:
        """Bring every component up in order; on failure stop what this call started."""
        check_root(os.geteuid())
        check_programs()  # before anything starts: one message naming every missing program
        self.prepare()
        for name in OPERATOR_SECRETS:
            self.secret(name, generate_password)
        self.record(
            "lab", {"state": str(self.state), "profile": self.profile, "options": self.options, "ports": self.ports}
        )
        for component in self.components:
            for port in getattr(component, "planned_ports", lambda lab: [])(self):
                self.ensure_port_free(port)
        results: dict[str, str] = {}
        self._spawned = []
        self.timings = {}
        for component in self.components:
            began = time.monotonic()
            try:
                results[component.name] = component.up(self)
                self.timings[component.name] = time.monotonic() - began
            except Exception as exc:
                self._roll_back()
                if isinstance(exc, LabError):
                    raise
                # Not one of ours (a driver, a timeout): still one line, never our stack.
                raise LabError(
                    f"{component.name} failed to start: {type(exc).__name__}: {_first_line(exc)}",
                    hint=f"see the logs in {self.path('log')}",
                ) from exc
        return results

    def _roll_back(self) -> None:
        """Leave nothing half-started: stop what this ``up`` spawned, newest first.

        Daemons that were already running before this call are left alone; a
        component may offer ``tidy(lab)`` to undo side effects beyond processes
        (a stale fuse mount, for instance).
        """
        for name in reversed(self._spawned):
            _quietly(self.stop, name)
        for component in self.components:
            tidy = getattr(component, "tidy", None)
            if tidy is not None:
                _quietly(tidy, self)

    def status(self) -> list[StatusRow]:
        rows: list[StatusRow] = []
        for component in self.components:
            try:
                rows += component.status(self)
            except LabError as exc:
                rows.append(StatusRow(component.name, None, "", DOWN, exc.message))
            except Exception as exc:  # noqa: BLE001 - a broken probe is a status, not a crash
                rows.append(StatusRow(component.name, None, "", DOWN, f"probe failed: {type(exc).__name__}"))
        return rows

    def down(self, purge: bool = False) -> None:
        """Stop every component, newest first; go on past failures and report them at the end."""
        failures = []
        for component in reversed(self.components):
            try:
                component.down(self)
            except Exception as exc:  # noqa: BLE001 - reported below, the rest must still stop
                failures.append(f"{component.name}: {exc}")
        if failures:
            raise LabError("lab down left problems: " + "; ".join(failures), hint="run lab down again")
        if purge:
            self.purge()

    def purge(self) -> None:
        mounted = [p for p, _ in _mounts_under(self.state)]
        if mounted:
            raise LabError(f"refusing to purge: still mounted: {', '.join(mounted)}", hint="run lab down first")
        shutil.rmtree(self.state, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _quietly(action: Callable, *args) -> None:
    try:
        action(*args)
    except Exception:  # noqa: BLE001 - cleanup after a failure must not mask it
        pass


def _mounts_under(root: Path) -> list[tuple[str, str]]:
    mounts = procs.parse_mounts(Path("/proc/self/mounts").read_text())
    prefix = str(root.resolve()) + "/"
    return [(p, t) for p, t in mounts.items() if p.startswith(prefix)]


__all__ = [
    "Lab",
    "LabError",
    "NotRootError",
    "OPERATOR_SECRETS",
    "PORTS",
    "PROFILES",
    "RUNNING",
    "STARTED",
    "check_programs",
    "check_root",
    "generate_password",
    "shifted_ports",
]
