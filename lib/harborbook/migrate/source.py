"""Where the old registry tree is read from: a directory here, or another host over SSH.

The inventory and the copy ask a source three things, and nothing else:

- ``listing()``: every blob with its size, and the repositories' directories and link files;
- ``read_blobs(digests)``: small blobs whole (the manifests the inventory parses);
- ``blobs(items)``: a stream of blobs' bytes, one after the other, for the copy to hash and write.

So inventory, copy, verification, journal and corrupt-blob reporting are the same code whatever
the source; :class:`LocalSource` reads files, :class:`~.sshsource.SshSource` streams them through
one SSH connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import layout

# The manifests the inventory reads are small (distribution refuses pushes of more than 4 MiB);
# a "manifest" larger than this is not one, and is not read whole into memory.
MANIFEST_MAX = 8 << 20


class Reader(Protocol):
    """A blob's bytes as they arrive: a local file, or one member of a remote stream."""

    def readinto(self, buf: bytearray | memoryview, /) -> int | None: ...

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class Listing:
    """What a registry tree holds, read without hashing anything."""

    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size of blobs/sha256/xx/<hex>/data
    dirs: set[str] = field(default_factory=set)  # directories below repositories/ ('/'-separated), no _uploads
    links: dict[str, bytes] = field(default_factory=dict)  # files named 'link' below repositories/ -> bytes
    manifests: dict[str, bytes] = field(default_factory=dict)  # manifests the source sent along (SSH)


def keep_blob(prefix: str, name: str) -> str | None:
    """The digest of ``blobs/sha256/<prefix>/<name>``, or None when the layout does not name one."""
    digest = f"sha256:{name}"
    return digest if layout.is_digest(digest) and name[:2] == prefix else None


class Source:
    """A registry tree to read (see the module's docstring); a context manager."""

    # Whether opening a stream of blobs costs a round trip (SSH): the copy then gives each worker
    # all its blobs in one stream, rather than one blob at a time (a local file opens for free).
    streams = False
    max_streams = 1 << 16  # streams open at once, at most (SSH: the sessions sshd allows per connection)

    def __init__(self, label: str):
        self.label = label

    def __str__(self) -> str:
        return self.label

    def where(self, rel: str) -> str:
        """How messages name ``rel``, a path below ``docker/registry/v2``."""
        raise NotImplementedError

    def listing(self) -> Listing:
        raise NotImplementedError

    def read_blobs(self, digests: list[str]) -> dict[str, bytes]:
        """Each blob of ``digests`` whole (at most MANIFEST_MAX bytes read); absent ones are left out."""
        raise NotImplementedError

    def blobs(self, items: list[tuple[str, int]]) -> contextlib.AbstractContextManager[
            Iterator[tuple[str, Reader | None, str]]]:
        """``items`` in order as (digest, reader, detail): reader None when the blob is not there
        (detail says why). Each reader must be read before the next item is asked for."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def blob_rel(digest: str) -> str:
    hexpart = digest.split(":", 1)[1]
    return f"blobs/sha256/{hexpart[:2]}/{hexpart}/data"


class LocalSource(Source):
    """A registry tree in a directory of this machine (or mounted on it)."""

    def __init__(self, root: Path, *, what: str = "source registry", check: bool = True):
        self.root = layout.check_root(root, what) if check else Path(root)
        super().__init__(str(self.root))

    def where(self, rel: str) -> str:
        return str(layout.v2(self.root) / rel)

    def listing(self) -> Listing:
        out = Listing()
        base = layout.v2(self.root) / "blobs" / "sha256"
        for prefix in _dirs(base):
            for name in _dirs(base / prefix):
                digest = keep_blob(prefix, name)
                if digest is None:
                    continue
                try:
                    out.blobs[digest] = os.stat(base / prefix / name / "data").st_size
                except FileNotFoundError:
                    continue  # an upload in progress or a deleted blob leaves the directory only
        repositories = layout.v2(self.root) / "repositories"
        for folder, dirs, files in os.walk(repositories):
            dirs[:] = [d for d in dirs if d != "_uploads"]  # uploads in progress are never copied
            rel = os.path.relpath(folder, repositories)
            prefix = "" if rel == "." else rel + "/"
            out.dirs.update(prefix + d for d in dirs)
            if "link" in files:
                try:
                    with open(os.path.join(folder, "link"), "rb") as link:
                        out.links[prefix + "link"] = link.read(layout.LINK_MAX)
                except (FileNotFoundError, IsADirectoryError):
                    continue
        return out

    def read_blobs(self, digests: list[str]) -> dict[str, bytes]:
        out = {}
        for digest in digests:
            try:
                with open(layout.blob_data(self.root, digest), "rb") as blob:
                    out[digest] = blob.read(MANIFEST_MAX + 1)
            except FileNotFoundError:
                continue
        return out

    @contextlib.contextmanager
    def blobs(self, items: list[tuple[str, int]]) -> Iterator[Iterator[tuple[str, Reader | None, str]]]:
        opened: list[Reader] = []

        def each() -> Iterator[tuple[str, Reader | None, str]]:
            for digest, _size in items:
                path = layout.blob_data(self.root, digest)
                try:
                    reader = open(path, "rb", buffering=0)
                except FileNotFoundError:
                    yield digest, None, f"{path} is gone from the source"
                    continue
                opened.append(reader)
                with reader:
                    yield digest, reader, ""

        try:
            yield each()
        finally:
            for reader in opened:
                reader.close()  # type: ignore[attr-defined]


def _dirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def as_source(source: "Source | Path | str", what: str = "source registry", check: bool = True) -> Source:
    """A Source as it is, a path as a :class:`LocalSource`."""
    return source if isinstance(source, Source) else LocalSource(Path(source), what=what, check=check)


def open_source(registry: "Path | object", *, ssh_key: object = None, known_hosts: Path | None = None,
                what: str = "source registry") -> Source:
    """The source a params' ``registry`` names: a local path, or an ``ssh://`` location (connected now)."""
    from ..params.sshurl import SshLocation
    from ..secrets import SecretRef
    from .sshsource import SshSource

    if isinstance(registry, SshLocation):
        assert isinstance(ssh_key, SecretRef) and known_hosts is not None  # the params insist on both
        return SshSource(registry, ssh_key, known_hosts, what=what)
    assert isinstance(registry, (str, Path))
    return LocalSource(Path(registry), what=what)
