"""Reading a tar stream member by member, straight from a pipe, without holding a member in memory.

The SSH source asks the old host's GNU tar for a batch of blobs (``tar --format=gnu -cf -``):
tar frames each file with a 512-byte header carrying its name and size, so many blobs travel
through one channel and each arrives whole or visibly not at all. Python's ``tarfile`` reads
a stream in small records and copies every block; blobs run to gigabytes, so this reader
parses each header with ``tarfile.TarInfo.frombuf`` and hands the member's bytes to the caller
with ``readinto``, one system call per chunk.
"""

from __future__ import annotations

import io
import tarfile

BLOCK = 512


class TarStreamError(Exception):
    """The stream is not the tar stream asked for, or it ended in the middle of a member."""


class TarStream:
    def __init__(self, raw: io.RawIOBase):  # unbuffered: each readinto is one read(2)
        self.raw = raw
        self.left = 0  # bytes of the current member not read yet
        self.pad = 0  # zero bytes after it, up to the next 512-byte boundary
        self.name = ""
        self.ended = False

    def _exact(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.raw.readinto(view[got:])
            if not k:
                raise TarStreamError(f"the stream ended {n - got} bytes early")
            got += k
        return bytes(buf)

    def _skip(self, n: int) -> None:
        while n > 0:
            n -= len(self._exact(min(n, 1 << 20)))

    def next(self) -> tuple[str, int] | None:
        """The next regular file's (name, size), or None at the end of the archive."""
        if self.ended:
            return None
        self._skip(self.left + self.pad)
        self.left = self.pad = 0
        while True:
            block = self._exact(BLOCK)
            if block == bytes(BLOCK):
                self.ended = True  # tar ends with zero blocks, padded to its record size
                return None
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.HeaderError as exc:
                raise TarStreamError(f"not a tar header ({exc})") from None
            pad = -info.size % BLOCK
            if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                self.name, self.left, self.pad = info.name, info.size, pad
                return info.name, info.size
            # Members other than files (none are asked for) are skipped whole.
            self._skip(info.size + pad)

    def readinto(self, buf: bytearray | memoryview) -> int:
        """Up to ``len(buf)`` bytes of the current member; 0 at its end."""
        if not self.left:
            return 0
        view = memoryview(buf)[:min(len(buf), self.left)]
        n = self.raw.readinto(view)
        if not n:
            raise TarStreamError(f"the stream ended inside {self.name}, {self.left} bytes short")
        self.left -= n
        return n

    def read(self, limit: int) -> bytes:
        """The rest of the current member (at most ``limit`` bytes kept; the rest is skipped)."""
        keep = self._exact(min(limit, self.left))
        self.left -= len(keep)
        return keep

    def drain(self) -> None:
        """Read what follows the end (tar pads its last record) so the writer exits normally."""
        while self.raw.readinto(bytearray(1 << 16)):
            pass
