"""The node lifecycle controller: writes each agent's NodeReport into its Node object.

Agents with a ``poll_period`` attribute (the kubelet simulator) are polled at that period; static
agents (trivial, synthetic) are written once, so 5000 synthetic nodes cost nothing at rest.
"""

from __future__ import annotations

from ..cluster import Cluster
from ..nodes import NODES, node_object


class NodeController:
    name = "nodes"
    watches = frozenset({NODES.key})

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.next_poll: dict[str, float] = {}

    def sync(self, now: float) -> float | None:
        store, stamp = self.cluster.store, self.cluster.now()
        touched, self.cluster.touched_nodes = self.cluster.touched_nodes, set()
        wake: float | None = None
        for name, agent in self.cluster.agents.items():
            due = self.next_poll.get(name)
            old = store.get(NODES.key, "", name)
            if old is not None and due is not None and due > now and name not in touched:
                wake = due if wake is None else min(wake, due)
                continue
            report = agent.node_status(name, now)
            self.cluster.put(NODES, node_object(name, report, old, stamp))
            period = getattr(agent, "poll_period", None)
            if period:
                self.next_poll[name] = now + period
                wake = now + period if wake is None else min(wake, now + period)
            else:
                self.next_poll[name] = float("inf")
        return wake
