"""The lab's kube-proxy: ``127.0.0.1:<nodePort>`` forwarded over TCP to a Service's ready endpoints.

Like kube-proxy in userspace mode, each NodePort gets a listener; every new connection goes to
the next ready endpoint (round robin over the endpoints at connect time) and bytes are copied
both ways until either side closes. A NodePort whose Service has no ready endpoint refuses the
connection (closed at once: kube-proxy's REJECT). Listeners follow the Services: opened when a
NodePort appears, closed when it goes. A port someone else holds is reported as a Warning event
on the Service naming the port and its holder, and tried again at the next change.

Runs inside the API emulator's event loop (started by :func:`harborlab.podrunner.agents`);
binds to loopback only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os

from harborlab import procs
from harborlab.kube.resources import by_key
from harborlab.podrunner.addresses import socket_holder
from harborlab.podrunner.endpoints import NodePort, node_port_table

log = logging.getLogger("harborlab.kubeproxy")

SERVICES, ENDPOINTS = by_key("/services"), by_key("/endpoints")
HOST = "127.0.0.1"
CHUNK = 65536
RETRY = 5.0


class KubeProxy:
    def __init__(self, cluster, host: str = HOST):
        if not host.startswith("127."):
            raise ValueError("the lab's kube-proxy binds to loopback only")
        self.cluster = cluster
        self.host = host
        self.servers: dict[int, asyncio.base_events.Server] = {}
        self.targets: dict[int, list[str]] = {}
        self.labels: dict[int, str] = {}
        self.turns: dict[int, itertools.count] = {}
        self.failed: dict[int, str] = {}
        self._pending = False
        self._retrying = False
        self._lock = asyncio.Lock()
        cluster.store.listeners.append(self._on_change)

    def _on_change(self, change) -> None:
        if change.rkey not in (SERVICES.key, ENDPOINTS.key) or self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = True
        loop.call_soon(lambda: loop.create_task(self.sync()))

    def table(self) -> dict[NodePort, list[str]]:
        store = self.cluster.store
        return node_port_table(store.list(SERVICES.key), store.list(ENDPOINTS.key))

    async def sync(self) -> None:
        """Open listeners for new NodePorts, close those gone, take the current endpoints."""
        self._pending = False
        # One sync at a time: two overlapping ones would both try to bind a new port.
        async with self._lock:
            await self._sync()

    async def _sync(self) -> None:
        wanted = {entry.port: (entry, targets) for entry, targets in self.table().items()}
        for port in [p for p in self.servers if p not in wanted]:
            server = self.servers.pop(port)
            server.close()
            self.targets.pop(port, None)
        for port, (entry, targets) in wanted.items():
            self.targets[port] = targets
            self.labels[port] = entry.service
            if port not in self.servers:
                await self._listen(port, entry)
        if self.failed and not self._retrying:
            self._retrying = True
            loop = asyncio.get_running_loop()
            loop.call_later(RETRY, lambda: (setattr(self, "_retrying", False), loop.create_task(self.sync())))

    async def _listen(self, port: int, entry: NodePort) -> None:
        try:
            self.servers[port] = await asyncio.start_server(
                lambda r, w, p=port: self._connection(p, r, w), self.host, port, reuse_address=True)
            self.failed.pop(port, None)
        except OSError as exc:
            busy = procs.conflicts(procs.listeners(), port, self.host)
            holder = socket_holder(busy[0].inode) if busy else None
            who = f" by {holder[1]} (pid {holder[0]})" if holder else ""
            message = (f'can\'t open port "nodePort for {entry.service}" ({self.host}:{port}/tcp): '
                       f"{os.strerror(exc.errno).lower() if exc.errno else exc}{who}")
            if self.failed.get(port) != message:
                log.warning(message)
                self._report(entry, message)
            self.failed[port] = message

    def _report(self, entry: NodePort, message: str) -> None:
        namespace, _, rest = entry.service.partition("/")
        name = rest.split(":")[0]
        svc = self.cluster.store.get(SERVICES.key, namespace, name)
        if svc is not None:
            self.cluster.recorder.record(svc, "Warning", "FailedToOpenNodePort", message, "kube-proxy", self.host)

    def pick(self, port: int) -> str | None:
        """The next ready endpoint of ``port`` in round robin order; None when it has none."""
        targets = self.targets.get(port) or []
        if not targets:
            return None
        turn = next(self.turns.setdefault(port, itertools.count()))
        return targets[turn % len(targets)]

    async def _connection(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.pick(port)
        upstream_writer = None
        try:
            if target is None:
                return
            host, _, target_port = target.rpartition(":")
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(host, int(target_port))
            except OSError:
                return
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for w in (upstream_writer, writer):
                if w is not None:
                    w.close()

    async def close(self) -> None:
        for server in self.servers.values():
            server.close()
        for server in self.servers.values():
            await server.wait_closed()
        self.servers.clear()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass
