"""Fixtures for the step modules' checks: a fake Redis and a fake Harbor front, real servers on
loopback (tests/harborbook/steps/fakes.py), stopped at each test's end."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from .fakes import FakeRedis, FrontState, harbor_front


@pytest.fixture
def fake_redis() -> Iterator[Callable[..., FakeRedis]]:
    """``fake_redis(password=None, databases=16, config=True)`` -> a started FakeRedis."""
    started: list[FakeRedis] = []

    def start(**options) -> FakeRedis:
        server = FakeRedis(**options).start()
        started.append(server)
        return server
    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def fake_front(local_http) -> Callable[..., tuple[str, FrontState]]:
    """``fake_front(password=..., **misbehaviour)`` -> (host:port, its FrontState)."""
    def start(**options) -> tuple[str, FrontState]:
        state = FrontState(**options)
        return local_http(harbor_front(state)).removeprefix("http://"), state
    return start
