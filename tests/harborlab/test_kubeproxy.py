"""The lab's kube-proxy against real sockets on 127.0.0.1 (no root): round robin over ready
endpoints, refusal without endpoints, following endpoint changes, a busy port reported."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from harborlab.kube.cluster import Cluster
from harborlab.kube.profiles import profile
from harborlab.kube.resources import by_key
from harborlab.kubeproxy import KubeProxy
from harborlab.ui.backing import free_port

SERVICES, ENDPOINTS, NAMESPACES, EVENTS = (by_key(k) for k in ("/services", "/endpoints", "/namespaces", "/events"))


def cluster_with(node_port: int) -> Cluster:
    cluster = Cluster(profile("article"))
    cluster.create(NAMESPACES, "", {"metadata": {"name": "harbor"}}, internal=True)
    cluster.create(SERVICES, "harbor", {"metadata": {"name": "nginx"}, "spec": {
        "type": "NodePort", "selector": {"name": "nginx-apps"},
        "ports": [{"name": "http", "port": 80, "targetPort": 80, "nodePort": node_port}]}}, internal=True)
    return cluster


def set_endpoints(cluster: Cluster, servers: list[tuple[str, int]]) -> None:
    body = {"metadata": {"name": "nginx", "namespace": "harbor"}, "subsets": [
        {"addresses": [{"ip": host} for host, _ in servers], "ports": [{"name": "http", "port": servers[0][1]}]}
    ] if servers else []}
    cluster.put(ENDPOINTS, body)


async def backend(name: bytes, host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.base_events.Server, int]:
    async def answer(reader, writer):
        data = await reader.read(100)
        writer.write(name + b":" + data)
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(answer, host, port)
    return server, server.sockets[0].getsockname()[1]


async def settled(check, timeout: float = 5.0) -> None:
    """Give the proxy's sync (triggered by the store change) time to run, however loaded the machine."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return  # the assertion that follows reports what was seen
        await asyncio.sleep(0.05)


async def ask(port: int) -> bytes:
    """What the NodePort answers to "hi"; b"" when it closes or resets the connection (REJECT)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"hi")
        await writer.drain()
        return await asyncio.wait_for(reader.read(100), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def _answers(port: int, expected: bytes, tries: int = 1) -> bool:
    try:
        return any([await ask(port) == expected for _ in range(tries)])
    except OSError:
        return False


async def _refused(port: int) -> bool:
    try:
        await ask(port)
    except OSError:
        return True
    return False


def test_round_robin_over_ready_endpoints_and_refusal_without():
    async def scenario():
        node_port = free_port(30000, 32767)
        cluster = cluster_with(node_port)
        proxy = KubeProxy(cluster)
        first, port = await backend(b"A")
        second, _ = await backend(b"B", "127.0.0.2", port)   # two pods, same container port
        try:
            set_endpoints(cluster, [])
            await proxy.sync()
            assert await ask(node_port) == b""          # no ready endpoint: closed at once
            set_endpoints(cluster, [("127.0.0.1", port)])
            await settled(lambda: _answers(node_port, b"A:hi"))  # the store change triggers a sync
            assert await ask(node_port) == b"A:hi"
            set_endpoints(cluster, [("127.0.0.1", port), ("127.0.0.2", port)])
            await settled(lambda: _answers(node_port, b"B:hi", tries=2))
            answers = [await ask(node_port) for _ in range(4)]
            assert sorted(answers) == [b"A:hi", b"A:hi", b"B:hi", b"B:hi"] and answers[0] != answers[1]
            cluster.delete(SERVICES, "harbor", "nginx")
            await settled(lambda: _refused(node_port))
            with pytest.raises(OSError):
                await ask(node_port)                    # the listener went with the Service
        finally:
            first.close()
            second.close()
            await proxy.close()
    asyncio.run(scenario())


def test_pick_is_round_robin():
    cluster = cluster_with(31000)
    proxy = KubeProxy(cluster)
    proxy.targets[31000] = ["a:1", "b:1", "c:1"]
    assert [proxy.pick(31000) for _ in range(6)] == ["a:1", "b:1", "c:1", "a:1", "b:1", "c:1"]
    assert proxy.pick(31001) is None


def test_a_busy_node_port_is_reported_on_the_service():
    async def scenario():
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        node_port = holder.getsockname()[1]
        cluster = cluster_with(node_port)
        proxy = KubeProxy(cluster)
        try:
            await proxy.sync()
            events = [e for e in cluster.store.list(EVENTS.key) if e["reason"] == "FailedToOpenNodePort"]
            assert len(events) == 1
            message = events[0]["message"]
            assert f"127.0.0.1:{node_port}/tcp" in message and "harbor/nginx:http" in message
            assert message.endswith(f"address already in use by {holder_name()} (pid {os.getpid()})")
        finally:
            holder.close()
            await proxy.close()
    asyncio.run(scenario())


def holder_name() -> str:
    return Path("/proc/self/comm").read_text().strip()


def test_kube_proxy_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        KubeProxy(cluster_with(31000), host="0.0.0.0")
