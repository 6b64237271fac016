"""The vocabulary shared by every program launcher: a pod on the host, and a launch plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from harborbook.errors import HarborbookError

RUNTIME_DIR = ".harborlab"  # inside the pod root: generated files, logs, temp dirs


class LaunchError(HarborbookError):
    """A pod's files cannot be turned into a program to run."""


@dataclass(frozen=True)
class PodLayout:
    """A pod as the lab materialised it on the host.

    ``root`` holds the pod's ConfigMap/Secret files at their mountPaths (``/etc/ui/key`` is
    ``root/etc/ui/key``); ``volumes`` maps each PVC (or hostPath) mountPath to its host
    directory; ``env`` is the container's environment as applied.
    """

    name: str
    ip: str
    root: Path
    volumes: Mapping[str, Path] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

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

    def prepare(self) -> None:
        for directory in self.dirs:
            directory.mkdir(parents=True, exist_ok=True)
        for path, text in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def __repr__(self) -> str:  # env may hold secrets (MYSQL_PWD, _REDIS_URL)
        return f"Launch(argv={self.argv!r}, env=<{len(self.env)} variables>, health_url={self.health_url!r})"


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
