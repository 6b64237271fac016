"""``python -m harborlab.kube --state DIR --port 16443 --profile article [--synthetic-nodes N]``"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .inflight import DEFAULT_MUTATING, DEFAULT_READONLY
from .runtime import Options, main


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m harborlab.kube",
                                     description="the lab's Kubernetes API emulator")
    parser.add_argument("--state", type=Path, required=True, help="lab state directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=16443, help="0 picks a free port")
    parser.add_argument("--profile", choices=("article", "modern"), default="article")
    parser.add_argument("--kube-version", dest="version", help="override the profile's version (v1.31.0)")
    parser.add_argument("--synthetic-nodes", type=int, default=0)
    parser.add_argument("--pod-ready-delay", type=float, default=0.5, help="seconds until a pod is Ready")
    parser.add_argument("--agent-factory", action="append",
                        help="module:callable returning {node: NodeAgent}; repeatable, applied in order")
    parser.add_argument("--watch-history", type=int, default=20000,
                        help="changes kept for watch resumption (older versions answer 410 Gone)")
    parser.add_argument("--max-requests-inflight", type=int, default=DEFAULT_READONLY,
                        help="read-only requests in flight before 429 (0: no limit), as the apiserver's flag")
    parser.add_argument("--max-mutating-requests-inflight", type=int, default=DEFAULT_MUTATING,
                        help="mutating requests in flight before 429 (0: no limit)")
    args = parser.parse_args(argv)
    if args.max_requests_inflight < 0 or args.max_mutating_requests_inflight < 0:
        parser.error("the in-flight limits must be 0 (no limit) or more")
    if not args.host.startswith("127."):
        parser.error("the lab binds to loopback only")
    return Options(state=args.state, host=args.host, port=args.port, profile=args.profile,
                   version=args.version, synthetic_nodes=args.synthetic_nodes,
                   pod_ready_delay=args.pod_ready_delay, agent_factory=args.agent_factory,
                   watch_history=args.watch_history,
                   max_requests_inflight=args.max_requests_inflight,
                   max_mutating_requests_inflight=args.max_mutating_requests_inflight)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    main(parse())
