"""The API emulator under load, through the official client.

    .venv/bin/python bench/kube_api.py --nodes 5000 --watches 200 --runs 3

- list 5000 nodes (goal < 1 s);
- hold 200 concurrent watches and deliver one change to all of them (time until the last sees it);
- a 3-replica Deployment from create to Ready (goal < 3 s with the default pod delay).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emulator, env_note, median, table, timed  # noqa: E402

from harborbook.steps import rollout  # noqa: E402
from harborbook.kube import Kube  # noqa: E402


def list_nodes(kube: Kube) -> int:
    return len(kube.core.list_node(_preload_content=False).data)


def watches(kube: Kube, count: int) -> float:
    """Open ``count`` watches on ConfigMaps, change one object, time until every watch saw it."""
    from kubernetes import watch

    name = f"bench-{time.monotonic_ns()}"
    seen = threading.Barrier(count + 1, timeout=60)
    ready = threading.Barrier(count + 1, timeout=60)

    def watcher():
        w = watch.Watch()
        version = kube.core.list_namespaced_config_map("default").metadata.resource_version
        ready.wait()
        for event in w.stream(kube.core.list_namespaced_config_map, "default", resource_version=version,
                              timeout_seconds=60):
            if event["object"].metadata.name == name:
                w.stop()
                seen.wait()
                return

    threads = [threading.Thread(target=watcher, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(0.5)  # let every stream reach the server
    started = time.perf_counter()
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                "data": {"k": "v"}})
    seen.wait()
    return time.perf_counter() - started


def deployment_ready(kube: Kube, replicas: int = 3) -> float:
    name = f"bench-{time.monotonic_ns() % 100000}"
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"name": name}},
                         "template": {"metadata": {"labels": {"name": name}},
                                      "spec": {"containers": [{"name": "c", "image": "vmware/harbor-adminserver:v1.2.0"}]}}}}
    started = time.perf_counter()
    kube.apply(manifest)
    kube.wait_for("apps/v1", "Deployment", "default", lambda objs: name in objs and rollout.deployment_ready(objs[name]),
                  timeout=60, field_selector=f"metadata.name={name}")
    elapsed = time.perf_counter() - started
    kube.delete("apps/v1", "Deployment", name, "default")
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--watches", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with emulator("--profile", "modern", "--synthetic-nodes", str(args.nodes)) as kubeconfig:
        kube = Kube(kubeconfig)
        lists = [timed(lambda: list_nodes(kube)) for _ in range(args.runs)]
        fan_out = [watches(kube, args.watches) for _ in range(args.runs)]
        ready = [deployment_ready(kube) for _ in range(args.runs)]
    rows = [
        {"measure": f"list {args.nodes + 3} nodes", "median (s)": f"{median(lists):.3f}", "goal": "< 1 s"},
        {"measure": f"one change seen by {args.watches} watches", "median (s)": f"{median(fan_out):.3f}", "goal": "holds them all"},
        {"measure": "3-replica Deployment to Ready", "median (s)": f"{median(ready):.3f}", "goal": "< 3 s"},
    ]
    print(f"{env_note()}, {args.runs} runs each\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
