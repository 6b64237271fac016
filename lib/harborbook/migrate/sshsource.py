"""The old registry tree on another host, read over SSH: ``ssh://user@host[:port]/data/registry``.

Debian's OpenSSH client, one connection for the whole step: a ControlMaster (its socket in a
private 0700 temporary directory) authenticates once with the key, and every command after it
is a channel of that connection (``ssh -S``), so a copy with N workers opens no new TCP
connection and no new authentication. The key is a secret reference, resolved at connection
time into a 0600 file in that directory and deleted as soon as the connection is up; the
directory goes when the source is closed. Host keys are always checked
(``StrictHostKeyChecking=yes``) against the ``known_hosts`` file the params name.

What runs on the old host (GNU find and tar, as on any Linux a Harbor runs on):

- in one session, the listing: ``find blobs/sha256 -printf '%s %P\\n'`` (every blob and its
  size), a line that ends it, then ``tar -c repositories`` without ``_uploads`` (the
  repositories' directories and link files, and the manifests the revisions name);
- ``tar -c <blob data files>``: blobs' bytes in a batch, each framed by a tar header, hashed and
  verified here as they arrive (:mod:`.tarstream`), exactly as a local file would be.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from .. import secrets
from ..errors import TransportError
from ..params.sshurl import SshLocation, parse_url
from . import layout
from .layout import LayoutError
from .source import MANIFEST_MAX, Listing, Reader, Source, blob_rel, keep_blob
from .tarstream import TarStream, TarStreamError

SSH = "ssh"
CONNECT_SECONDS = 30.0
# sshd allows 10 sessions per connection (MaxSessions); a few are kept free.
MAX_CHANNELS = 8
# Ends the blob listing, before the repositories' tar stream, in the listing's one session.
LISTING_END = "--harborbook-end-of-blobs--"
__all__ = ["SshError", "SshLocation", "SshSource", "parse_url"]


class SshError(TransportError):
    """The old host cannot be reached, refuses the key, or is not the host known_hosts names."""


def _ssh_value(path: str) -> str:
    """A path as an ssh -o value: quoted (spaces), '%' doubled (ssh expands %-tokens there)."""
    if '"' in path or "\n" in path:
        raise SshError(f"{path}: a path for ssh must not hold '\"' or a newline")
    return '"' + path.replace("%", "%%") + '"'


class SshSource(Source):
    """A registry tree on another host (see the module's docstring). Connects on creation."""

    streams = True
    # One stream: streams share the one connection and the one ssh process decrypting it, and each
    # costs the old host a session (a login shell with its rc files); a second one made the copy
    # slower in the benchmark (BENCHMARKS.md section 5). The stream alone outruns a 1 Gbit/s link.
    max_streams = 1

    def __init__(self, location: SshLocation, key: secrets.SecretRef, known_hosts: Path, *,
                 what: str = "migrate.source.registry", ssh: str = SSH):
        super().__init__(str(location))
        self.location, self.key, self.known_hosts, self.what = location, key, Path(known_hosts), what
        # Errors name the key by its reference: the file (its path resolved), or the variable.
        self.key_name = f"file:{key.path}" if key.path is not None else key.ref
        self.ssh = shutil.which(ssh) or ssh
        self.root = location.path
        self.v2 = posixpath.join(location.path, *layout.V2)
        self._channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._dir = Path(tempfile.mkdtemp(prefix="harborbook-ssh-"))  # 0700
        self._master: subprocess.Popen[bytes] | None = None
        self._closer = weakref.finalize(self, _shut, self._dir, None, [])
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- the connection
    @property
    def _control(self) -> str:
        return str(self._dir / "cm")

    def _options(self) -> list[str]:
        return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={_ssh_value(str(self.known_hosts))}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
                "-o", "KbdInteractiveAuthentication=no", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR", "-o", "ClearAllForwardings=yes",
                # AES-GCM first: with AES instructions it runs several times faster than the default
                # chacha20-poly1305, and the blobs are what crosses this connection.
                "-o", "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com",
                "-o", f"ControlPath={_ssh_value(self._control)}", "-p", str(self.location.port)]

    def _destination(self) -> str:
        return f"{self.location.user}@{self.location.address}"

    def _connect(self) -> None:
        if not self.known_hosts.is_file():
            raise SshError(f"{self.what}: the known_hosts file {self.known_hosts} does not exist",
                           hint=self._keyscan_hint())
        key_file = self._dir / "key"
        value = self.key.reveal()
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(value.strip() + "\n")  # OpenSSH wants the final newline of a PEM block
        errors = self._dir / "master.err"
        try:
            with open(errors, "wb") as err:
                self._master = subprocess.Popen(
                    [self.ssh, *self._options(), "-i", str(key_file), "-M", "-N", "-T",
                     "-o", "ControlPersist=no", self._destination()],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        except OSError as exc:
            raise SshError(f"cannot run {self.ssh}: {exc.strerror}",
                           hint="apt-get install -y --no-install-recommends openssh-client") from None
        self._closer.detach()
        self._closer = weakref.finalize(self, _shut, self._dir, self._master, [self.ssh, *self._options(),
                                                                               "-O", "exit", self._destination()])
        try:
            deadline = time.monotonic() + CONNECT_SECONDS
            while True:
                if self._master.poll() is not None:
                    raise self._refused(errors.read_text(errors="replace"))
                # The master listens on its control socket once the connection is authenticated.
                if os.path.exists(self._control):
                    return
                if time.monotonic() > deadline:
                    raise SshError(f"{self.what}: {self._destination()} port {self.location.port} did not "
                                   f"accept the key {self.key_name} within {CONNECT_SECONDS:.0f} s",
                                   hint="is the host up and its sshd reachable from here?")
                time.sleep(0.02)
        finally:
            # Authenticated (or failed): the key is not needed on disk any longer.
            key_file.unlink(missing_ok=True)

    def _keyscan_hint(self) -> str:
        port = "" if self.location.port == 22 else f"-p {self.location.port} "
        return (f"check the old host's key fingerprint with its administrator, then add it: "
                f"ssh-keyscan {port}{self.location.address} >> {self.known_hosts} "
                "(host keys are always checked; nothing turns that off)")

    def _refused(self, stderr: str) -> SshError:
        """The error for a connection that failed, from what ssh said."""
        text = secrets.mask(stderr.replace(str(self._dir / "key"), self.key_name)).strip()
        last = text.splitlines()[-1] if text else "ssh exited without a message"
        where = f"{self._destination()} port {self.location.port}"
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "host key for" in text and "has changed" in text:
            return SshError(f"{self.what}: the host key of {where} is not the one {self.known_hosts} holds for "
                            f"{self.location.known_hosts_name}",
                            hint="if the old host was really reinstalled, confirm its new fingerprint, remove the old "
                                 f"entry (ssh-keygen -R '{self.location.known_hosts_name}' -f {self.known_hosts}) and "
                                 "add the new one; otherwise do not connect")
        if "Host key verification failed" in text or "host key is known" in text:
            return SshError(f"{self.what}: the host key of {where} is unknown: {self.known_hosts} has no key for "
                            f"{self.location.known_hosts_name}", hint=self._keyscan_hint())
        if "Permission denied" in text or "Too many authentication failures" in text:
            return SshError(f"{self.what}: {where} refused the key {self.key_name} ({last})",
                            hint=f"add its public key (ssh-keygen -y -f KEYFILE) to ~{self.location.user}/.ssh/"
                                 "authorized_keys on the old host, or give the key that is there")
        if "Load key" in text or "invalid format" in text or "passphrase" in text or "bad permissions" in text:
            return SshError(f"{self.what}: the key {self.key_name} cannot be used ({last})",
                            hint="give an OpenSSH private key without a passphrase (ssh-keygen -p removes one)")
        unreachable = ("Connection refused", "No route to host", "timed out", "Could not resolve hostname",
                       "Network is unreachable", "Connection reset", "Connection closed")
        if any(word in text for word in unreachable):
            return SshError(f"{self.what}: cannot reach {where} (with the key {self.key_name}): {last}",
                            hint="check the host name and port, and that its sshd accepts connections from here")
        return SshError(f"{self.what}: ssh to {where} with the key {self.key_name} failed: {last}")

    def close(self) -> None:
        self._closer()

    # ---------------------------------------------------------------- commands
    def _popen(self, script: str, stdin: int | BinaryIO = subprocess.DEVNULL) -> tuple[subprocess.Popen[bytes], BinaryIO]:
        """``sh -c script`` on the old host, through the connection; stderr goes to a temporary file."""
        # Appended to (O_APPEND): reading it while ssh still writes moves no write position.
        fd, name = tempfile.mkstemp(dir=self._dir, suffix=".err")
        os.close(fd)
        err = open(name, "a+b")
        os.unlink(name)
        argv = [self.ssh, *self._options(), "-o", "ControlMaster=no", "-T", self._destination(),
                shlex.join(["sh", "-c", script])]
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        return proc, err

    def _lost(self, what: str, err: BinaryIO, code: int | None) -> SshError:
        err.seek(0)
        text = secrets.mask(err.read(1 << 20).decode(errors="replace")).strip()
        return SshError(f"{self.what}: {what} on {self._destination()} failed (exit status {code}): "
                        f"{text.splitlines()[-1] if text else 'no message'}",
                        hint="the connection to the old host may have been lost: run the step again (it resumes)")

    def _check_script(self) -> str:
        """Shell lines that print why the tree cannot be read and stop, or print ``ok``."""
        root, v2 = shlex.quote(self.root), shlex.quote(self.v2)
        return (f"[ -d {root} ] || {{ echo missing; exit 0; }}; [ -d {v2} ] || {{ echo not-registry; exit 0; }}; "
                f"[ -r {v2} ] && [ -x {v2} ] || {{ echo unreadable; exit 0; }}; "
                "for p in find tar sed sort; do command -v $p >/dev/null 2>&1 || { echo no-$p; exit 0; }; done; "
                f"find {v2} -maxdepth 0 -printf '' 2>/dev/null || {{ echo no-gnu-find; exit 0; }}; "
                "tar --format=gnu -cf - -T /dev/null >/dev/null 2>&1 || { echo no-gnu-tar; exit 0; }; echo ok; ")

    def _check_failed(self, said: str) -> Exception:
        host = self._destination()
        if said == "missing":
            return LayoutError(f"{self.what}: {self.root} does not exist on {host}",
                               hint="give the registry's storage root on the old host (a single-host Harbor: "
                                    "/data/registry)")
        if said == "not-registry":
            return LayoutError(f"{self.what}: {self.root} on {host} holds no docker/registry/v2 tree",
                               hint="give the directory the registry's storage.filesystem.rootdirectory names "
                                    "(a single-host Harbor: /data/registry)")
        if said == "unreadable":
            return LayoutError(f"{self.what}: {self.v2} on {host} is not readable by {self.location.user}",
                               hint="log in as root (or a user who can read the registry's files)")
        if said.startswith("no-"):
            return SshError(f"{self.what}: {host} lacks {said[3:].replace('gnu-', 'GNU ')} ({said})",
                            hint="the copy runs find, tar, sed and sort on the old host (findutils, tar, sed, "
                                 "coreutils): install them there")
        return SshError(f"{self.what}: {host} answered {said[:80]!r} where a check of the tree was expected",
                        hint="does the login print something (a banner in .bashrc)? the commands need a quiet shell")

    # ---------------------------------------------------------------- the Source interface
    def where(self, rel: str) -> str:
        return f"{self._destination()}:{posixpath.join(self.v2, rel)}"

    def listing(self) -> Listing:
        """The tree checked, every blob's size, then the repositories' directories and link files
        and the manifests the revisions name, in one session: each session costs the old host a
        login shell (its rc files and all), and sessions share the one connection anyway."""
        out = Listing()
        with self._channels:
            proc, err = self._popen(self._listing_script())
            with err:
                assert proc.stdout is not None
                stream = io.BufferedReader(cast(io.RawIOBase, proc.stdout), 1 << 16)
                try:
                    said = stream.readline().decode("utf-8", "replace").strip()
                    if said != "ok":
                        if proc.wait() not in (0, None) and not said:
                            raise self._lost("checking the tree", err, proc.returncode)
                        raise self._check_failed(said)
                    out.blobs = self._blob_sizes(stream, err, proc)
                    self._repositories(stream, err, proc, out)
                finally:
                    if proc.poll() is None:
                        proc.kill()  # an error half-way: the remote commands get SIGPIPE
                    proc.wait()
                # tar says 2 when a file was missing: a manifest the revisions name may be (the
                # inventory reports it); anything missing below repositories/ is an error.
                if proc.returncode != 0 and not (proc.returncode == 2 and not self._said(err, "repositories/")):
                    raise self._lost("listing the repositories", err, proc.returncode)
        return out

    def _listing_script(self) -> str:
        blobs = shlex.quote(posixpath.join(self.v2, "blobs", "sha256"))
        return (self._check_script()
                + f"if [ -d {blobs} ]; then find {blobs} -mindepth 3 -maxdepth 3 -name data -type f -printf '%s %P\\n'; "
                + f"fi; echo \"{LISTING_END} $?\"; "
                + f"cd {shlex.quote(self.v2)} || exit 3; [ -d repositories ] || exec tar --format=gnu -cf - -T /dev/null; "
                "{ find repositories -name _uploads -prune -o -print; "
                "find repositories -name _uploads -prune -o -path '*/_manifests/revisions/sha256/*' -prune -print "
                "| sed -n 's|.*/\\([0-9a-f][0-9a-f]\\)\\([0-9a-f]*\\)$|blobs/sha256/\\1/\\1\\2/data|p' | sort -u; "
                "} | tar --format=gnu -cf - --no-recursion -T -")

    def _blob_sizes(self, stream: BinaryIO, err: BinaryIO, proc: subprocess.Popen[bytes]) -> dict[str, int]:
        """Every blob's size: find's lines, up to the line that ends them with find's status."""
        found: dict[str, int] = {}
        while True:
            line = stream.readline().decode("utf-8", "surrogateescape")
            if not line:
                raise self._lost("listing the blobs", err, proc.wait())
            if line.startswith(LISTING_END):
                if line.split()[-1] != "0":
                    raise self._lost("listing the blobs", err, int(line.split()[-1]))
                return found
            size, _, rel = line.rstrip("\n").partition(" ")
            parts = rel.split("/")
            digest = keep_blob(parts[0], parts[1]) if len(parts) == 3 and size.isdigit() else None
            if digest is not None:
                found[digest] = int(size)

    def _repositories(self, stream: BinaryIO, err: BinaryIO, proc: subprocess.Popen[bytes], out: Listing) -> None:
        """Directories and link files below repositories/, and the manifests the revisions name,
        from the tar stream that follows the blobs (no repositories yet: an empty archive)."""
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    name = member.name.rstrip("/")
                    if name.startswith("blobs/sha256/") and member.isfile():
                        parts = name.split("/")
                        digest = keep_blob(parts[2], parts[3]) if len(parts) == 5 else None
                        reader = archive.extractfile(member)
                        if digest and reader:
                            out.manifests[digest] = reader.read(MANIFEST_MAX + 1)
                        continue
                    if not name.startswith("repositories/"):
                        continue
                    rel = name.removeprefix("repositories/")
                    if member.isdir():
                        out.dirs.add(rel)
                    elif member.isfile() and posixpath.basename(rel) == "link":
                        reader = archive.extractfile(member)
                        out.links[rel] = reader.read(layout.LINK_MAX) if reader else b""
            stream.read()  # tar's padding after the end of the archive
            proc.wait()
        except tarfile.ReadError as exc:
            if proc.wait() != 0:
                raise self._lost("listing the repositories", err, proc.returncode) from None
            raise SshError(f"{self.what}: the repositories' listing from {self._destination()} is not a "
                           f"tar stream ({exc})") from None

    def _said(self, err: BinaryIO, word: str) -> bool:
        err.seek(0)
        return word.encode() in err.read(1 << 20)

    def read_blobs(self, digests: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        if not digests:
            return out
        with self.blobs([(d, 0) for d in digests]) as stream:
            for digest, reader, _ in stream:
                if reader is not None:
                    out[digest] = reader.read(MANIFEST_MAX + 1)
        return out

    @contextlib.contextmanager
    def blobs(self, items: list[tuple[str, int]]) -> Iterator[Iterator[tuple[str, Reader | None, str]]]:
        names = {blob_rel(d).removeprefix("blobs/sha256/"): d for d, _ in items}
        base = posixpath.join(self.v2, "blobs", "sha256")
        # The names go to tar on its standard input (-T -): a command line is limited to 128 kB.
        listed = tempfile.TemporaryFile(dir=self._dir)
        listed.write(b"".join(n.encode() + b"\0" for n in names))
        listed.seek(0)
        with self._channels, listed:
            proc, err = self._popen(f"cd {shlex.quote(base)} && exec tar --format=gnu -b 256 -cf - --null -T -",
                                    stdin=listed)
            assert proc.stdout is not None
            _big_pipe(proc.stdout.fileno())
            stream = TarStream(cast(io.RawIOBase, proc.stdout))

            def said(name: str) -> str:
                """What tar said about ``name`` (e.g. "Cannot stat: No such file or directory")."""
                err.seek(0)
                for line in err.read(1 << 16).decode(errors="replace").splitlines():
                    if f"{name}: " in line:
                        return line.split(f"{name}: ", 1)[1]
                return "not in the source (deleted since the inventory?)"

            def broke(exc: TarStreamError) -> SshError:
                code = proc.poll()
                return SshError(f"{self.what}: the stream of blobs from {self._destination()} broke: {exc}",
                                hint="the connection to the old host may have been lost: run the step again "
                                     "(verified blobs are kept)" + (f"; exit status {code}" if code else ""))

            def each() -> Iterator[tuple[str, Reader | None, str]]:
                wanted = [d for d, _ in items]
                at = 0
                absent: list[str] = []  # said at the end, once tar's complaints about them have arrived
                try:
                    while True:
                        member = stream.next()
                        if member is None:
                            break
                        digest = names.get(member[0])
                        if digest is None or digest not in wanted[at:]:
                            raise SshError(f"{self.what}: {self._destination()} sent {member[0]!r}, which was "
                                           "not asked for")
                        while wanted[at] != digest:
                            absent.append(wanted[at])
                            at += 1
                        yield digest, _Member(stream, broke), ""
                        at += 1
                    stream.drain()
                except TarStreamError as exc:
                    raise broke(exc) from None
                code = proc.wait()
                if code == 255:  # ssh's own failure, not tar's
                    raise self._lost("streaming blobs", err, code)
                for digest in absent + wanted[at:]:
                    rel = blob_rel(digest).removeprefix("blobs/sha256/")
                    yield digest, None, f"{self.where(blob_rel(digest))}: {said(rel)}"

            try:
                yield each()
            finally:
                if proc.poll() is None:
                    proc.kill()  # stopped half-way: the remote tar gets SIGPIPE
                proc.wait()
                proc.stdout.close()
                err.close()


class _Member:
    """The current member of a tar stream as a reader (``readinto``/``read``) for the copy; a
    stream that ends inside the member (the connection lost) is an :class:`SshError`."""

    def __init__(self, stream: TarStream, broke: Callable[[TarStreamError], SshError]):
        self.stream, self.broke = stream, broke

    def readinto(self, buf: bytearray | memoryview) -> int:
        try:
            return self.stream.readinto(buf)
        except TarStreamError as exc:
            raise self.broke(exc) from None

    def read(self, limit: int = -1) -> bytes:
        try:
            return self.stream.read(self.stream.left if limit < 0 else limit)
        except TarStreamError as exc:
            raise self.broke(exc) from None


def _big_pipe(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux F_SETPIPE_SZ): fewer, larger reads of the stream."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)
    except (OSError, ImportError, AttributeError):
        pass


def _shut(folder: Path, master: subprocess.Popen[bytes] | None, exit_argv: list[str]) -> None:
    """Close the connection (asking the master to exit, then ending our own process) and remove
    the private directory with the socket (and the key, should it still be there)."""
    if master is not None and master.poll() is None:
        if exit_argv:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(exit_argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        try:
            master.wait(timeout=5)
        except subprocess.TimeoutExpired:
            master.terminate()
            try:
                master.wait(timeout=5)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
    shutil.rmtree(folder, ignore_errors=True)
