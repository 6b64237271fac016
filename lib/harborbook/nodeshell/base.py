"""One interface to a node's shell, whatever the transport: ``run``, ``read``, ``write``.

``write`` is the same for every transport and made of plain commands, so it behaves the same
over SSH, a debug pod or a chroot: the new content goes to a temporary file beside the target
(``_put``, the only transport-specific step), takes the old file's mode (or the one given), the old
file is copied to a timestamped backup, and a ``mv`` replaces the target. A failure at any step
removes the temporary file and leaves the original as it was.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from abc import ABC, abstractmethod
from typing import Callable, Sequence

from harborbook.errors import HarborbookError

Result = tuple[int, str, str]


class NodeShellError(HarborbookError):
    """A node-shell command failed or the node could not be reached."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint, "runbooks/06-node-disk-pressure")


def backup_path(path: str, now: float) -> str:
    """``/etc/x.conf`` -> ``/etc/x.conf.harborbook-20240101T120000`` (UTC), from an explicit time."""
    return f"{path}.harborbook-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}"


class NodeShell(ABC):
    """A shell on one node. Subclasses implement ``_run`` and may override ``_put``."""

    transport = "abstract"

    def __init__(self, node: str, clock: Callable[[], float] = time.time):
        self.node = node
        self.clock = clock

    @abstractmethod
    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> Result:
        """Run argv as root on the node; (rc, stdout, stderr)."""

    def run(self, argv: Sequence[str], check: bool = True) -> Result:
        rc, out, err = self._run(list(argv))
        if check and rc != 0:
            detail = (err or out).strip().splitlines()
            raise NodeShellError(f"{self.node}: `{' '.join(argv)}` failed with exit status {rc}"
                                 + (f": {detail[-1]}" if detail else ""),
                                 hint=f"the command ran through the {self.transport} node shell")
        return rc, out, err

    def exists(self, path: str) -> bool:
        return self._run(["test", "-e", path])[0] == 0

    def read(self, path: str) -> str:
        rc, out, err = self._run(["cat", path])
        if rc != 0:
            raise NodeShellError(f"{self.node}: cannot read {path}: {(err.strip() or f'exit status {rc}')}")
        return out

    def _put(self, path: str, data: bytes) -> None:
        """Create ``path`` with ``data`` (default: through stdin of ``cat``)."""
        rc, _out, err = self._run(["sh", "-c", 'cat > "$1"', "sh", path], stdin=data)
        if rc != 0:
            raise NodeShellError(f"{self.node}: cannot write {path}: {err.strip() or f'exit status {rc}'}")

    def write(self, path: str, data: str | bytes, mode: int | None = None, backup: bool = True) -> str | None:
        """Replace ``path`` atomically; returns the backup's path (None without a previous file)."""
        payload = data.encode() if isinstance(data, str) else data
        directory, base = posixpath.split(path)
        tmp = posixpath.join(directory, f".{base}.harborbook-tmp-{secrets.token_hex(4)}")
        existed = self.exists(path)
        saved = backup_path(path, self.clock()) if backup and existed else None
        try:
            self._put(tmp, payload)
            if mode is not None:
                self.run(["chmod", f"{mode:o}", tmp])
            elif existed:
                self.run(["chmod", "--reference", path, tmp])
            if saved:
                self.run(["cp", "-p", path, saved])
            self.run(["mv", "-f", tmp, path])
        except HarborbookError:
            self._run(["rm", "-f", tmp])
            raise
        return saved

    def close(self) -> None:
        """Release what the transport holds (a debug pod); the base has nothing."""

    def __enter__(self) -> "NodeShell":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
