"""The HTTP face of the emulator: an aiohttp app that authenticates, routes a Kubernetes REST path
to a resource and verb, parses the body and answers with objects or ``Status`` errors.

Routing follows the real layout:
``/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB[/...]]]`` and ``/apis/GROUP/VERSION/...``.
Every handler failure becomes a Status answer; nothing a client sends can stop the server.
"""

from __future__ import annotations

import dataclasses

import hmac
import json
import logging
import traceback
from dataclasses import dataclass

import yaml
from aiohttp import web

from . import discovery, openapi, protobuf, rbac, tables, tokens, watch
from .rbac import User
from .cluster import Cluster
from .inflight import InflightLimit, too_many_requests
from .profiles import version_info
from .resources import Resource, lookup
from .status import (REQUEST_LIMIT, encode, ApiError, bad_request, method_not_allowed, page_not_found,
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
    if content_type == protobuf.CONTENT_TYPE:
        try:
            return protobuf.decode(raw)
        except (protobuf.DecodeError, UnicodeDecodeError):
            raise unsupported_media(content_type) from None
    try:
        if "yaml" in content_type:
            return yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise bad_request(f"couldn't get version/kind; json parse error: {reason}") from None


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(obj), status=status, content_type="application/json")


REVIEW_KINDS = {"SelfSubjectAccessReview", "SelfSubjectRulesReview", "TokenReview"}
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


class ApiServer:
    def __init__(self, cluster: Cluster, token: str, address: str = "127.0.0.1:0",
                 inflight: InflightLimit | None = None, operator_token: str | None = None):
        self.cluster = cluster
        self.token = token
        self.operator_token = operator_token
        self.address = address
        self.inflight = inflight or InflightLimit()
        self._openapi_cache: dict[str, dict] = {}

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

    def identify(self, token: str, audiences: list[str] | None = None) -> tuple[User | None, list[str], str]:
        """(user, audiences, error) for a bearer token: the kubeconfig's users, or a service account."""
        given = token.strip().encode()
        if given and hmac.compare_digest(given, self.token.encode()):
            return rbac.default_user(self.cluster.profile.name), audiences or [tokens.ISSUER], ""
        if given and self.operator_token and hmac.compare_digest(given, self.operator_token.encode()):
            return User(rbac.OPERATOR, ("system:authenticated",)), audiences or [tokens.ISSUER], ""
        issuer = tokens.current()
        if issuer is None or not given:
            return None, [], "invalid bearer token"
        identity, matched, error = issuer.verify(token.strip(), audiences)
        if identity is None:
            return None, [], error
        namespace, name = identity.user.split(":")[2:4]
        account = self.cluster.store.get("/serviceaccounts", namespace, name)
        if account is None or account["metadata"]["uid"] != identity.uid:
            return None, [], "invalid bearer token, service account has been deleted"
        return User(identity.user, identity.groups, identity.uid, tuple(identity.extra.items())), matched, ""

    def _authenticate(self, request: web.Request) -> User:
        """The request's user; 401 for a missing or unknown token."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        user = self.identify(given)[0] if scheme.lower() == "bearer" else None
        if user is None:
            raise unauthorized()
        return user

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        user = ANONYMOUS if path in PUBLIC_PATHS else self._authenticate(request)
        request["user"] = user
        try:
            bucket = self.inflight.admit(request.method, path, request.query, user.groups)
        except InflightLimit.Refused:
            return too_many_requests()
        requester = rbac.REQUESTER.set(user)     # for the RBAC escalation checks in admission
        try:
            return await self._dispatch(request, path)
        finally:
            rbac.REQUESTER.reset(requester)
            self.inflight.release(bucket)

    async def _dispatch(self, request: web.Request, path: str) -> web.StreamResponse:
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(version_info(self.cluster.profile))
        if path == "/openapi/v2" or path.startswith("/openapi/v3"):
            self._authorize(request, path, None)
            return self._openapi(path)
        route = parse_route(path)
        self._authorize(request, path, route)
        if route is None:
            raise page_not_found()
        if isinstance(route, dict):
            return self._discovery(request, route)
        if route.sub is not None:
            return await subresources.handle(self, request, route)
        return await self._resource(request, route)

    def _authorize(self, request: web.Request, path: str, route: "Route | dict | None") -> None:
        """RBAC, before anything is read or written (403 with the apiserver's message)."""
        user = request["user"]
        attrs = request_attributes(request.method, path, request.query, route)
        allowed, _ = rbac.authorize(self.cluster, user, attrs)
        if not allowed:
            raise rbac.forbidden_error(user, attrs)
        if attrs.verb == "patch" and isinstance(route, Route) and route.name and not route.sub \
                and request.content_type == "application/apply-patch+yaml":
            # A server-side apply that creates its object is authorized as create too (kubernetes.io
            # "API concepts", patch and apply).
            res = route.res
            if self.cluster.store.get(res.key, route.namespace if res.namespaced else "", route.name) is None:
                create = dataclasses.replace(attrs, verb="create")
                if not rbac.authorize(self.cluster, user, create)[0]:
                    raise rbac.forbidden_error(user, create)

    def _openapi(self, path: str) -> web.Response:
        from .resources import GENERATION
        if self._openapi_cache.get("_generation") != GENERATION[0]:     # a CRD came or went
            self._openapi_cache = {"_generation": GENERATION[0]}
        profile = self.cluster.profile
        if path == "/openapi/v2":
            doc = self._openapi_cache.get(path) or openapi.v2(profile)
        elif path == "/openapi/v3":
            doc = self._openapi_cache.get(path) or openapi.v3_root(profile)
        else:
            doc = self._openapi_cache.get(path) or openapi.v3_for_path(profile, path.removeprefix("/openapi/v3/"))
        if doc is None:
            raise page_not_found()
        self._openapi_cache[path] = doc
        return _json(doc)

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
                listed = cluster.list(res, route.namespace, query.get("labelSelector"),
                                      query.get("fieldSelector"), limit_n, query.get("continue"))
                if tables.wants_table(request.headers.get("Accept", "")):
                    return _json(tables.table(res, listed["items"], listed["metadata"],
                                              query.get("includeObject", "Metadata"), cluster.clock()))
                return _json(listed)
            if method == "POST":
                self._allow("create", res)
                body = await self.body(request)
                if res.kind in REVIEW_KINDS:
                    return _json(subresources.review(self, res, body, request["user"]), 201)
                obj = cluster.create(res, route.namespace, body, dry_run, strict,
                                     manager=query.get("fieldManager") or _agent(request))
                return _json(obj, 201)
            if method == "DELETE":
                self._allow("deletecollection", res)
                listed = cluster.list(res, route.namespace, query.get("labelSelector"), query.get("fieldSelector"))
                grace = _grace(query.get("gracePeriodSeconds"), None)
                for item in listed["items"]:
                    meta = item["metadata"]
                    cluster.delete(res, meta.get("namespace", ""), meta["name"],
                                   query.get("propagationPolicy"), dry_run, grace_period=grace)
                return _json(listed)
            raise method_not_allowed(method, res)
        ns, name = route.namespace, route.name
        if method == "GET":
            self._allow("get", res)
            obj = cluster.get(res, ns, name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.table(res, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                          query.get("includeObject", "Metadata"), cluster.clock()))
            return _json(obj)
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
            grace = _grace(query.get("gracePeriodSeconds"), options.get("gracePeriodSeconds"))
            return _json(cluster.delete(res, ns, name, propagation, dry, options.get("preconditions"), grace))
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


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def request_attributes(method: str, path: str, query, route: "Route | dict | None") -> rbac.Attributes:
    """What the apiserver's RequestInfo makes of a request, for the authorizer."""
    if not isinstance(route, Route):
        return rbac.Attributes(method.lower() if method != "HEAD" else "get", path=path)
    res = route.res
    if route.sub in ("exec", "attach", "portforward", "proxy"):
        verb = {"GET": "get", "HEAD": "get"}.get(method) or _METHOD_VERBS.get(method, method.lower())
    elif method in ("GET", "HEAD"):
        verb = "get" if route.name else ("watch" if _flag(query, "watch") else "list")
    elif method == "DELETE" and not route.name:
        verb = "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    namespace = route.name if res.plural == "namespaces" and route.name else route.namespace
    return rbac.Attributes(verb, namespace or "", res.group, res.plural, route.sub or "", route.name or "")


def _grace(from_query: str | None, from_options: object) -> int | None:
    """DeleteOptions.gracePeriodSeconds (query parameter or body); None when not given."""
    value = from_query if from_query not in (None, "") else from_options
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"gracePeriodSeconds must be an integer, got {value!r}") from None


def _agent(request: web.Request) -> str:
    # The real server names an Update manager after the client's user agent ("kubectl-client-side-apply").
    return request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
