"""The external programs the runbooks execute on the operator's machine, and their packages.

The product talks to most systems through client libraries; these few it runs as programs.
``tests/test_programs.py`` checks each row against ``dpkg -S`` and ``data/debian-packages.txt``
(the packages ``make demo``/``make test`` install), so a new program cannot arrive undeclared.
"""

from __future__ import annotations

import shutil

from .errors import TransportError

# program -> (Debian package, the runbook step that runs it)
PROGRAMS: dict[str, tuple[str, str]] = {
    "mariadb-dump": ("mariadb-client", "02-database: dumping the source harbor_db; 07-backup-restore: the backup's dump"),
    "ssh": ("openssh-client", "06-node-disk-pressure: the ssh node shell; 08-migrate-existing-harbor: an ssh:// "
                                "source registry"),
    "skopeo": ("skopeo", "05-verify: a second registry client's opinion (optional)"),
    # coreutils is Essential (on every Debian system), so it is not in the package list.
    "chroot": ("coreutils", "06-node-disk-pressure: the chroot node shell"),
}


def require(program: str) -> str:
    """The path of ``program``, or an error naming the package that provides it."""
    path = shutil.which(program)
    if path is None:
        package, used_for = PROGRAMS[program]
        raise TransportError(f"{program} is not installed (needed for {used_for})",
                             hint=f"apt-get install -y --no-install-recommends {package}")
    return path
