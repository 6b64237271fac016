"""The vocabulary shared by every program launcher: a pod on the host, and a launch plan."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from harborlab.errors import LabError

RUNTIME_DIR = ".harborlab"  # inside the pod root: generated files, logs, temp dirs


class LaunchError(LabError):
    """A pod's files cannot be turned into a program to run."""


@dataclass(frozen=True)
class PodLayout:
    """A pod as the lab materialised it on the host.

    ``root`` holds the pod's ConfigMap/Secret files at their mountPaths (``/etc/ui/key`` is
    ``root/etc/ui/key``); ``volumes`` maps each PVC (or hostPath) mountPath to its host
    directory; ``env`` is the container's environment as applied; ``config_path`` the config
    file its command names, when the runner knows it.
    """

    name: str
    ip: str
    root: Path
    volumes: Mapping[str, Path] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    # The file the container's program opens, from its image, command, args and env
    # (harborlab.images.config_path); None: the image's default.
    config_path: str | None = None

    def host_path(self, container_path: str) -> Path:
        """Where ``container_path`` is on the host: in a volume's directory or under the root."""
        path = PurePosixPath(container_path)
        if not path.is_absolute():
            raise LaunchError(f"pod {self.name}: {container_path!r} is not an absolute container path")
        best: tuple[PurePosixPath, Path] | None = None
        for mount, host in self.volumes.items():
            mount_path = PurePosixPath(mount)
            if (path == mount_path or mount_path in path.parents) and (
                best is None or len(mount_path.parts) > len(best[0].parts)
            ):
                best = (mount_path, Path(host))
        if best is not None:
            return best[1].joinpath(*path.parts[len(best[0].parts):])
        return self.root.joinpath(*path.parts[1:])

    @property
    def runtime(self) -> Path:
        """Where the lab keeps what it generates for this pod (never a mounted path)."""
        return self.root / RUNTIME_DIR


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one pod's program; files are written by :meth:`prepare`."""

    argv: list[str]
    env: dict[str, str]
    files: dict[Path, str] = field(default_factory=dict)
    dirs: tuple[Path, ...] = ()
    health_url: str = ""
    ready_statuses: tuple[int, ...] = (200,)
    notes: tuple[str, ...] = ()  # a readable record of every translation made
    # Generic images get only their own environment (the image's and the container's), not the
    # emulator's; Harbor's programs get the machine's plus theirs (they need its locale, HOME...).
    clean_env: bool = False
    cwd: Path | None = None

    def prepare(self) -> None:
        for directory in self.dirs:
            directory.mkdir(parents=True, exist_ok=True)
        for path, text in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def start(self, log_path: Path) -> subprocess.Popen:
        """Prepare and start the program in its own session, output appended to ``log_path``."""
        self.prepare()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                self.argv, env=dict(self.env) if self.clean_env else {**os.environ, **self.env},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.cwd,
            )

    def probe(self, timeout: float = 2.0) -> bool:
        """One health check: does ``health_url`` answer with a ready status? A program without
        one (a generic image: no readiness probe is run) is ready once it runs."""
        if not self.health_url:
            return True
        try:
            with urllib.request.urlopen(self.health_url, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError):
            return False
        return status in self.ready_statuses

    def wait_ready(self, proc: subprocess.Popen, timeout: float, log_path: Path | None = None) -> None:
        """Block until the health check passes; LaunchError with the log tail if it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LaunchError(f"{self.argv[0]} exited with status {proc.returncode}: "
                                  f"{_tail(log_path)}", hint="the log lines above say why")
            if self.probe():
                return
            time.sleep(0.2)
        raise LaunchError(f"{self.health_url} not ready after {timeout:.0f}s: {_tail(log_path)}")

    def __repr__(self) -> str:  # env may hold secrets (MYSQL_PWD, _REDIS_URL)
        return f"Launch(argv={self.argv!r}, env=<{len(self.env)} variables>, health_url={self.health_url!r})"


def _tail(log_path: Path | None, lines: int = 5) -> str:
    if log_path is None or not log_path.exists():
        return "(no log)"
    return " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-lines:])


def split_hostport(text: str) -> tuple[str, int]:
    """``host:port`` / ``:port`` / ``[v6]:port`` -> (host, port)."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit():
        raise LaunchError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


def pick_endpoint(service: str, endpoints: Mapping[str, Sequence[str]]) -> str | None:
    """The first ready endpoint of ``service`` (``name:port``), None when it has none.

    Stands in for a ClusterIP where a program takes one address (registry notifications);
    nginx upstreams get every endpoint instead.
    """
    addresses = endpoints.get(service) or ()
    return addresses[0] if addresses else None
