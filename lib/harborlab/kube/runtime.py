"""Putting the emulator together: cluster, seed objects, node agents, controllers, HTTP server,
token and kubeconfig. ``__main__`` and the tests' fixture both start it through ``serve``."""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from .cluster import Cluster
from .controllers import Manager
from .inflight import DEFAULT_MUTATING, DEFAULT_READONLY, InflightLimit
from .controllers.registry import build_controllers
from .nodes import DEFAULT_NODES, SyntheticAgent, TrivialAgent, synthetic_names
from .profiles import profile as get_profile
from .resources import by_key
from .server import ApiServer
from .store import Store

TOKEN_SECRET = "kube-token"
CEPH_CSI_DRIVER = "cephfs.csi.ceph.com"


@dataclass
class Options:
    state: Path
    host: str = "127.0.0.1"
    port: int = 16443
    profile: str = "article"
    version: str | None = None
    synthetic_nodes: int = 0
    pod_ready_delay: float = 0.5
    agent_factory: str | list[str] | None = None
    watch_history: int = 20000
    max_requests_inflight: int = DEFAULT_READONLY
    max_mutating_requests_inflight: int = DEFAULT_MUTATING
    extra: dict = field(default_factory=dict)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def token(state: Path) -> str:
    """The bearer token: created once (0600 in a 0700 dir), reused across restarts."""
    secret_dir = state / "secrets"
    secret_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secret_dir, 0o700)
    path = secret_dir / TOKEN_SECRET
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def kubeconfig_text(server_url: str, bearer: str) -> str:
    # JSON is YAML; the official client's loader reads it.
    import json
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "harborlab",
        "clusters": [{"name": "harborlab", "cluster": {"server": server_url}}],
        "users": [{"name": "harborlab-admin", "user": {"token": bearer}}],
        "contexts": [{"name": "harborlab", "context": {"cluster": "harborlab", "user": "harborlab-admin",
                                                       "namespace": "default"}}],
        "preferences": {}}, indent=2) + "\n"


def seed(cluster: Cluster) -> None:
    """What a fresh cluster has: the system namespaces, and the CSIDriver ceph-csi would register."""
    namespaces = by_key("/namespaces")
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        if cluster.store.get(namespaces.key, "", name) is None:
            cluster.create(namespaces, "", {"metadata": {"name": name}}, internal=True)
    drivers = by_key("storage.k8s.io/csidrivers")
    if cluster.store.get(drivers.key, "", CEPH_CSI_DRIVER) is None:
        cluster.create(drivers, "", {"metadata": {"name": CEPH_CSI_DRIVER},
                                     "spec": {"attachRequired": True, "podInfoOnMount": False,
                                              "volumeLifecycleModes": ["Persistent"]}}, internal=True)


def install_agents(cluster: Cluster, opts: Options) -> None:
    trivial = TrivialAgent(cluster.profile)
    cluster.default_agent = trivial
    for name in DEFAULT_NODES:
        cluster.agents[name] = trivial
    if opts.synthetic_nodes:
        synthetic = SyntheticAgent(cluster.profile)
        for name in synthetic_names(opts.synthetic_nodes):
            cluster.agents[name] = synthetic
    factories = [opts.agent_factory] if isinstance(opts.agent_factory, str) else opts.agent_factory or []
    for spec in factories:
        # In order: each factory sees cluster.agents as the previous ones left it, so it may wrap them.
        module, _, attr = spec.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        cluster.agents.update(factory(cluster))


def build(opts: Options) -> tuple[Cluster, Manager]:
    prof = get_profile(opts.profile, opts.version)
    cluster = Cluster(prof, Store(history=opts.watch_history), pod_ready_delay=opts.pod_ready_delay)
    seed(cluster)
    install_agents(cluster, opts)
    manager = Manager(build_controllers(cluster))
    cluster.store.listeners.append(manager.on_change)
    cluster.kick = manager.mark
    manager.run_once(cluster.clock())     # nodes exist before the first request is answered
    return cluster, manager


async def serve(opts: Options, stop: asyncio.Event) -> None:
    cluster, manager = build(opts)
    bearer = token(opts.state)
    # Short shutdown: open watches are ended below, nothing else takes long.
    runner = web.AppRunner(ApiServer(cluster, bearer, inflight=InflightLimit(
        opts.max_requests_inflight, opts.max_mutating_requests_inflight)).app(), handler_cancellation=True, access_log=None,
                           shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, opts.host, opts.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    _write_private(opts.state / "kubeconfig", kubeconfig_text(f"http://{opts.host}:{port}", bearer))
    loop_task = asyncio.create_task(manager.run())
    try:
        await stop.wait()
    finally:
        loop_task.cancel()
        for watcher in list(cluster.store.watchers):
            watcher.queue.put_nowait(None)      # ends the stream like a server-side timeout
        await runner.cleanup()


def main(opts: Options) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(opts, stop)
    asyncio.run(runner())
