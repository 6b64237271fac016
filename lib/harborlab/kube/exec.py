"""``pods/exec``: the websocket channel protocols the official client speaks (``v5.channel.k8s.io``,
``v4.channel.k8s.io``, and the legacy ``channel.k8s.io``).

Every frame starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the final Status (JSON in
v4/v5: ``{"status": "Success"}`` or a Failure with ``details.causes[0] = {"reason": "ExitCode",
"message": "N"}``), and in v5 255 + channel to close a stream (stdin EOF).

What runs is decided by the node's agent (``agent.exec_argv(pod, container, command)``), since only
the node knows what a container's filesystem is. The lab nodes' agent translates the one command a
debug pod needs: ``chroot /host CMD...`` in a pod whose ``hostPath: /`` volume is mounted at
``/host`` becomes ``chroot <that node's root> CMD...`` on the machine, so a node shell over a debug
pod reaches the same files, ``df`` and ``systemctl`` as the chroot shell. Anything else is refused
with a Status explaining it. The process is started by this server and killed by its PID when the
client goes away.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from . import spdy
from .status import bad_request, go_json

if TYPE_CHECKING:
    from .server import ApiServer, Route

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
# What the kubelet negotiates over SPDY (httpstream.Handshake, in the client's order of preference).
SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
V5_SINCE = (1, 30)    # the apiserver's websocket translator (v5, stream close) is on by default from 1.30


def protocols_for(minor: tuple[int, int]) -> tuple[str, ...]:
    """The websocket subprotocols a server of that version offers for exec: the kubelet's own
    (v4 and the legacy channel protocol) and, from 1.30, the apiserver's v5."""
    return PROTOCOLS if minor >= V5_SINCE else PROTOCOLS[1:]
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255


class ExecRefused(Exception):
    """Raised by an agent's ``exec_argv`` when the container's runtime would refuse the command
    (no such program, a stopped container): the message is the runtime's."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def host_mount_of_root(pod: dict, container: str) -> str | None:
    """Where ``container`` mounts a ``hostPath: /`` volume (``/host`` for kubectl debug node)."""
    volumes = {v["name"] for v in pod["spec"].get("volumes") or []
               if (v.get("hostPath") or {}).get("path", "").rstrip("/") == ""}
    for spec in pod["spec"].get("containers", []):
        if spec["name"] == container:
            for mount in spec.get("volumeMounts") or []:
                if mount.get("name") in volumes:
                    return mount.get("mountPath")
    return None


def status_frame(rc: int | None, message: str = "") -> dict:
    """The kubelet's final Status (cri streaming remotecommand ServeExec): Success; an exit code as
    reason NonZeroExitCode with one ExitCode cause and no code; anything else as the apiserver's
    NewInternalError of "error executing command in container: ..." (code 500, one cause).
    Keys in the order Go's encoder writes metav1.Status (kind/apiVersion are empty here)."""
    if rc == 0:
        return {"metadata": {}, "status": "Success"}
    if rc is not None:
        return {"metadata": {}, "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {rc}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}
    error = f"error executing command in container: {message}"
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {error}",
            "reason": "InternalError", "details": {"causes": [{"message": error}]}, "code": 500}


async def handle_exec(server: "ApiServer", request: web.Request, route: "Route") -> web.StreamResponse:
    cluster = server.cluster
    pod = cluster.get(route.res, route.namespace, route.name)
    query = request.query
    command = query.getall("command", [])
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    container = query.get("container") or (names[0] if len(names) == 1 else "")
    if container not in names:
        raise bad_request(f"container {container} is not valid for pod {route.name}" if container else
                          f"a container name must be specified for pod {route.name}, choose one of: [{' '.join(names)}]")
    if not command:
        raise bad_request("you must specify at least 1 command")
    if (pod.get("status") or {}).get("phase") != "Running":
        raise bad_request(f"unable to upgrade connection: container not found (\"{container}\")")
    agent = cluster.agent_for(pod["spec"].get("nodeName"))
    why = refusal(command)
    try:
        argv = agent.exec_argv(pod, container, command) if hasattr(agent, "exec_argv") else None
    except ExecRefused as exc:
        # containerd's wording around the runtime's: "failed to exec in container: failed to start exec ..."
        argv, why = None, f"failed to exec in container: failed to start exec: {exc.message}"
    if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
        return await _serve_spdy(request, query, argv, why)
    served = protocols_for(cluster.profile.minor)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    if offered and not set(offered) & set(served):
        # The kubelet's websocket handshake refuses (403, empty body); client-go then falls back to SPDY.
        return web.Response(status=403)
    ws = web.WebSocketResponse(protocols=served)
    if not ws.can_prepare(request).ok:
        raise bad_request("Upgrade request required")
    await ws.prepare(request)
    v5 = ws.ws_protocol == PROTOCOLS[0]
    legacy = ws.ws_protocol not in PROTOCOLS[:2]
    if argv is None:
        await _finish(ws, None, legacy, why)
        return ws
    want_stdin = query.get("stdin", "").lower() in ("1", "true")
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    pumps = [asyncio.create_task(_pump(proc.stdout, ws, STDOUT)), asyncio.create_task(_pump(proc.stderr, ws, STDERR))]
    reader = asyncio.create_task(_stdin(ws, proc, v5))
    try:
        await asyncio.gather(*pumps)
        rc = await proc.wait()
        await _finish(ws, rc, legacy)
    finally:
        reader.cancel()
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
    return ws


def refusal(command: list[str]) -> str:
    return (f"the lab's node agent cannot run {command!r} in this pod (supported: chroot <hostPath / mount> "
            "CMD...)")


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _serve_spdy(request: web.Request, query, argv: list[str] | None, why: str) -> web.StreamResponse:
    """The kubelet's SPDY exec (what client-go uses without the websocket translator): negotiate
    the channel protocol, wait for the client's error/stdin/stdout/stderr(/resize) streams, run,
    then FIN the output streams and write the Status on the error stream (JSON in v4, the message
    alone before)."""
    offered = [v.strip() for header in request.headers.getall("X-Stream-Protocol-Version", [])
               for v in header.split(",") if v.strip()]
    chosen = next((p for p in offered if p in SPDY_PROTOCOLS), None)
    if chosen is None:
        return web.Response(status=403, headers={"X-Accepted-Stream-Protocol-Versions": ", ".join(SPDY_PROTOCOLS)},
                            text=f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                                 f"server supports {list(SPDY_PROTOCOLS)}\n")
    flag = lambda name: query.get(name, "").lower() in ("1", "true")   # noqa: E731
    tty = flag("tty")
    kinds = {"error", *(k for k in ("stdin", "stdout") if flag(k))}
    if flag("stderr") and not tty:
        kinds.add("stderr")
    if tty and chosen in SPDY_PROTOCOLS[:2]:
        kinds.add("resize")
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("connection lost")
    session = spdy.Session(transport)
    request.protocol.set_parser(session)          # the bytes after the 101 are SPDY frames
    request.protocol.keep_alive(False)
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                       "X-Stream-Protocol-Version": chosen})
    response.force_close()
    await response.prepare(request)
    streams = await session.wait_for(kinds, timeout=30)
    if not kinds <= set(streams):
        session.close(status=1)
        return response
    v4 = chosen == SPDY_PROTOCOLS[0]

    def finish(rc: int | None, message: str = "") -> None:
        body = status_frame(rc, message)
        payload = go_json(body) if v4 else (body.get("message", "") if rc != 0 else "")
        for kind in ("stdout", "stderr"):
            if kind in streams:
                session.send(streams[kind], b"", fin=True)
        session.send(streams["error"], payload.encode(), fin=True)
        session.close()

    if argv is None:
        finish(None, why)
        return response
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if "stdin" in streams else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)

    async def pump(source: asyncio.StreamReader | None, kind: str) -> None:
        while source is not None:
            chunk = await source.read(32768)
            if not chunk:
                return
            if kind in streams and not session.closed:
                session.send(streams[kind], chunk)
                await session.drain()

    async def feed_stdin() -> None:
        stream = streams["stdin"]
        while (chunk := await stream.data.get()) is not None:
            if proc.stdin and not proc.stdin.is_closing():
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        if proc.stdin:
            proc.stdin.close()

    async def watch_client() -> None:
        while not session.closed:
            await asyncio.sleep(0.2)
        _kill(proc)                 # the client went away: stop what it started

    helpers = [asyncio.create_task(watch_client())]
    if "stdin" in streams:
        helpers.append(asyncio.create_task(feed_stdin()))
    try:
        # With a tty, stderr goes where stdout goes.
        await asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stdout" if tty else "stderr"))
        rc = await proc.wait()
        finish(rc)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        for helper in helpers:
            helper.cancel()
        _kill(proc)
        await proc.wait()
    return response


async def _pump(stream: asyncio.StreamReader | None, ws: web.WebSocketResponse, channel: int) -> None:
    while stream is not None:
        chunk = await stream.read(32768)
        if not chunk:
            return
        if not ws.closed:
            await ws.send_bytes(bytes([channel]) + chunk)


async def _stdin(ws: web.WebSocketResponse, proc: asyncio.subprocess.Process, v5: bool) -> None:
    async for message in ws:
        if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        data = message.data if isinstance(message.data, bytes) else message.data.encode()
        if not data:
            continue
        if v5 and data[0] == CLOSE and data[1:2] == bytes([STDIN]) and proc.stdin:
            proc.stdin.close()
        elif data[0] == STDIN and proc.stdin and not proc.stdin.is_closing():
            proc.stdin.write(data[1:])
            await proc.stdin.drain()
    if proc.returncode is None:       # the client went away: stop what it started
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _finish(ws: web.WebSocketResponse, rc: int | None, legacy: bool, message: str = "") -> None:
    if not ws.closed:
        body = status_frame(rc, message)
        payload = (body.get("message", "") if legacy and rc != 0 else "" if legacy else go_json(body))
        await ws.send_bytes(bytes([ERROR]) + payload.encode())
        await ws.close()
