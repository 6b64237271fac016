"""The vocabulary every lab component speaks: the Component protocol and its status rows.

A component is one service the lab runs (ceph, galera, harbor-db, redis, the
kube API emulator). ``Lab`` drives them in order; each one owns its daemons,
probes them for real, and stops them by PID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harborlab.lab import Lab

# What ``Component.up`` returns: nothing was running, everything was, or some
# dead part was restarted.
STARTED = "started"
RUNNING = "running"
REPAIRED = "repaired"

# Health words of a status row.
OK = "ok"
DEGRADED = "degraded"
DOWN = "down"
HEALTHS = (OK, DEGRADED, DOWN)


@dataclass(frozen=True)
class StatusRow:
    """One line of ``lab status``: a daemon (or a mount) and what a real probe said."""

    component: str  # e.g. "galera-2"
    pid: int | None
    address: str  # "127.0.0.1:13307"
    health: str  # "ok" | "degraded" | "down"
    detail: str  # e.g. "wsrep_cluster_size=3 Synced"


@runtime_checkable
class Component(Protocol):
    name: str

    def up(self, lab: "Lab") -> str:
        """Idempotent start: "started" | "running" | "repaired"."""

    def status(self, lab: "Lab") -> list[StatusRow]:
        """Rows from real probes."""

    def down(self, lab: "Lab") -> None:
        """Stop by PID, unmount, release ports."""


def up_result(pids_before: int, total: int) -> str:
    """How to report an ``up``: from how many of ``total`` daemons were alive before."""
    if pids_before == 0:
        return STARTED
    if pids_before == total:
        return RUNNING
    return REPAIRED


def worst(healths: list[str]) -> str:
    """The overall health of several rows: down beats degraded beats ok."""
    for word in (DOWN, DEGRADED):
        if word in healths:
            return word
    return OK
