"""Every external program the lab executes, and the Debian package that provides it.

One row per program, keyed by the path the lab runs (or the file it loads). The package is the
smallest one that ships that path (``dpkg -S``), and every package named here is listed in
``data/debian-packages.txt`` — ``tests/test_programs.py`` keeps the two equal, so a program added
without its package fails the suite instead of a newcomer's first ``lab up``.

Essential packages (coreutils, dash, util-linux: ``chroot``, ``sh``, ``losetup``) are on every
Debian system and are not listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from harborlab.errors import LabError

PACKAGE_LIST = os.path.join(os.path.dirname(__file__), "data", "debian-packages.txt")

# path -> (package, what the lab runs it for)
PROGRAMS: dict[str, tuple[str, str]] = {
    "/usr/bin/ceph-mon": ("ceph-mon", "Ceph monitor"),
    "/usr/bin/ceph-mgr": ("ceph-mgr", "Ceph manager"),
    "/usr/bin/ceph-osd": ("ceph-osd", "Ceph OSD (memstore)"),
    "/usr/bin/ceph-mds": ("ceph-mds", "CephFS metadata server"),
    "/usr/bin/ceph-fuse": ("ceph-fuse", "the CephFS mount"),
    "/usr/bin/ceph": ("ceph-common", "Ceph admin commands"),
    "/usr/bin/ceph-authtool": ("ceph-common", "Ceph keyrings"),
    "/usr/bin/monmaptool": ("ceph-base", "the Ceph monitor map"),
    "/usr/bin/radosgw": ("radosgw", "the S3 endpoint (backup target)"),
    "/usr/bin/radosgw-admin": ("ceph-common", "the S3 user and its keys"),
    "/usr/bin/fusermount3": ("fuse3", "unmounting ceph-fuse"),
    "/usr/sbin/mariadbd": ("mariadb-server-core", "Galera nodes and the source harbor_db"),
    "/usr/bin/mariadb-install-db": ("mariadb-server-core", "MariaDB data directories"),
    "/usr/bin/wsrep_sst_rsync": ("mariadb-server", "Galera state transfer"),
    "/usr/bin/mariadb": ("mariadb-client-core", "SQL against the lab's servers"),
    "/usr/lib/galera/libgalera_smm.so": ("galera-4", "the Galera replication provider"),
    "/usr/bin/rsync": ("rsync", "Galera state transfer (wsrep_sst_rsync)"),
    "/usr/bin/ss": ("iproute2", "port checks (ours and wsrep_sst_rsync's)"),
    "/usr/bin/redis-server": ("redis-server", "Harbor's session store"),
    "/usr/sbin/mkfs.ext4": ("e2fsprogs", "each lab node's root filesystem"),
    "/usr/bin/mount": ("mount", "loop and bind mounts of the node roots"),
    "/usr/bin/umount": ("mount", "unmounting node roots"),
    "/usr/bin/docker-registry": ("docker-registry", "the registry pods and the legacy Harbor's registry (distribution)"),
    "/usr/sbin/nginx": ("nginx", "the nginx pods"),
    "/usr/bin/busybox": ("busybox", "busybox pods: sh and the other applets (harborlab.programs.generic)"),
    "/usr/bin/python3": ("python3-minimal", "python pods and the pause image's sleeper"),
    "/usr/sbin/sshd": ("openssh-server", "SSH to the legacy Harbor's host"),
    "/usr/bin/ssh-keygen": ("openssh-client", "the legacy host's host and client keys"),
}


class MissingProgramsError(LabError):
    """Programs the lab runs are not installed; a usage problem of the machine (exit 2)."""


def missing_programs(exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """The paths in PROGRAMS that this machine lacks, in table order."""
    return [path for path in PROGRAMS if not exists(path)]


def packages_for(paths: Iterable[str]) -> list[str]:
    """The packages providing ``paths``, in table order, without repeats."""
    return list(dict.fromkeys(PROGRAMS[path][0] for path in paths))


def check_programs(exists: Callable[[str], bool] = os.path.exists) -> None:
    """Refuse, in one message, when any program is missing: what, the packages, the command."""
    missing = missing_programs(exists)
    if not missing:
        return
    names = ", ".join(os.path.basename(path) for path in missing)
    packages = " ".join(packages_for(missing))
    raise MissingProgramsError(
        f"the lab cannot start: missing programs: {names} (Debian packages: {packages})",
        hint=f"apt-get update && apt-get install -y --no-install-recommends {packages}"
             "   (make demo and make test do this for you)",
    )


def declared_packages(path: str = PACKAGE_LIST) -> list[str]:
    """The packages ``data/debian-packages.txt`` lists (one per line, '#' comments)."""
    with open(path, encoding="utf-8") as handle:
        names = (line.split("#", 1)[0].strip() for line in handle)
        return [name for name in names if name]
