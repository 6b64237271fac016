"""A lean HTTP/1.1 GET client on asyncio: keep-alive connections, one request at a time each.

The fleet scan sends ~10 000 small GETs to one API server; a general client (aiohttp) spends
~250 us of CPU on each, more than the API server itself. This one does only what those GETs
need: a fixed request head, the status line, the headers it reads (Content-Length,
Transfer-Encoding: chunked, Connection: close, Retry-After), and the body; no redirects,
cookies, compression or proxies (with a proxy configured, the fleet scan uses aiohttp).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit


class HTTPError(Exception):
    """The connection failed or the server's answer was not HTTP/1.1 we can read."""


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def more(self) -> None:
        """Wait for bytes (or the end of the connection)."""
        if self.closed:
            raise HTTPError("the server closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter
        self.waiter = None

    async def until(self, marker: bytes, start: int = 0) -> int:
        while True:
            at = self.buf.find(marker, start)
            if at >= 0:
                return at
            start = max(0, len(self.buf) - len(marker) + 1)
            if self.closed:
                raise HTTPError("the server closed the connection mid-answer")
            await self.more()

    async def exactly(self, size: int) -> None:
        while len(self.buf) < size:
            if self.closed:
                raise HTTPError("the server closed the connection mid-answer")
            await self.more()


class LeanClient:
    """GETs to one ``http(s)://host:port`` with fixed headers; ``get`` -> (status, headers, body)."""

    def __init__(self, base: str, headers: dict[str, str], ssl_context: ssl.SSLContext | bool,
                 timeout: float = 30.0):
        url = urlsplit(base)
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.ssl = ssl_context if url.scheme == "https" else None
        if url.scheme == "https" and self.ssl is False:
            self.ssl = ssl._create_unverified_context()
        host_header = url.netloc.rsplit("@", 1)[-1]
        lines = [f"Host: {host_header}", *(f"{k}: {v}" for k, v in headers.items()),
                 "Accept-Encoding: identity", "User-Agent: harborbook-fleet"]
        self.head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.timeout = timeout
        self.idle: list[_Conn] = []

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Conn, self.host, self.port, ssl=self.ssl,
            server_hostname=self.host if self.ssl else None)
        return conn

    async def get(self, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        try:
            return await asyncio.wait_for(self._get(path), self.timeout)
        except asyncio.TimeoutError:
            raise HTTPError(f"no answer within {self.timeout:.0f} s") from None
        except (OSError, ValueError) as exc:  # ValueError: a malformed length or chunk size
            raise HTTPError(f"{type(exc).__name__}: {exc}") from None

    async def _get(self, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        while self.idle and self.idle[-1].closed:
            self.idle.pop()
        reused = bool(self.idle)
        conn = self.idle.pop() if reused else await self._connect()
        try:
            return await self._exchange(conn, path)
        except HTTPError:
            if not reused:
                raise
        # A kept-alive connection the server had closed meanwhile: once more on a new one.
        return await self._exchange(await self._connect(), path)

    async def _exchange(self, conn: _Conn, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        assert conn.transport is not None
        conn.buf.clear()
        conn.transport.write(b"GET " + (self.prefix + path).encode("ascii") + b" HTTP/1.1\r\n" + self.head)
        end = await conn.until(b"\r\n\r\n")
        lines = bytes(conn.buf[:end]).split(b"\r\n")
        del conn.buf[:end + 4]
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            conn.transport.close()
            raise HTTPError(f"not an HTTP/1.1 answer: {lines[0][:60]!r}")
        status = int(parts[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower().endswith(b"chunked"):
            body = await self._chunked(conn)
        elif b"content-length" in headers:
            size = int(headers[b"content-length"])
            await conn.exactly(size)
            body = bytes(conn.buf[:size])
            del conn.buf[:size]
        else:  # the body ends with the connection
            while not conn.closed:
                await conn.more()
            body = bytes(conn.buf)
        if headers.get(b"connection", b"").lower() == b"close" or conn.closed or conn.buf:
            conn.transport.close()
        else:
            self.idle.append(conn)
        return status, headers, body

    async def _chunked(self, conn: _Conn) -> bytes:
        body = bytearray()
        while True:
            end = await conn.until(b"\r\n")
            size = int(bytes(conn.buf[:end]).split(b";", 1)[0], 16)
            del conn.buf[:end + 2]
            if size == 0:
                # Trailers (usually none) up to the empty line.
                while True:
                    end = await conn.until(b"\r\n")
                    line = bytes(conn.buf[:end])
                    del conn.buf[:end + 2]
                    if not line:
                        return bytes(body)
            await conn.exactly(size + 2)
            body += conn.buf[:size]
            del conn.buf[:size + 2]

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()
