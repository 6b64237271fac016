"""Every node's configz and stats/summary through the API server's node proxy, many at once.

One event loop and a pool of keep-alive connections (``fleethttp``, or aiohttp through a proxy)
instead of a thread per request: at thousands of nodes the client's CPU per request, not the
kubelets' round trips, decides the time. The API server decides how much it takes: ``ceiling`` bounds the requests in flight, and a
``429 Too Many Requests`` (the apiserver's ``--max-requests-inflight``, or API priority and
fairness) halves the window and is retried after its ``Retry-After``; the window then grows back
by one request per window of successes (additive increase, multiplicative decrease). A node
that was only throttled is therefore never reported as an error.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import aiohttp

from ...errors import TransportError
from .fleethttp import HTTPError, LeanClient

PATHS = ("configz", "stats/summary")
THROTTLE_BUDGET = 300.0  # seconds of 429s one request may wait in total before the scan fails
MAX_RETRY_AFTER = 30.0   # a server's Retry-After beyond this is capped (then retried again)


@dataclass
class Answer:
    """What one GET gave: the status and a 200's body, or an error message (no answer)."""

    status: int
    body: bytes | None = None
    error: str = ""


class Window:
    """At most ``limit`` requests in flight; 429s halve the limit, successes grow it back.

    Waiters queue in arrival order (a deque of futures: O(1) per request, whatever the fleet).
    """

    def __init__(self, ceiling: int):
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)
        self.in_flight = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.throttled = 0  # 429 answers seen
        self.lowest = self.ceiling
        self._last_cut = 0.0

    async def acquire(self) -> None:
        if self.in_flight < int(self.limit) and not self.waiters:
            self.in_flight += 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        await future  # the slot was taken for us by release()

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self.waiters and self.in_flight < int(self.limit):
            future = self.waiters.popleft()
            if not future.done():
                self.in_flight += 1
                future.set_result(None)

    def succeeded(self) -> None:
        if self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + 1 / self.limit)
            self._wake()

    def too_many(self) -> None:
        """A 429: halve the window, once per burst (answers to requests sent together)."""
        self.throttled += 1
        now = time.monotonic()
        if now - self._last_cut > 0.5:
            self._last_cut = now
            self.limit = max(1.0, self.limit / 2)
            self.lowest = min(self.lowest, int(self.limit))


def retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


def _ssl_context(config) -> ssl.SSLContext | bool:
    if not config.host.startswith("https"):
        return False
    if not config.verify_ssl:
        return False  # the kubeconfig says insecure-skip-tls-verify
    context = ssl.create_default_context(cafile=config.ssl_ca_cert)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    if config.assert_hostname is False:
        context.check_hostname = False
    return context


class FleetClient:
    """GETs through the API server of a ``Kube`` (its host, credentials and TLS settings)."""

    def __init__(self, kube, ceiling: int, timeout: float = 30.0,
                 sleep: Callable[[float], Any] = asyncio.sleep):
        config = kube.api.configuration
        self.host = config.host.rstrip("/")
        self.headers = {"Accept": "application/json", **kube.auth_headers()}
        self.ssl = _ssl_context(config)
        self.proxy = getattr(config, "proxy", None) or None  # the kubeconfig's proxy-url
        self.window = Window(ceiling)
        self.timeout = timeout
        self.sleep = sleep
        self.session: aiohttp.ClientSession | None = None
        self.lean: LeanClient | None = None

    async def __aenter__(self) -> "FleetClient":
        if self.proxy:  # the lean client speaks to the API server directly only
            connector = aiohttp.TCPConnector(limit=self.window.ceiling, ssl=self.ssl)
            self.session = aiohttp.ClientSession(connector=connector, headers=self.headers,
                                                 timeout=aiohttp.ClientTimeout(total=self.timeout))
        else:
            self.lean = LeanClient(self.host, self.headers, self.ssl, self.timeout)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session is not None:
            await self.session.close()
        if self.lean is not None:
            self.lean.close()

    async def _fetch(self, path: str) -> tuple[int, str | None, bytes]:
        """(status, Retry-After, body) of one GET."""
        if self.lean is not None:
            status, headers, body = await self.lean.get(path)
            after = headers.get(b"retry-after")
            return status, after.decode("latin-1") if after is not None else None, body
        assert self.session is not None
        async with self.session.get(self.host + path, proxy=self.proxy) as response:
            return response.status, response.headers.get("Retry-After"), await response.read()

    async def get(self, path: str) -> Answer:
        """One GET, retried after every 429 until THROTTLE_BUDGET seconds of waiting are spent."""
        waited = 0.0
        while True:
            await self.window.acquire()
            try:
                status, after, data = await self._fetch(path)
            except (HTTPError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                return Answer(0, error=f"{type(exc).__name__}: {exc}"[:200])
            finally:
                self.window.release()
            if status != 429:
                self.window.succeeded()
                return _answer(status, data)
            delay = retry_after(after)
            self.window.too_many()
            if waited + delay > THROTTLE_BUDGET:
                raise TransportError(
                    f"the API server at {self.host} kept answering 429 Too Many Requests for "
                    f"{waited:.0f} s", hint="the API server is overloaded: lower "
                    "node_pressure.concurrency or scan again later", see="06-node-disk-pressure")
            # A little jitter: requests throttled together should not all return together.
            pause = delay * (1 + 0.2 * random.random())
            waited += pause
            await self.sleep(pause)

    async def list_nodes(self) -> list[dict]:
        answer = await self.get("/api/v1/nodes")
        try:
            body = json.loads(answer.body) if answer.status == 200 and answer.body else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransportError(f"list nodes: the API server at {self.host} answered "
                                 f"{answer.status or answer.error}",
                                 hint="check cluster.kubeconfig and the RBAC to list nodes "
                                      "(run 00-preflight)", see="06-node-disk-pressure")
        return body.get("items") or []

    async def node(self, name: str) -> tuple[Answer, Answer]:
        """configz and stats/summary of one node, both at once."""
        base = f"/api/v1/nodes/{quote(name, safe='')}/proxy/"
        configz, summary = await asyncio.gather(*(self.get(base + p) for p in PATHS))
        return configz, summary


def _answer(status: int, data: bytes) -> Answer:
    """The raw body of a 200 (parsed where it is judged, maybe in another process)."""
    return Answer(status, data if status == 200 else None)
