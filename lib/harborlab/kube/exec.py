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

from .status import bad_request, go_json

if TYPE_CHECKING:
    from .server import ApiServer, Route

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
V5_SINCE = (1, 30)    # the apiserver's websocket translator (v5, stream close) is on by default from 1.30


def protocols_for(minor: tuple[int, int]) -> tuple[str, ...]:
    """The websocket subprotocols a server of that version offers for exec: the kubelet's own
    (v4 and the legacy channel protocol) and, from 1.30, the apiserver's v5."""
    return PROTOCOLS if minor >= V5_SINCE else PROTOCOLS[1:]
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255


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
    ws = web.WebSocketResponse(protocols=protocols_for(cluster.profile.minor))
    if not ws.can_prepare(request).ok:
        raise bad_request("Upgrade request required")
    await ws.prepare(request)
    v5 = ws.ws_protocol == PROTOCOLS[0]
    legacy = ws.ws_protocol not in PROTOCOLS[:2]
    agent = cluster.agent_for(pod["spec"].get("nodeName"))
    argv = agent.exec_argv(pod, container, command) if hasattr(agent, "exec_argv") else None
    if argv is None:
        await _finish(ws, None, legacy, f"the lab's node agent cannot run {command!r} in this pod (supported: "
                                        "chroot <hostPath / mount> CMD...)")
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
