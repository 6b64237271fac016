"""The one way harborbook talks to Redis: a client from the params' ``redis`` section.

Short timeouts: a check must answer "unreachable" in seconds, not hang a notebook cell.
"""

from __future__ import annotations

import redis as redis_lib

from .params.models import Redis

TIMEOUT_S = 5.0
# What a caller catches: every failure of the client (connection, auth, protocol).
RedisError = redis_lib.RedisError
AuthenticationError = redis_lib.AuthenticationError
ResponseError = redis_lib.ResponseError


def connect(settings: Redis, *, db: int | None = None, timeout: float = TIMEOUT_S) -> "redis_lib.Redis":
    """A client for ``settings`` (db ``settings.db`` unless given); the password revealed only here."""
    password = settings.password.reveal() if settings.password else None
    return redis_lib.Redis(host=settings.host, port=settings.port, db=settings.db if db is None else db,
                           password=password or None, socket_timeout=timeout, socket_connect_timeout=timeout)
