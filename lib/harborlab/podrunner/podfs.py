"""The runner's files on the host: per-pod directories, volume contents, pid files.

    <state>/podrunner/pods/<namespace>_<name>_<uid8>/
        root/          the pod's own filesystem (what no volume covers: the image's private paths)
        volumes/<v>/   ConfigMap / Secret / projected / downwardAPI volume contents
        emptydir/<v>/  emptyDir volumes
        log/<container>.log
    <state>/podrunner/hostpath/...   hostPath volumes
    <state>/podrunner/run/<pod dir name>.pid   "<pid> <start ticks>" of each running program

A (pid, start ticks) pair names one process for good (see :mod:`harborlab.procs`), so a runner
that died without cleaning up (emulator SIGKILLed) leaves pid files from which the next runner,
or ``lab down``, stops exactly those processes and nothing else.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harborlab import procs

from .volumes import VolumePlan

HOME = "podrunner"


def home(state: Path) -> Path:
    return state / HOME


def pod_dir(state: Path, pod: dict) -> Path:
    meta = pod["metadata"]
    return home(state) / "pods" / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid'][:8]}"


def write_volumes(directory: Path, plan: VolumePlan) -> dict[str, Path]:
    """Write the plan's files (fresh each start) and create its directories; volume -> host dir."""
    out: dict[str, Path] = dict(plan.dirs)
    for name, files in plan.files.items():
        target = directory / "volumes" / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for relative, (data, mode) in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o777)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(path, mode & 0o777)
        out[name] = target
    for name, path in plan.create.items():
        path.mkdir(parents=True, exist_ok=True)
        out[name] = path
    return out


def pidfile(state: Path, directory: Path) -> Path:
    return home(state) / "run" / f"{directory.name}.pid"


def remember(state: Path, directory: Path, pid: int) -> None:
    path = pidfile(state, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {procs.started_at(pid)}\n")


def forget(state: Path, directory: Path) -> None:
    pidfile(state, directory).unlink(missing_ok=True)


def recorded(state: Path) -> list[tuple[Path, int, int | None]]:
    """(pid file, pid, start ticks) of every program a runner with this state recorded."""
    out = []
    for path in sorted((home(state) / "run").glob("*.pid")):
        try:
            pid_text, _, ticks_text = path.read_text().strip().partition(" ")
            out.append((path, int(pid_text), int(ticks_text) if ticks_text.isdigit() else None))
        except (OSError, ValueError):
            out.append((path, -1, None))
    return out


def stop_leftovers(state: Path, timeout: float = 10.0) -> list[int]:
    """Stop (by PID, identity checked) every program recorded under ``state``; the pids stopped."""
    stopped = []
    for path, pid, ticks in recorded(state):
        if pid > 0 and procs.is_ours(pid, ticks):
            procs.signal_and_wait(pid, timeout)
            stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def remove_pod_dir(directory: Path) -> None:
    """Delete a pod's directory (its private files go with the pod, as a container's layer does).

    Only the runner's own tree is removed: PVC and hostPath directories are elsewhere."""
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory, ignore_errors=True)


def tail(path: Path, lines: int | None) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    if lines is None:
        return text
    kept = text.splitlines(keepends=True)[-lines:] if lines > 0 else []
    return "".join(kept)
