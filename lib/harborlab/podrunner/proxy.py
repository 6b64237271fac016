"""The pod ``proxy`` subresource: one HTTP request forwarded to a pod's process.

As the real API server's proxy does, the caller's credentials for the API server
(``Authorization``) are not passed on, nor are hop-by-hop headers; the answer is streamed back
as it comes, bytes unchanged (no decompression). A connection refused means nothing listens:
``None``, which the emulator answers 503 like the real proxy.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length"})
NOT_FORWARDED = HOP_BY_HOP | {"authorization"}
TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=5)


def request_headers(headers) -> dict[str, str]:
    """What reaches the pod: everything but hop-by-hop headers and the API credentials."""
    return {k: v for k, v in headers.items() if k.lower() not in NOT_FORWARDED}


def response_headers(headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP]


def subpath(raw_path: str, routed: str) -> str:
    """The path after ``.../pods/NAME[:PORT]/proxy`` as the client sent it: the emulator's router
    drops a trailing slash (``/v2/`` would reach the registry as ``/v2``, a 404)."""
    marker = raw_path.find("/proxy", raw_path.find("/pods/"))
    if "/pods/" not in raw_path or marker < 0:
        return routed
    return raw_path[marker + len("/proxy"):] or "/"


def target_port(pod: dict, port: str) -> int | None:
    """The container port the proxy URL names: a number, a port name, or (empty) the first one."""
    ports = [p for c in pod["spec"].get("containers", []) for p in c.get("ports") or []]
    if port.isdigit():
        return int(port)
    for entry in ports:
        if (not port) or entry.get("name") == port:
            return int(entry["containerPort"])
    return None


async def forward(request: web.Request, address: str, path: str) -> web.StreamResponse | None:
    """Forward ``request`` to ``http://<address>/<path>?<query>``; None when nothing answers."""
    url = f"http://{address}/{path.lstrip('/')}"
    if request.query_string:
        url += "?" + request.query_string
    body = await request.read() if request.can_read_body else None
    async with aiohttp.ClientSession(timeout=TIMEOUT, auto_decompress=False) as session:
        try:
            upstream = await session.request(request.method, url, headers=request_headers(request.headers),
                                             data=body, allow_redirects=False)
        except aiohttp.ClientConnectorError:
            return None
        async with upstream:
            answer = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                        headers=response_headers(upstream.headers))
            if upstream.headers.get("Content-Length") is not None:
                answer.content_length = int(upstream.headers["Content-Length"])
            await answer.prepare(request)
            async for chunk in upstream.content.iter_chunked(65536):
                await answer.write(chunk)
            await answer.write_eof()
            return answer
