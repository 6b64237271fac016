"""The pod ``portforward`` subresource over a websocket, as ``kubernetes.stream.portforward`` speaks it.

``GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=5000[,5001]`` upgraded to a websocket
with a ``*.channel.k8s.io`` subprotocol. Port number ``i`` (in the order asked) gets two
channels: data ``2i`` and error ``2i+1``; every binary message starts with its channel byte.
The server opens each channel with one message carrying the port number (uint16, little
endian); then bytes on a data channel go to/from ``<podIP>:<port>``, and a failure to reach it
is text on the error channel (the kubelet's wording). Unlike the pod ``proxy`` subresource, the
bytes are passed untouched, so an ``Authorization`` header reaches the pod: a check can pull
through one registry replica with a real token.

The lab's pod IPs of pods with a real process are loopback addresses (127.77.0.0/16), which
this process can reach; a simulated pod's IP is not, and is reported on the error channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from .status import bad_request

if TYPE_CHECKING:
    from .server import ApiServer, Route

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
CHUNK = 65536


def parse_ports(values: list[str]) -> list[int]:
    """``ports`` query values (repeated and/or comma separated) -> port numbers, validated."""
    ports: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part.isdigit() or not 0 < int(part) < 65536:
                raise bad_request(f"invalid port {part!r}: ports must be integers between 1 and 65535")
            if int(part) in ports:
                raise bad_request(f"duplicate port {part}")
            ports.append(int(part))
    if not ports:
        raise bad_request("at least one port must be specified (ports=...)")
    return ports


def opening_frame(channel: int, port: int) -> bytes:
    return bytes((channel,)) + struct.pack("<H", port)


def reachable(pod_ip: str | None) -> bool:
    return bool(pod_ip) and pod_ip.startswith("127.")


async def handle(server: "ApiServer", request: web.Request, route: "Route") -> web.StreamResponse:
    pod = server.cluster.get(route.res, route.namespace, route.name)
    if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
        return await serve_spdy(request, pod)
    ports = parse_ports(request.query.getall("ports", []))
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise bad_request("portforward needs a websocket upgrade (Upgrade: websocket)")
    await ws.prepare(request)
    meta = pod["metadata"]
    pod_ip = (pod.get("status") or {}).get("podIP")
    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: list[asyncio.Task] = []
    for index, port in enumerate(ports):
        await ws.send_bytes(opening_frame(2 * index, port))
        await ws.send_bytes(opening_frame(2 * index + 1, port))
        error = None
        if not reachable(pod_ip):
            error = f"pod {meta['name']} has no process the lab can reach (podIP {pod_ip or 'none'})"
        else:
            try:
                reader, writer = await asyncio.open_connection(pod_ip, port)
                writers[2 * index] = writer
                pumps.append(asyncio.create_task(_upstream(reader, ws, 2 * index)))
            except OSError as exc:
                error = f"dial tcp {pod_ip}:{port}: connect: {exc.strerror or exc}"
        if error:
            await ws.send_bytes(bytes((2 * index + 1,)) + (
                f"error forwarding port {port} to pod {meta.get('uid', '')}, uid : {error}").encode())
    try:
        if not writers:
            return ws
        downstream = asyncio.create_task(_downstream(ws, writers))
        done, _pending = await asyncio.wait([downstream, *pumps], return_when=asyncio.FIRST_COMPLETED)
        # The client hung up, or every pod connection ended: finish the rest.
        if downstream not in done:
            await asyncio.wait(pumps)
    finally:
        for task in pumps:
            task.cancel()
        for writer in writers.values():
            writer.close()
        await ws.close()
    return ws


async def _upstream(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    prefix = bytes((channel,))
    with contextlib.suppress(ConnectionError, OSError):
        while True:
            data = await reader.read(CHUNK)
            if not data or ws.closed:
                return
            await ws.send_bytes(prefix + data)


async def _downstream(ws: web.WebSocketResponse, writers: dict[int, asyncio.StreamWriter]) -> None:
    async for message in ws:
        if message.type != WSMsgType.BINARY or not message.data:
            continue
        writer = writers.get(message.data[0])
        if writer is not None and len(message.data) > 1:
            writer.write(message.data[1:])
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()


# --- SPDY (what client-go / kubectl port-forward use) ------------------------------------------

SPDY_PROTOCOL = "portforward.k8s.io"


async def serve_spdy(request: web.Request, pod: dict) -> web.StreamResponse:
    """The kubelet's SPDY port-forward: per forwarded connection the client opens an error and a
    data stream with the same ``requestID`` and ``port`` headers; the data stream's bytes go to and
    from ``<podIP>:<port>``, a failure is written on the error stream."""
    from . import spdy
    offered = [v.strip() for header in request.headers.getall("X-Stream-Protocol-Version", [])
               for v in header.split(",") if v.strip()]
    if offered and SPDY_PROTOCOL not in offered:
        return web.Response(status=403, headers={"X-Accepted-Stream-Protocol-Versions": SPDY_PROTOCOL},
                            text=f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                                 f"server supports [{SPDY_PROTOCOL}]\n")
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("connection lost")
    session = spdy.Session(transport)
    request.protocol.set_parser(session)
    request.protocol.keep_alive(False)
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                       "X-Stream-Protocol-Version": SPDY_PROTOCOL})
    response.force_close()
    await response.prepare(request)
    started: set[str] = set()
    tasks: list[asyncio.Task] = []
    try:
        while not session.closed:
            pairs: dict[str, dict[str, spdy.Stream]] = {}
            for stream in list(session.streams.values()):
                pairs.setdefault(stream.headers.get("requestid", ""), {})[stream.headers.get("streamtype", "")] = stream
            for request_id, pair in pairs.items():
                if request_id not in started and {"data", "error"} <= set(pair):
                    started.add(request_id)
                    tasks.append(asyncio.create_task(_forward(session, pod, pair["data"], pair["error"])))
            session.arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(session.arrived.wait(), 1.0)
    finally:
        for task in tasks:
            task.cancel()
        session.close()
    return response


async def _forward(session, pod: dict, data, error) -> None:
    port_text = data.headers.get("port", "")
    pod_ip = (pod.get("status") or {}).get("podIP")
    uid = pod["metadata"].get("uid", "")
    problem = None
    if not port_text.isdigit():
        problem = f'invalid port "{port_text}"'
    elif not reachable(pod_ip):
        problem = f"pod {pod['metadata']['name']} has no process the lab can reach (podIP {pod_ip or 'none'})"
    writer = None
    if problem is None:
        try:
            reader, writer = await asyncio.open_connection(pod_ip, int(port_text))
        except OSError as exc:
            problem = f"dial tcp {pod_ip}:{port_text}: connect: {exc.strerror or exc}"
    if problem is not None:
        session.send(error, f"error forwarding port {port_text} to pod {uid}, uid : {problem}".encode(), fin=True)
        session.send(data, b"", fin=True)
        return

    async def up() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(CHUNK):
                session.send(data, chunk)
                await session.drain()
        session.send(data, b"", fin=True)

    async def down() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while (chunk := await data.data.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

    # When the pod's side is done, so is the forwarded connection (the runtime's port forwarder
    # returns once either copy ends, and the kubelet then closes the streams): client-go waits for
    # the error stream to end before it closes the local connection, so waiting for the client's
    # side here too would hang both.
    sender = asyncio.create_task(down())
    try:
        await up()
    finally:
        sender.cancel()
        writer.close()
        session.send(error, b"", fin=True)
