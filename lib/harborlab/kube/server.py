"""The HTTP face of the emulator: an aiohttp app that authenticates, routes a Kubernetes REST path
to a resource and verb, parses the body and answers with objects or ``Status`` errors.

Routing follows the real layout:
``/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB[/...]]]`` and ``/apis/GROUP/VERSION/...``.
Every handler failure becomes a Status answer; nothing a client sends can stop the server.
"""

from __future__ import annotations

import hmac
import json
import logging
import traceback
from dataclasses import dataclass

import yaml
from aiohttp import web

from . import discovery, watch
from .cluster import Cluster
from .inflight import InflightLimit, too_many_requests
from .profiles import version_info
from .resources import Resource, lookup
from .status import (REQUEST_LIMIT, ApiError, bad_request, method_not_allowed, page_not_found,
                     too_large, unauthorized, unsupported_media)
from . import subresources

log = logging.getLogger("harborlab.kube")
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Route:
    res: Resource
    namespace: str          # "" for cluster scope or all namespaces
    name: str | None
    sub: str | None
    rest: str               # what follows the subresource (proxy paths)


def parse_route(path: str) -> Route | dict | None:
    """Map a path to a discovery document (dict) or a Route; None when nothing is served there."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        if len(parts) == 1:
            return {"_discovery": "core"}
        if parts[1] != "v1":
            return None
        group, version, rest = "", "v1", parts[2:]
    else:
        if len(parts) == 1:
            return {"_discovery": "groups"}
        if len(parts) == 2:
            return {"_discovery": "group", "group": parts[1]}
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return {"_discovery": "resources", "group": group, "version": version}
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    res = lookup(group, version, rest[0])
    if res is None or (namespace and not res.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in res.subresources:
        return None
    tail = "/".join(rest[3:])
    if path.endswith("/") and tail:
        tail += "/"
    return Route(res, namespace, name, sub, tail)


def _flag(query, key: str) -> bool:
    return query.get(key, "").lower() in ("true", "1")


def parse_body(raw: bytes, content_type: str) -> object:
    if not raw.strip():
        raise bad_request("the body of the request is empty")
    try:
        if "yaml" in content_type:
            return yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise bad_request(f"couldn't get version/kind; json parse error: {reason}") from None


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


# Who the lab's admin token is: kubeadm's admin.conf user since 1.29, bound to cluster-admin
# through its group rather than being in system:masters (so the in-flight limits apply to it).
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUPS = ("kubeadm:cluster-admins", "system:authenticated")


class ApiServer:
    def __init__(self, cluster: Cluster, token: str, address: str = "127.0.0.1:0",
                 inflight: InflightLimit | None = None):
        self.cluster = cluster
        self.token = token
        self.address = address
        self.inflight = inflight or InflightLimit()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=REQUEST_LIMIT, middlewares=[self._errors])
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return _json(err.body(), err.code)
        except web.HTTPRequestEntityTooLarge:
            err = too_large()
            return _json(err.body(), err.code)
        except web.HTTPException as exc:
            err = ApiError(exc.status, exc.reason, exc.text or exc.reason)
            return _json(err.body(), err.code)
        except (ConnectionResetError, ConnectionError):
            raise
        except Exception:   # never die on bad input: a bug becomes a 500 Status, logged for us
            log.error("internal error on %s %s\n%s", request.method, request.path, traceback.format_exc())
            err = ApiError(500, "InternalError", "an error on the server has prevented the request "
                                                 "from succeeding")
            return _json(err.body(), 500)

    def _authenticate(self, request: web.Request) -> tuple[str, tuple[str, ...]]:
        """(user, groups) of the request's bearer token; 401 for a missing or unknown token."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise unauthorized()
        return ADMIN_USER, ADMIN_GROUPS

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in PUBLIC_PATHS:
            groups: tuple[str, ...] = ("system:unauthenticated",)
        else:
            _, groups = self._authenticate(request)
        try:
            bucket = self.inflight.admit(request.method, path, request.query, groups)
        except InflightLimit.Refused:
            return too_many_requests()
        try:
            return await self._dispatch(request, path)
        finally:
            self.inflight.release(bucket)

    async def _dispatch(self, request: web.Request, path: str) -> web.StreamResponse:
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(version_info(self.cluster.profile))
        route = parse_route(path)
        if route is None:
            raise page_not_found()
        if isinstance(route, dict):
            return self._discovery(request, route)
        if route.sub is not None:
            return await subresources.handle(self, request, route)
        return await self._resource(request, route)

    def _discovery(self, request: web.Request, route: dict) -> web.Response:
        kind = route["_discovery"]
        if kind == "core":
            doc = discovery.core_versions(f"{request.host}")
        elif kind == "groups":
            doc = discovery.group_list()
        elif kind == "group":
            doc = discovery.group(route["group"])
        else:
            doc = discovery.resource_list(route["group"], route["version"])
        if doc is None:
            raise page_not_found()
        return _json(doc)

    async def body(self, request: web.Request) -> object:
        raw = await request.read()
        return parse_body(raw, request.content_type or "application/json")

    async def _resource(self, request: web.Request, route: Route) -> web.StreamResponse:
        cluster, res, query, method = self.cluster, route.res, request.query, request.method
        dry_run = query.get("dryRun") == "All"
        strict = query.get("fieldValidation") == "Strict"
        if route.name is None:
            if method == "GET":
                self._allow("list", res)
                if _flag(query, "watch"):
                    return await watch.serve(request, cluster.store, res, route.namespace)
                limit = query.get("limit")
                try:
                    limit_n = int(limit) if limit else None
                except ValueError:
                    raise bad_request(f"limit must be an integer, got {limit!r}") from None
                return _json(cluster.list(res, route.namespace, query.get("labelSelector"),
                                          query.get("fieldSelector"), limit_n, query.get("continue")))
            if method == "POST":
                self._allow("create", res)
                body = await self.body(request)
                if res.kind == "SelfSubjectAccessReview":
                    return _json(subresources.access_review(cluster, res, body), 201)
                obj = cluster.create(res, route.namespace, body, dry_run, strict,
                                     manager=query.get("fieldManager") or _agent(request))
                return _json(obj, 201)
            if method == "DELETE":
                self._allow("deletecollection", res)
                listed = cluster.list(res, route.namespace, query.get("labelSelector"), query.get("fieldSelector"))
                for item in listed["items"]:
                    meta = item["metadata"]
                    cluster.delete(res, meta.get("namespace", ""), meta["name"],
                                   query.get("propagationPolicy"), dry_run)
                return _json(listed)
            raise method_not_allowed(method, res)
        ns, name = route.namespace, route.name
        if method == "GET":
            self._allow("get", res)
            return _json(cluster.get(res, ns, name))
        if method == "PUT":
            self._allow("update", res)
            return _json(cluster.update(res, ns, name, await self.body(request), None, dry_run, strict))
        if method == "PATCH":
            self._allow("patch", res)
            obj, created = await self.patch(request, route, None)
            return _json(obj, 201 if created else 200)
        if method == "DELETE":
            self._allow("delete", res)
            options = await self._delete_options(request)
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            dry = dry_run or "All" in (options.get("dryRun") or [])
            return _json(cluster.delete(res, ns, name, propagation, dry, options.get("preconditions")))
        raise method_not_allowed(method, res)

    async def patch(self, request: web.Request, route: Route, sub: str | None) -> tuple[dict, bool]:
        content_type = request.content_type or ""
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise unsupported_media(content_type)
        query = request.query
        body = await self.body(request)
        return self.cluster.patch(route.res, route.namespace, route.name, patch_type, body, sub,
                                  query.get("dryRun") == "All", query.get("fieldManager"),
                                  _flag(query, "force"), query.get("fieldValidation") == "Strict")

    async def _delete_options(self, request: web.Request) -> dict:
        raw = await request.read()
        if not raw.strip():
            return {}
        options = parse_body(raw, request.content_type or "application/json")
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be an object")
        return options

    @staticmethod
    def _allow(verb: str, res: Resource) -> None:
        if verb not in res.verbs:
            raise method_not_allowed(verb, res)


def _agent(request: web.Request) -> str:
    # The real server names an Update manager after the client's user agent ("kubectl-client-side-apply").
    return request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
