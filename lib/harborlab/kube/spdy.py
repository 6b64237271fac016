"""SPDY/3.1 streams over an upgraded HTTP connection: what client-go (kubectl, helm, operators)
speaks for exec, attach and port-forward to a server without the websocket translator (before
1.30), and what the kubelet answers with.

Written from the SPDY draft 3 / 3.1 specification: 8-byte frame headers (a control bit, version 3
and a type for control frames; a 31-bit stream id for data frames; 8 bits of flags, 24 of length);
SYN_STREAM / SYN_REPLY carry a name/value header block compressed by one zlib stream per direction,
primed with the specification's dictionary. Only the server's side of what these clients use is
here: every stream is opened by the client and answered with an empty SYN_REPLY; PINGs are echoed;
the server ends with FIN on its streams, GOAWAY and a close. Flow control (WINDOW_UPDATE) is not
sent: client-go's spdystream does not enforce windows.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_CHUNK = 32 * 1024

# The SPDY/3 header-compression dictionary (spec section 2.6.10.1): the listed names and values,
# each preceded by its 32-bit length, then the run of status codes, dates and media types as is.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin")
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()


class ProtocolError(Exception):
    pass


def encode_headers(headers: dict[str, str]) -> bytes:
    raw = struct.pack(">I", len(headers))
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
    return raw


def decode_headers(raw: bytes) -> dict[str, str]:
    try:
        (count,), pos, out = struct.unpack_from(">I", raw, 0), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", raw, pos)
            out[name] = raw[pos + 4:pos + 4 + v].decode()
            pos += 4 + v
        return out
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


@dataclass
class Stream:
    id: int
    headers: dict[str, str]
    data: asyncio.Queue = field(default_factory=asyncio.Queue)   # bytes, then None at FIN/reset
    ended: bool = False

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.data.put_nowait(None)


class Session:
    """The server side of one SPDY connection; plugged in as the aiohttp protocol's payload parser
    (``feed_data``/``feed_eof``), writing frames straight to the transport."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.buffer = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self.streams: dict[int, Stream] = {}
        self.arrived = asyncio.Event()
        self.closed = False
        self.last_stream = 0

    # --- aiohttp payload-parser interface -----------------------------------------------------
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.buffer += data
        try:
            self._frames()
        except ProtocolError:
            self.close(status=1)
        return False, b""

    def feed_eof(self) -> None:
        self.closed = True
        for stream in self.streams.values():
            stream.end()
        self.arrived.set()

    # --- reading ------------------------------------------------------------------------------
    def _frames(self) -> None:
        while len(self.buffer) >= 8:
            first, second = struct.unpack_from(">II", self.buffer, 0)
            length = second & 0xFFFFFF
            if len(self.buffer) < 8 + length:
                return
            flags = second >> 24
            payload = bytes(self.buffer[8:8 + length])
            del self.buffer[:8 + length]
            if first & 0x80000000:
                if (first >> 16) & 0x7FFF != VERSION:
                    raise ProtocolError("unsupported SPDY version")
                self._control(first & 0xFFFF, flags, payload)
            else:
                stream = self.streams.get(first & 0x7FFFFFFF)
                if stream is not None and not stream.ended:
                    if payload:
                        stream.data.put_nowait(payload)
                    if flags & FLAG_FIN:
                        stream.end()

    def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            if len(payload) < 10:
                raise ProtocolError("short SYN_STREAM")
            stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            try:
                raw = self.inflate.decompress(payload[10:])
            except zlib.error as exc:
                raise ProtocolError(f"header block: {exc}") from None
            stream = Stream(stream_id, decode_headers(raw))
            self.streams[stream_id] = stream
            self.last_stream = max(self.last_stream, stream_id)
            self._write(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._headers({})))
            if flags & FLAG_FIN:
                stream.end()
            self.arrived.set()
        elif kind == RST_STREAM and len(payload) >= 4:
            stream = self.streams.get(struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF)
            if stream is not None:
                stream.end()
        elif kind == PING:
            self._write(control_frame(PING, 0, payload))
        elif kind == GOAWAY:
            self.feed_eof()
        elif kind == HEADERS and len(payload) >= 4:
            self.inflate.decompress(payload[4:])     # keep the shared zlib context in step
        # SETTINGS and WINDOW_UPDATE need no answer here.

    def _headers(self, headers: dict[str, str]) -> bytes:
        return self.deflate.compress(encode_headers(headers)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    async def wait_for(self, kinds: set[str], timeout: float) -> dict[str, Stream]:
        """The client's streams by their ``streamtype`` header, once all of ``kinds`` arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = {s.headers.get("streamtype", ""): s for s in self.streams.values()}
            if kinds <= set(found) or self.closed:
                return found
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return found
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return found

    # --- writing ------------------------------------------------------------------------------
    def _write(self, frame: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(frame)

    def send(self, stream: Stream, data: bytes, fin: bool = False) -> None:
        for start in range(0, len(data), MAX_CHUNK):
            self._write(data_frame(stream.id, data[start:start + MAX_CHUNK]))
        if fin:
            self._write(data_frame(stream.id, b"", fin=True))

    async def drain(self) -> None:
        # Don't let a slow reader make us buffer a process's whole output.
        while not self.closed and self.transport.get_write_buffer_size() > 4 * MAX_CHUNK:
            await asyncio.sleep(0.01)

    def close(self, status: int = 0) -> None:
        if not self.closed:
            self._write(control_frame(GOAWAY, 0, struct.pack(">II", self.last_stream, status)))
            self.closed = True
            self.transport.close()
