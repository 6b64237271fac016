"""The 06 fleet view at scale against a sequential baseline doing the same calls one node at a time.

    .venv/bin/python bench/fleet_scan.py --nodes 1000,5000 --runs 3

Both sides fetch configz and stats/summary for every node through the API server's node proxy
and compute the kubelet's verdict; the table (and not the plot) is built. Ours is ``scan_fleet``
as 06 calls it (at most ``--concurrency`` requests in flight, 429-aware); sequential is one node
at a time through the typed client. Goal: 5000 nodes under 5 s and at least 25x faster than
sequential.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import alternate, emulator, env_note, median, table  # noqa: E402

from harborbook.kube import Kube  # noqa: E402
from harborbook.steps.nodepressure.fleet import DEFAULT_CEILING, scan_fleet, scan_node  # noqa: E402


def sequential(kube) -> int:
    nodes = kube.list("v1", "Node")
    return sum(1 for node in nodes if scan_node(kube, node)["verdict"] == "PRESSURE")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="200,1000,5000", help="comma-separated synthetic node counts")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=DEFAULT_CEILING,
                    help="ours: the ceiling of requests in flight (node_pressure.concurrency)")
    args = ap.parse_args(argv)
    rows = []
    for count in [int(n) for n in args.nodes.split(",")]:
        with emulator("--profile", "modern", "--synthetic-nodes", str(count)) as kubeconfig:
            kube = Kube(kubeconfig)
            kube.list("v1", "Node")  # warm up: API discovery and the connection pool, for both sides
            throttled = []

            def ours() -> None:
                result = scan_fleet(kube, args.concurrency)
                if len(result.value) != count + 3 or result.value["verdict"].str.startswith("error").any():
                    raise RuntimeError("the fleet scan missed nodes or reported errors")
                throttled.append(result.data["throttle"]["requests throttled (429)"])

            times = alternate(args.runs, ours=ours, sequential=lambda: sequential(kube))
        print({side: [round(t, 2) for t in ts] for side, ts in times.items()}, flush=True)
        ours, base = median(times["ours"]), median(times["sequential"])
        rows.append({"nodes": count + 3, "ours (median s)": f"{ours:.2f}", "sequential (median s)": f"{base:.2f}",
                     "speed-up": f"{base / ours:.1f}x", "ours per node (ms)": f"{1000 * ours / (count + 3):.2f}",
                     "ceiling": args.concurrency, "429s (max of runs)": max(throttled)})
        print(rows[-1], flush=True)
    print(f"\n{env_note()}, {args.runs} runs each, alternating\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
