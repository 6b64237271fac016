"""Where the dump comes from: a dump file, or a live server dumped by mariadb-dump.

For a server we spawn ``mariadb-dump --single-transaction`` and stream its stdout: the C dumper
is several times faster than fetching and re-escaping rows in Python, and its output is exactly
what operators already trust. The password goes in a 0600 defaults file in a private temporary
directory (not on the command line, where ``ps`` shows it, nor in the environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import TransportError
from ..secrets import mask
from ..sqldump import DumpReader
from .connection import Endpoint, Login

DUMPERS = ("mariadb-dump", "mysqldump")
DUMP_OPTIONS = ("--single-transaction", "--quick", "--routines", "--triggers",
                "--default-character-set=utf8mb4", "--skip-lock-tables")


def dumper() -> str:
    for name in DUMPERS:
        path = shutil.which(name)
        if path:
            return path
    raise TransportError("neither mariadb-dump nor mysqldump is installed",
                         hint="install the MariaDB or MySQL client (apt-get install "
                              "mariadb-client), or give a dumpfile source")


def dump_command(endpoint: Endpoint, database: str, defaults_file: Path, binary: str
                 ) -> list[str]:
    """The dumper's argv (no secret in it: the password is in defaults_file)."""
    return [binary, f"--defaults-extra-file={defaults_file}", f"--host={endpoint.host}",
            f"--port={endpoint.port}", "--protocol=tcp", *DUMP_OPTIONS, "--databases", database]


@contextlib.contextmanager
def dump_process(endpoint: Endpoint, login: Login, database: str, *, hint: str,
                 see: str | None = None) -> Iterator[BinaryIO]:
    """``mariadb-dump`` of ``database`` as a byte stream: the password in a 0600 defaults file,
    never on the command line; a failed dump becomes a TransportError when the block ends."""
    binary = dumper()
    secret = login.reveal()
    with tempfile.TemporaryDirectory(prefix="harborbook-dump-") as tmp:
        defaults = Path(tmp) / "client.cnf"
        fd = os.open(defaults, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            escaped = secret.replace("\\", "\\\\").replace('"', '\\"')
            fh.write(f'[client]\nuser="{login.user}"\npassword="{escaped}"\n')
        err_path = Path(tmp) / "stderr"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(dump_command(endpoint, database, defaults, binary),
                                    stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                    bufsize=1 << 20)
        assert proc.stdout is not None
        failed: BaseException | None = None
        try:
            yield proc.stdout  # type: ignore[misc]
        except BaseException as exc:
            failed = exc
            raise
        finally:
            code = _settle(proc, failed)
            # A dump that died by itself is the cause even when its reader failed first (on empty
            # or cut-off output): its own error ("Access denied ...") says more than the reader's.
            # An interrupt stays an interrupt.
            if code not in (0, None) and not isinstance(failed, KeyboardInterrupt):
                text = mask(err_path.read_text("utf-8", "replace"), extra=(secret,))[-400:]
                if "Access denied" in text:
                    hint = "the password is wrong: check the secret referenced by " + login.field
                raise TransportError(f"{Path(binary).name} {endpoint}/{database}: the dump failed "
                                     f"(exit {code}): {text.strip()}", hint=hint, see=see)


def _settle(proc: subprocess.Popen, failed: BaseException | None) -> int | None:
    """The dumper's exit code; None when it was still running after its reader failed (killed)."""
    assert proc.stdout is not None
    if failed is not None:
        try:
            code = proc.wait(timeout=2)  # its output ended: it is exiting, with its own reason
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.stdout.close()
            proc.wait()
            return None
        proc.stdout.close()
        return code
    proc.stdout.close()
    return proc.wait()


@contextlib.contextmanager
def server_dump(endpoint: Endpoint, login: Login, database: str) -> Iterator[DumpReader]:
    """A DumpReader over ``mariadb-dump`` of ``database``; its failure becomes a TransportError."""
    with dump_process(endpoint, login, database, see="02-database",
                      hint="check the source server and database.source in the params file") as out:
        yield DumpReader(out, f"{Path(dumper()).name} {endpoint}/{database}")
