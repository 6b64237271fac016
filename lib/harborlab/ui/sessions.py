"""Web sessions: in the process's memory, or in Redis when ``_REDIS_URL`` is set.

Beego's redis provider stores each session under its id (the ``beegosessionID`` cookie
value) as a plain key with a TTL of the session lifetime, in the db named by the URL. The
stand-in does the same (the value is JSON rather than Go's gob), so "the session key is in
Redis" can be checked with ``EXISTS <cookie value>``. In memory, sessions die with the
process and are invisible to other replicas - the HA failure this stand-in must reproduce.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Callable, Protocol

import redis

from .errors import BackendError
from .redisurl import SessionSavePath, split_host_port

COOKIE_NAME = "beegosessionID"
LIFETIME_SECONDS = 3600  # beego's default sessiongcmaxlifetime


def new_session_id() -> str:
    return secrets.token_hex(16)


class SessionStore(Protocol):
    kind: str

    def save(self, sid: str, data: dict[str, object]) -> None: ...

    def load(self, sid: str) -> dict[str, object] | None: ...


class MemorySessions:
    """Sessions in a dict, with expiry; ``clock`` is injectable for tests."""

    kind = "memory"

    def __init__(self, lifetime: int = LIFETIME_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._lifetime = lifetime
        self._clock = clock
        self._data: dict[str, tuple[float, dict[str, object]]] = {}

    def save(self, sid: str, data: dict[str, object]) -> None:
        self._data[sid] = (self._clock() + self._lifetime, dict(data))

    def load(self, sid: str) -> dict[str, object] | None:
        entry = self._data.get(sid)
        if entry is None:
            return None
        expires, data = entry
        if self._clock() >= expires:
            del self._data[sid]
            return None
        return dict(data)


class RedisSessions:
    """Sessions in Redis, keyed by the session id, as beego's redis provider keeps them."""

    kind = "redis"

    def __init__(self, url: SessionSavePath, lifetime: int = LIFETIME_SECONDS):
        self._lifetime = lifetime
        self._address = url.address
        host, port = split_host_port(url.address)  # what redis.Dial("tcp", address) accepts
        self._client = redis.Redis(
            host=host or "localhost", port=port, password=url.password or None, db=url.db,
            max_connections=url.pool_size, socket_timeout=5, socket_connect_timeout=5,
        )

    def _fail(self, exc: Exception) -> BackendError:
        return BackendError(
            f"session store redis at {self._address}: {type(exc).__name__}",
            hint="check _REDIS_URL (address, password, db) and that Redis is running",
        )

    def save(self, sid: str, data: dict[str, object]) -> None:
        try:
            self._client.setex(sid, self._lifetime, json.dumps(data))
        except redis.RedisError as exc:
            raise self._fail(exc) from exc

    def load(self, sid: str) -> dict[str, object] | None:
        try:
            raw = self._client.get(sid)
        except redis.RedisError as exc:
            raise self._fail(exc) from exc
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None  # a session written by a real beego (gob): not ours to read

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        self._client.close()


def open_store(url: SessionSavePath | None) -> MemorySessions | RedisSessions:
    """Redis when a URL is given, memory otherwise."""
    return RedisSessions(url) if url is not None else MemorySessions()
