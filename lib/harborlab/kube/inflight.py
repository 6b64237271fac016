"""The apiserver's ``--max-requests-inflight`` / ``--max-mutating-requests-inflight`` limits.

Written from k8s.io/apiserver's filters/maxinflight.go: two buckets, read-only (verbs get, list,
watch) and mutating (every other verb), each a fixed number of slots; a request that finds its
bucket full is not queued but answered at once with 429, ``Retry-After: 1`` and the plain-text body
``Too many requests, please try again later.`` (Go's ``http.Error``: text/plain, nosniff, a trailing
newline — not a Status object). Long-running requests (kube-apiserver's
``BasicLongRunningRequestCheck``: the verbs watch and proxy, the subresources attach, exec, proxy,
log and portforward) take no slot. Members of ``system:masters`` are never refused. A limit of 0
leaves that bucket unlimited, as the flags do.

The filter runs after authentication (an unauthenticated request gets its 401 first) and before
authorization, as in the apiserver's handler chain.
"""

from __future__ import annotations

from aiohttp import web

DEFAULT_READONLY = 400        # --max-requests-inflight
DEFAULT_MUTATING = 200        # --max-mutating-requests-inflight
RETRY_AFTER = "1"
MESSAGE = "Too many requests, please try again later."
PRIVILEGED_GROUP = "system:masters"
LONG_RUNNING_VERBS = {"watch", "proxy"}
LONG_RUNNING_SUBRESOURCES = {"attach", "exec", "proxy", "log", "portforward"}
READONLY_VERBS = {"get", "list", "watch"}


def request_verb(method: str, path: str, query) -> str:
    """The verb the apiserver's RequestInfo gives a request (enough of it for the buckets)."""
    parts = [p for p in path.split("/") if p]
    resource_request = bool(parts) and parts[0] in ("api", "apis")
    if not resource_request:
        return method.lower()           # non-resource URLs: the lowercased method
    if method in ("GET", "HEAD"):
        if query.get("watch", "").lower() in ("true", "1"):
            return "watch"
        return "get"                    # get or list: both read-only
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method,
                                                                                        method.lower())


def subresource_of(path: str) -> str | None:
    """The subresource named in a resource path, if any (``.../pods/NAME/exec`` -> ``exec``)."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return rest[2] if len(rest) >= 3 else None


def long_running(method: str, path: str, query) -> bool:
    return (request_verb(method, path, query) in LONG_RUNNING_VERBS
            or subresource_of(path) in LONG_RUNNING_SUBRESOURCES)


def too_many_requests() -> web.Response:
    return web.Response(status=429, text=MESSAGE + "\n", charset="utf-8", content_type="text/plain",
                        headers={"Retry-After": RETRY_AFTER, "X-Content-Type-Options": "nosniff"})


class InflightLimit:
    """Slots per bucket; ``admit`` returns the bucket taken (release it after the answer) or None
    when the request takes no slot, and raises ``Refused`` when the bucket is full."""

    class Refused(Exception):
        pass

    def __init__(self, readonly: int = DEFAULT_READONLY, mutating: int = DEFAULT_MUTATING):
        self.limits = {"readonly": readonly, "mutating": mutating}
        self.in_flight = {"readonly": 0, "mutating": 0}

    def admit(self, method: str, path: str, query, groups: tuple[str, ...] = ()) -> str | None:
        if long_running(method, path, query):
            return None
        verb = request_verb(method, path, query)
        bucket = "readonly" if verb in READONLY_VERBS else "mutating"
        limit = self.limits[bucket]
        if not limit:
            return None
        if self.in_flight[bucket] >= limit:
            if PRIVILEGED_GROUP in groups:
                return None             # a super-admin always gets an answer
            raise self.Refused(bucket)
        self.in_flight[bucket] += 1
        return bucket

    def release(self, bucket: str | None) -> None:
        if bucket is not None:
            self.in_flight[bucket] -= 1
