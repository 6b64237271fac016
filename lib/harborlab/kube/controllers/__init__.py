"""Controllers: level-triggered loops that make the cluster's state follow its objects' specs.

Each controller declares the resources it watches and a ``sync(now)`` that looks at the whole
current state, writes what must change, and returns when it wants to run again (or None). The
manager runs a controller after any change to what it watches, and at the time it asked for.
Writes that change nothing are not writes (store.py), so the loops settle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

from ..store import Change

log = logging.getLogger("harborlab.kube.controllers")


class Controller(Protocol):
    name: str
    watches: frozenset[str]

    def sync(self, now: float) -> float | None: ...


class Manager:
    def __init__(self, controllers: list[Controller], clock: Callable[[], float] = time.time):
        self.controllers = controllers
        self.clock = clock
        self.dirty: set[str] = {c.name for c in controllers}
        self.deadlines: dict[str, float] = {}
        self.wake = asyncio.Event()

    def on_change(self, change: Change) -> None:
        for controller in self.controllers:
            if change.rkey in controller.watches:
                wants = getattr(controller, "wants", None)   # an optional finer filter
                if wants is None or wants(change):
                    self.dirty.add(controller.name)
                    self.wake.set()

    def mark(self, name: str) -> None:
        """Run controller ``name`` soon, whatever changed."""
        self.dirty.add(name)
        self.wake.set()

    def run_once(self, now: float) -> None:
        """Run every controller that is dirty or due, in order."""
        due = set(self.dirty) | {n for n, t in self.deadlines.items() if t <= now}
        self.dirty.clear()
        for controller in self.controllers:
            if controller.name not in due:
                continue
            self.deadlines.pop(controller.name, None)
            try:
                wake_at = controller.sync(now)
            except Exception:   # one broken controller must not stop the others
                log.exception("controller %s failed", controller.name)
                wake_at = now + 1.0
            if wake_at is not None:
                self.deadlines[controller.name] = wake_at

    async def run(self) -> None:
        wake = self.wake
        while True:
            now = self.clock()
            if not self.dirty:
                timeout = min(self.deadlines.values(), default=now + 60) - now
                try:
                    await asyncio.wait_for(wake.wait(), max(timeout, 0))
                except asyncio.TimeoutError:
                    pass
            wake.clear()
            await asyncio.sleep(0.005)   # let a burst of writes land before reacting to it
            self.run_once(self.clock())
