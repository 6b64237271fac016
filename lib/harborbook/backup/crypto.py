"""The backup stream format: compressed, then encrypted in authenticated chunks.

Every object of a backup is a header and a sequence of AES-256-GCM chunks (the ``cryptography``
library's AESGCM). The design follows the STREAM construction of Hoang, Reyhanitabar, Rogaway and
Vizár ("Online authenticated-encryption and its nonce-reuse misuse-resistance", 2015): each
chunk's nonce is its index plus a "last chunk" flag, so reordering, dropping, duplicating or
truncating chunks all fail authentication, and the header is authenticated data of every chunk.

Keys: the passphrase (``backup.encryption_key``) goes through scrypt with a random salt once
per backup; the header stores the salt, the scrypt cost and a key-check value (HMAC of a fixed
label), so a wrong key is told apart from a damaged object. Each object gets its own key from
HKDF over a random 16-byte object nonce: no (key, nonce) pair is ever used twice.

Header (60 bytes): magic ``HBKENC01`` | scrypt log2(n), r, p | compression (0 none, 1 zlib) |
salt (16) | key check (16) | object nonce (16). Chunk: 4-byte big-endian ciphertext length,
ciphertext (plaintext of at most 1 MiB + 16-byte tag).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import HarborbookError
from ..secrets import SecretRef

MAGIC = b"HBKENC01"
HEADER = struct.Struct(">8sBBBB16s16s16s")
LENGTH = struct.Struct(">I")
CHUNK = 1 << 20
TAG = 16
KEY_CHECK_LABEL = b"harborbook backup key check"
# scrypt cost: 2**15 x 8 x 1 is 32 MiB and about 0.1 s, once per backup (RFC 7914's interactive
# recommendation is 2**14; a backup key is derived far less often).
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
NONE, ZLIB = 0, 1


class WrongKey(HarborbookError):
    """The passphrase is not the one the backup was encrypted with."""


class Damaged(HarborbookError):
    """An object failed authentication, is truncated or is not in the backup format."""


@dataclass(frozen=True)
class _Master:
    salt: bytes
    log2_n: int
    r: int
    p: int
    key: bytes

    @property
    def check(self) -> bytes:
        return hmac.new(self.key, KEY_CHECK_LABEL, hashlib.sha256).digest()[:16]


class Keyring:
    """The passphrase and the keys derived from it (scrypt runs once per salt)."""

    def __init__(self, passphrase: SecretRef | str, *, field: str = "backup.encryption_key",
                 log2_n: int = SCRYPT_LOG2_N, r: int = SCRYPT_R, p: int = SCRYPT_P):
        self._passphrase = passphrase
        self.field = field
        self._cost = (log2_n, r, p)
        self._masters: dict[tuple[bytes, int, int, int], _Master] = {}
        self._writing: _Master | None = None

    def __repr__(self) -> str:
        return f"Keyring({self.field})"

    def _secret(self) -> bytes:
        value = self._passphrase.reveal() if isinstance(self._passphrase, SecretRef) else self._passphrase
        return value.encode("utf-8")

    def master(self, salt: bytes, log2_n: int, r: int, p: int) -> _Master:
        key = (salt, log2_n, r, p)
        if key not in self._masters:
            if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
                raise Damaged(f"implausible scrypt parameters 2**{log2_n}, r={r}, p={p} in a backup header")
            derived = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(self._secret())
            self._masters[key] = _Master(salt, log2_n, r, p, derived)
        return self._masters[key]

    def for_writing(self) -> _Master:
        """One salt for everything this keyring writes (one backup): scrypt once."""
        if self._writing is None:
            self._writing = self.master(os.urandom(16), *self._cost)
        return self._writing


def _object_key(master: _Master, nonce: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=b"harborbook backup object").derive(master.key)
    return AESGCM(key)


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">Q", index) + b"\x00\x00\x00" + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """A write-only stream: bytes in, the backup format out to ``sink`` (chunked, flat memory)."""

    def __init__(self, sink: BinaryIO, keyring: Keyring, *, compress: bool = True):
        master = keyring.for_writing()
        self.sink = sink
        self.header = HEADER.pack(MAGIC, master.log2_n, master.r, master.p, ZLIB if compress else NONE,
                                  master.salt, master.check, os.urandom(16))
        self.aead = _object_key(master, self.header[-16:])
        self.zlib = zlib.compressobj(1) if compress else None  # level 1: the fast end (blobs are gzip already)
        self.buffer = bytearray()
        self.index = 0
        self.plain_size = 0
        self.written = 0
        self.sha256 = hashlib.sha256()
        self.closed = False
        self._put(self.header)

    def _put(self, data: bytes) -> None:
        self.sink.write(data)
        self.written += len(data)

    def _seal(self, data: bytes | bytearray, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.index, last), bytes(data), self.header)
        self._put(LENGTH.pack(len(sealed)) + sealed)
        self.index += 1

    def _drain(self) -> None:
        # Keep at least one byte back: the last chunk must carry the "last" flag.
        while len(self.buffer) > CHUNK:
            self._seal(self.buffer[:CHUNK], last=False)
            del self.buffer[:CHUNK]

    def write(self, data: bytes) -> int:
        self.plain_size += len(data)
        self.sha256.update(data)
        self.buffer += self.zlib.compress(data) if self.zlib else data
        self._drain()
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        if self.zlib:
            self.buffer += self.zlib.flush()
        self._drain()
        self._seal(self.buffer, last=True)
        self.buffer.clear()
        self.closed = True


def _read_exact(src: BinaryIO, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        block = src.read(size - len(out))
        if not block:
            break
        out += block
    return bytes(out)


def decrypt(src: BinaryIO, keyring: Keyring, *, what: str = "object") -> Iterator[bytes]:
    """The plaintext of a backup object, block by block; every chunk is authenticated first."""
    header = _read_exact(src, HEADER.size)
    if len(header) < HEADER.size or not header.startswith(MAGIC):
        raise Damaged(f"{what} is not a harborbook backup object (bad header)",
                      hint="the backup is damaged or was not written by harborbook")
    _, log2_n, r, p, compression, salt, check, nonce = HEADER.unpack(header)
    if compression not in (NONE, ZLIB):
        raise Damaged(f"{what}: unknown compression {compression} in its header")
    master = keyring.master(salt, log2_n, r, p)
    if not hmac.compare_digest(master.check, check):
        raise WrongKey(f"the encryption key ({keyring.field}) is not the key this backup was made with",
                       hint="point backup.encryption_key at the key used when the backup was taken")
    aead = _object_key(master, nonce)
    inflate = zlib.decompressobj() if compression == ZLIB else None
    index = 0
    while True:
        raw = _read_exact(src, LENGTH.size)
        if len(raw) < LENGTH.size:
            raise Damaged(f"{what} is truncated after {index} chunk(s) (no last chunk)",
                          hint="the backup was cut short or damaged; restore from another backup")
        (size,) = LENGTH.unpack(raw)
        if not TAG <= size <= CHUNK + TAG:
            raise Damaged(f"{what}: chunk {index} has an impossible length {size}")
        sealed = _read_exact(src, size)
        if len(sealed) < size:
            raise Damaged(f"{what} is truncated inside chunk {index}",
                          hint="the backup was cut short or damaged; restore from another backup")
        plain = None
        for last in (False, True):
            try:
                plain = aead.decrypt(_nonce(index, last), sealed, header)
                break
            except InvalidTag:
                continue
        if plain is None:
            raise Damaged(f"{what}: chunk {index} failed authentication (the data was altered or damaged)",
                          hint="this object cannot be trusted; restore from another backup")
        index += 1
        out = inflate.decompress(plain) if inflate else plain
        if out:
            yield out
        if last:
            if src.read(1):
                raise Damaged(f"{what}: data after the last chunk")
            if inflate:
                tail = inflate.flush()
                if tail:
                    yield tail
                if not inflate.eof:
                    raise Damaged(f"{what}: the compressed stream is incomplete")
            return


def key_check(src: BinaryIO, keyring: Keyring, *, what: str = "object") -> None:
    """Raise WrongKey when ``keyring`` cannot open ``src`` (reads the header only)."""
    header = _read_exact(src, HEADER.size)
    if len(header) < HEADER.size or not header.startswith(MAGIC):
        raise Damaged(f"{what} is not a harborbook backup object (bad header)")
    _, log2_n, r, p, _, salt, check, _ = HEADER.unpack(header)
    if not hmac.compare_digest(keyring.master(salt, log2_n, r, p).check, check):
        raise WrongKey(f"the encryption key ({keyring.field}) is not the key this backup was made with",
                       hint="point backup.encryption_key at the key used when the backup was taken")
