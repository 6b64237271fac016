"""The fleet scan against an API server that throttles: 429 + Retry-After past a max in flight.

A small aiohttp stand-in for the API server (like kube-apiserver's --max-requests-inflight: a
request that would exceed the limit is answered 429 at once, with Retry-After) serves a list of
nodes and each node's configz and stats/summary through the node proxy path.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from harborbook.errors import TransportError
from harborbook.kube import Kube
from harborbook.steps.nodepressure import fleetfetch
from harborbook.steps.nodepressure.fleet import scan_fleet
from harborbook.steps.nodepressure.fleetfetch import Window, retry_after

GIB = 1 << 30
TOKEN = "test-token"


def _summary(i: int) -> dict:
    # Every 7th node has 5% free: below the 10% nodefs.available threshold (DiskPressure).
    free = 5 if i % 7 == 0 else 40
    fs = {"capacityBytes": 100 * GIB, "availableBytes": free * GIB, "usedBytes": (100 - free) * GIB,
          "inodes": 1_000_000, "inodesFree": 900_000, "inodesUsed": 100_000}
    return {"node": {"nodeName": f"n{i}", "fs": fs, "runtime": {"imageFs": fs}}}


CONFIGZ = {"kubeletconfig": {"evictionHard": {"nodefs.available": "10%", "imagefs.available": "15%",
                                              "nodefs.inodesFree": "5%", "memory.available": "100Mi"}}}


class ThrottlingServer:
    """max_in_flight requests at once; more get 429 with Retry-After (or none, when 0 is given)."""

    def __init__(self, nodes: int, max_in_flight: int, delay: float = 0.01, always_429: bool = False,
                 status_for: dict[str, int] | None = None):
        self.nodes, self.max_in_flight, self.delay, self.always_429 = nodes, max_in_flight, delay, always_429
        self.status_for = status_for or {}  # node -> the status its proxy answers
        self.in_flight = self.peak = self.throttled = self.served = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        if self.always_429 or self.in_flight >= self.max_in_flight:
            self.throttled += 1
            return web.json_response({"kind": "Status", "code": 429, "reason": "TooManyRequests"},
                                     status=429, headers={"Retry-After": "1"})
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)  # the kubelet's round trip
            path = request.path
            if path == "/api/v1/nodes":
                items = [{"metadata": {"name": f"n{i}"}, "status": {"nodeInfo": {"kubeletVersion": "v1.30.0"}}}
                         for i in range(self.nodes)]
                return web.json_response({"kind": "NodeList", "items": items})
            name, sub = request.match_info["name"], request.match_info["sub"]
            self.served += 1
            if name in self.status_for:
                return web.json_response({"kind": "Status"}, status=self.status_for[name])
            if sub == "configz":
                return web.json_response(CONFIGZ)
            if sub == "stats/summary":
                return web.json_response(_summary(int(name[1:])))
            return web.Response(status=404)
        finally:
            self.in_flight -= 1

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/nodes", self.handle)
        app.router.add_get("/api/v1/nodes/{name}/proxy/{sub:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> "ThrottlingServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)  # type: ignore[union-attr]
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def kube(self, tmp_path: Path) -> Kube:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "t",
                  "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
                  "users": [{"name": "t", "user": {"token": TOKEN}}],
                  "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}]}
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(config))
        return Kube(path)


def test_throttled_scan_reports_every_node(tmp_path):
    with ThrottlingServer(nodes=300, max_in_flight=20) as server:
        started = time.monotonic()
        result = scan_fleet(server.kube(tmp_path), concurrency=100)
        elapsed = time.monotonic() - started
    table = result.value
    # Throttled, and yet every node is there with a verdict: no error row, nothing missing.
    assert server.throttled > 0
    assert result.data["throttle"]["requests throttled (429)"] == server.throttled
    assert result.data["throttle"]["lowest window"] < 100
    assert sorted(table["node"]) == sorted(f"n{i}" for i in range(300))
    assert set(table["verdict"]) == {"ok", "PRESSURE"}
    assert sorted(result.data["pressured"]) == sorted(f"n{i}" for i in range(300) if i % 7 == 0)
    assert server.served == 600  # every node's two answers, each once
    assert server.peak <= 20
    assert elapsed < 60


def test_unthrottled_scan_stays_under_its_ceiling(tmp_path):
    with ThrottlingServer(nodes=200, max_in_flight=1000) as server:
        result = scan_fleet(server.kube(tmp_path), concurrency=16)
    assert server.throttled == 0
    assert 1 < server.peak <= 16
    assert len(result.value) == 200 and not result.value["verdict"].str.startswith("error").any()
    assert result.data["throttle"] == {"requests throttled (429)": 0, "lowest window": 16, "ceiling": 16}


def test_a_server_that_never_stops_throttling_fails_the_scan_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(fleetfetch, "THROTTLE_BUDGET", 2.5)
    with ThrottlingServer(nodes=3, max_in_flight=10, always_429=True) as server:
        with pytest.raises(TransportError, match="429 Too Many Requests") as info:
            scan_fleet(server.kube(tmp_path), concurrency=4)
    assert "node_pressure.concurrency" in info.value.hint


def test_errors_other_than_429_are_rows_not_retries(tmp_path):
    with ThrottlingServer(nodes=5, max_in_flight=100, status_for={"n1": 503, "n2": 400}) as server:
        result = scan_fleet(server.kube(tmp_path), concurrency=4)
    verdicts = dict(zip(result.value["node"], result.value["verdict"]))
    assert verdicts["n1"] == "needs node access (configz 503, stats/summary 503)"
    assert verdicts["n2"] == "error: GET proxy/configz: HTTP 400"
    assert verdicts["n0"] == "PRESSURE" and verdicts["n3"] == "ok"
    assert server.served == 10  # each asked once: only a 429 is retried
    assert result.data["needs_access"] == ["n1"]


def test_retry_after_forms():
    assert retry_after("3") == 3.0
    assert retry_after(None) == 1.0 and retry_after("soon") == 1.0
    assert retry_after("100000") == fleetfetch.MAX_RETRY_AFTER
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


def test_window_halves_on_429_and_grows_back():
    async def run():
        window = Window(8)
        for _ in range(8):
            await window.acquire()
        blocked = asyncio.ensure_future(window.acquire())
        await asyncio.sleep(0)
        assert not blocked.done()  # the ceiling holds
        window.too_many()
        window.too_many()  # same burst: one cut
        assert int(window.limit) == 4 and window.lowest == 4
        for _ in range(4):
            window.release()
        await asyncio.sleep(0)
        assert not blocked.done()  # 4 still in flight: the halved window is full
        window.release()
        await asyncio.sleep(0)
        assert blocked.done() and window.in_flight == 4  # the freed slot went to the waiter
        for _ in range(200):
            window.succeeded()
        assert window.limit == 8
    asyncio.run(run())


def test_through_a_kubeconfig_proxy_the_scan_uses_aiohttp_and_still_retries(tmp_path, monkeypatch):
    def no_lean(*args, **kwargs):
        raise AssertionError("the lean client cannot go through a proxy")

    monkeypatch.setattr(fleetfetch, "LeanClient", no_lean)
    # The stand-in serves absolute-form requests too, so it can be its own proxy.
    with ThrottlingServer(nodes=60, max_in_flight=5) as server:
        kube = server.kube(tmp_path)
        kube.api.configuration.proxy = f"http://127.0.0.1:{server.port}"
        result = scan_fleet(kube, concurrency=40)
    assert server.throttled > 0 and server.served == 120
    assert len(result.value) == 60 and not result.value["verdict"].str.startswith("error").any()
