"""Loop images and mounts for node roots: create an ext4 image, loop-mount it, bind the host's
/usr read-only, unmount. Each helper is idempotent on its own (mounting what is mounted is a no-op)
and raises LabError naming the image or mount point and the tool's own words."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harborlab import procs
from harborlab.lab import LabError


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what}: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"{what}: {detail[-1] if detail else f'exit status {done.returncode}'}",
                       hint=f"command: {' '.join(argv)}")


def mounts() -> dict[str, str]:
    return procs.parse_mounts(Path("/proc/self/mounts").read_text())


def is_mounted(point: Path) -> bool:
    return str(point) in mounts()


def make_image(image: Path, mib: int, label: str) -> bool:
    """A sparse ext4 image of ``mib`` MiB (ext4's 5% reserved blocks kept); False if it existed."""
    if image.exists():
        return False
    image.parent.mkdir(parents=True, exist_ok=True)
    tmp = image.with_name(image.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.truncate(mib * 1024 * 1024)
    try:
        _run(["mkfs.ext4", "-q", "-F", "-L", label[:16], "-E", "lazy_itable_init=1", str(tmp)],
             f"cannot create the ext4 image {image}")
    except LabError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, image)
    return True


def mount_image(image: Path, point: Path) -> bool:
    """Loop-mount ``image`` at ``point``; False when it was already mounted."""
    if is_mounted(point):
        return False
    point.mkdir(parents=True, exist_ok=True)
    _run(["mount", "-o", "loop", str(image), str(point)], f"cannot mount the node image {image} at {point}")
    return True


def bind(source: Path, point: Path, read_only: bool) -> bool:
    """Bind ``source`` at ``point`` (a file or a directory); False when already mounted."""
    if is_mounted(point):
        return False
    if not point.exists():
        if source.is_dir():
            point.mkdir(parents=True, exist_ok=True)
        else:
            point.parent.mkdir(parents=True, exist_ok=True)
            point.touch()
    _run(["mount", "--bind", str(source), str(point)], f"cannot bind {source} at {point}")
    if read_only:
        _run(["mount", "-o", "remount,bind,ro", str(point)], f"cannot make {point} read-only")
    return True


def unmount(point: Path) -> bool:
    """Unmount ``point`` if mounted (the loop device of an image is released with it)."""
    if not is_mounted(point):
        return False
    _run(["umount", str(point)], f"cannot unmount {point} (is a shell or process still using it?)")
    return True
