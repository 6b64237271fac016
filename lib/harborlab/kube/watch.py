"""Watch streams: newline-delimited JSON events over a chunked HTTP response, as the real server
sends them, with the initial state, ``resourceVersion`` resumption, 410 Gone and timeouts."""

from __future__ import annotations

import asyncio
from aiohttp import web

from .resources import Resource
from .selectors import parse_fields, parse_labels
from .status import ApiError, encode
from .store import Store, Watcher

DEFAULT_TIMEOUT = 1800.0   # the real server's --min-request-timeout


def _line(event_type: str, obj: dict) -> bytes:
    return encode({"type": event_type, "object": obj})


def initial_events(store: Store, watcher: Watcher, rv: str | None) -> list[tuple[str, dict]]:
    """What a new watch sends first: the current state (rv unset or "0"), or the changes since rv.
    Raises the 410 ApiError when rv is older than the history."""
    if rv in (None, "", "0"):
        objs = store.list(watcher.rkey, watcher.namespace, watcher.labels, watcher.fields)
        return [("ADDED", o) for o in objs]
    try:
        since = int(rv)
    except ValueError:
        raise ApiError(400, "BadRequest", f'invalid resource version: "{rv}"') from None
    events = []
    for change in store.changes_since(since, watcher.rkey):
        event = watcher.event_for(change)
        if event:
            events.append(event)
    return events


async def serve(request: web.Request, store: Store, res: Resource, namespace: str | None) -> web.StreamResponse:
    query = request.query
    watcher = Watcher(res.key, namespace or None, parse_labels(query.get("labelSelector")),
                      parse_fields(query.get("fieldSelector"), res.fields, res.kind))
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError:
        raise ApiError(400, "BadRequest", "timeoutSeconds must be a number") from None
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    # Register before reading the initial state: both happen without an await in between,
    # so no change can fall into a gap.
    store.watchers.add(watcher)
    try:
        try:
            first = initial_events(store, watcher, query.get("resourceVersion"))
        except ApiError as err:
            if err.code != 410:
                raise
            first, gone = [], err
        else:
            gone = None
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if gone is not None:
            await resp.write(_line("ERROR", gone.body()))
            return resp
        for event_type, obj in first:
            await resp.write(_line(event_type, obj))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(watcher.queue.get(), remaining)
            except asyncio.TimeoutError:
                break
            if event is None:       # the server is stopping
                break
            await resp.write(_line(*event))
        if bookmarks:
            await resp.write(_line("BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version,
                                                "metadata": {"resourceVersion": str(store.rv)}}))
        return resp
    finally:
        store.watchers.discard(watcher)
