"""Benchmarks of the emulator against the issue's targets, each beside a baseline from the same
run: ``python -m harborlab.kube.bench [--nodes 5000] [--watches 200]``.

* list 5000 nodes (raw HTTP and the official typed client) — target < 1 s; baseline: GET /version
* 200 concurrent watches all receiving a burst of changes — baseline: one watch
* a 3-replica Deployment Ready with the default pod delay — target < 3 s; baseline: the delay
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from .runtime import Options
from .tls import context_from_kubeconfig

CONTEXT: list = []     # the started emulator's TLS context (trusting its CA)


def start(state: Path, *args: str) -> tuple[subprocess.Popen, str, str]:
    """Start an emulator; (process, server URL, token). Raw requests use ``CONTEXT[0]`` for TLS."""
    proc = subprocess.Popen([sys.executable, "-m", "harborlab.kube", "--state", str(state), "--port", "0", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    kubeconfig = state / "kubeconfig"
    deadline = time.monotonic() + 120
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the emulator did not start")
        time.sleep(0.05)
    cfg = json.loads(kubeconfig.read_text())
    CONTEXT[:] = [context_from_kubeconfig(cfg)]
    return proc, cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def watch_fanout(server: str, token: str, watches: int, changes: int) -> float:
    """Seconds from the first write until every watch has seen every change."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0, ssl=CONTEXT[0])     # the default pool of 100 would queue watches
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=120),
                                     connector=connector) as session:
        rv = (await (await session.get(f"{server}/api/v1/namespaces/default/configmaps")).json())["metadata"]["resourceVersion"]
        tag = f"b{time.monotonic_ns()}"
        responses = [await session.get(f"{server}/api/v1/namespaces/default/configmaps",
                                       params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "60"})
                     for _ in range(watches)]

        async def drain(resp) -> None:
            seen = 0
            while seen < changes:
                line = await resp.content.readline()
                if not line:
                    raise RuntimeError(f"watch ended early after {seen} of {changes} changes")
                if json.loads(line)["object"]["metadata"]["name"].startswith(tag):
                    seen += 1
            resp.close()
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(drain(r)) for r in responses]
        for i in range(changes):
            await session.post(f"{server}/api/v1/namespaces/default/configmaps",
                               json={"metadata": {"name": f"{tag}-{i}"}})
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0


def deployment_ready(api_client, replicas: int = 3) -> float:
    from kubernetes import client
    apps = client.AppsV1Api(api_client)
    name = f"bench-{time.monotonic_ns() % 100000}"
    t0 = time.perf_counter()
    apps.create_namespaced_deployment("default", {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    while (apps.read_namespaced_deployment(name, "default").status.ready_replicas or 0) < replicas:
        time.sleep(0.02)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--watches", type=int, default=200)
    args = parser.parse_args()
    import urllib.request
    from kubernetes import client, config
    with tempfile.TemporaryDirectory() as tmp:
        proc, server, token = start(Path(tmp), "--profile", "modern", "--synthetic-nodes", str(args.nodes - 3))
        try:
            get = lambda path: urllib.request.urlopen(urllib.request.Request(  # noqa: E731
                server + path, headers={"Authorization": f"Bearer {token}"}), timeout=60, context=CONTEXT[0]).read()
            rows = [("GET /version (baseline)", best_of(5, lambda: get("/version")))]
            rows.append((f"GET /api/v1/nodes, {args.nodes} nodes, raw HTTP + json.loads",
                         best_of(5, lambda: json.loads(get("/api/v1/nodes")))))
            api = config.new_client_from_config(str(Path(tmp) / "kubeconfig"))
            core = client.CoreV1Api(api)
            rows.append((f"CoreV1Api.list_node(), {args.nodes} nodes (typed models)", best_of(3, core.list_node)))
            rows.append(("list_node(limit=500) first page", best_of(3, lambda: core.list_node(limit=500))))
            rows.append(("1 watch sees 20 changes (baseline)", asyncio.run(watch_fanout(server, token, 1, 20))))
            rows.append((f"{args.watches} concurrent watches see 20 changes",
                         asyncio.run(watch_fanout(server, token, args.watches, 20))))
            rows.append((f"pod ready delay (baseline, {Options.pod_ready_delay}s default)", Options.pod_ready_delay))
            rows.append(("3-replica Deployment Ready", deployment_ready(api)))
            api.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    width = max(len(r[0]) for r in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
