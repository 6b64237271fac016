"""Objects in and out of a target through the encrypted stream, each verified.

``put`` streams a source into the target and then reads the stored object back (decrypting and
hashing it) before it counts: a target that acknowledged a write it did not keep is caught at
backup time, not at restore time.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Callable

from ..errors import HarborbookError
from .crypto import Damaged, EncryptingWriter, Keyring, decrypt
from .manifest import FileEntry
from .target import Target

BLOCK = 1 << 20


class DigestMismatch(HarborbookError):
    """A blob's bytes do not hash to the digest it is stored under."""


def put(target: Target, name: str, source: BinaryIO, keyring: Keyring, *, compress: bool = True,
        expect_sha256: str | None = None, progress: Callable[[int], None] | None = None) -> FileEntry:
    """Stream ``source`` into ``name``; verify it by reading it back. ``expect_sha256`` (hex) is
    checked on the bytes read from the source before the object is kept."""
    with target.writer(name) as sink:
        out = EncryptingWriter(sink, keyring, compress=compress)
        while True:
            block = source.read(BLOCK)
            if not block:
                break
            out.write(block)
            if progress:
                progress(len(block))
        out.close()
        digest = out.sha256.hexdigest()
        if expect_sha256 is not None and digest != expect_sha256:
            # Raising inside the writer: the target keeps nothing under this name.
            raise DigestMismatch(f"{name}: the source bytes hash to sha256:{digest}, not sha256:{expect_sha256}",
                                 hint="the registry storage holds a damaged blob; it is not backed up")
    entry = FileEntry(out.plain_size, digest, out.written)
    check = verify(target, name, keyring, entry)
    if check:
        raise Damaged(f"{name}: read back after writing, {check}",
                      hint=f"the target {target.describe()} did not keep what was written; check it")
    return entry


def read_into(target: Target, name: str, keyring: Keyring, sink: BinaryIO | None) -> tuple[int, str]:
    """Decrypt ``name`` into ``sink`` (None: only hash it); (bytes, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    with target.reader(name) as src:
        for block in decrypt(src, keyring, what=name):
            digest.update(block)
            size += len(block)
            if sink is not None:
                sink.write(block)
    return size, digest.hexdigest()


def verify(target: Target, name: str, keyring: Keyring, entry: FileEntry) -> str:
    """'' when the stored object decrypts to ``entry``'s size and sha256; else what differs."""
    size, digest = read_into(target, name, keyring, None)
    if (size, digest) != (entry.size, entry.sha256):
        return f"it holds {size} bytes sha256:{digest[:12]}…, expected {entry.size} bytes sha256:{entry.sha256[:12]}…"
    return ""
