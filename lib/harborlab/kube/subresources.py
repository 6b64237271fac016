"""Subresources: status, scale, log, proxy (pods and nodes), binding, eviction, and the
SelfSubjectAccessReview answer. Log and proxy are routed to the node agent that owns the pod."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

from aiohttp import web

from . import patch as patches, validation
from .resources import Resource
from .selectors import from_label_selector, from_map
from .status import encode
from .status import ApiError, bad_request, conflict, method_not_allowed, unavailable, cause, invalid

if TYPE_CHECKING:
    from .server import ApiServer, Route


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(obj), status=status, content_type="application/json")


async def handle(server: "ApiServer", request: web.Request, route: "Route") -> web.StreamResponse:
    cluster, method, sub = server.cluster, request.method, route.sub
    res, ns, name = route.res, route.namespace, route.name
    if sub == "proxy":
        return await _proxy(server, request, route)
    if sub == "exec" and method in ("GET", "POST"):
        from .exec import handle_exec
        return await handle_exec(server, request, route)
    if sub == "log" and method == "GET":
        return _log(server, request, route)
    if sub == "portforward" and method in ("GET", "POST"):
        from . import portforward
        return await portforward.handle(server, request, route)
    if sub in ("status", "finalize"):
        if method == "GET":
            return _json(cluster.get(res, ns, name))
        if method == "PUT":
            body = await server.body(request)
            return _json(cluster.update(res, ns, name, body, "status", request.query.get("dryRun") == "All"))
        if method == "PATCH":
            obj, _ = await server.patch(request, route, "status")
            return _json(obj)
    if sub == "scale":
        return await _scale(server, request, route)
    dry_run = request.query.get("dryRun") == "All"
    if sub == "binding" and method == "POST":
        return _json(bind(cluster, ns, name, await server.body(request), dry_run), 201)
    if sub == "token" and method == "POST":
        return _json(token_request(cluster, ns, name, await server.body(request), dry_run), 201)
    if sub == "eviction" and method == "POST":
        eviction = await server.body(request)
        options = (eviction.get("deleteOptions") or {}) if isinstance(eviction, dict) else {}
        grace = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
        cluster.delete(res, ns, name, dry_run=dry_run, grace_period=grace if isinstance(grace, int) else None)
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
    raise method_not_allowed(method, res)


# --- service account tokens ----------------------------------------------------------------------

def token_request(cluster, ns: str, name: str, body: object, dry_run: bool) -> dict:
    """TokenRequest: a token for the service account, as the apiserver mints them."""
    from . import tokens
    from .resources import by_key
    account = cluster.get(by_key("/serviceaccounts"), ns, name)
    spec = (body.get("spec") if isinstance(body, dict) else None) or {}
    expiration = spec.get("expirationSeconds", 3600)
    if not isinstance(expiration, int) or expiration < 600:
        raise invalid(by_key("/serviceaccounts"), name, [cause("spec.expirationSeconds",
                      f"Invalid value: {expiration}: may not specify a duration less than 10 minutes")])
    audiences = spec.get("audiences") or None
    issuer = tokens.current()
    token, expiry = issuer.issue(ns, name, account["metadata"]["uid"], audiences, expiration)
    from .store import rfc3339
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {"audiences": audiences or [tokens.ISSUER], "expirationSeconds": expiration,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token, "expirationTimestamp": rfc3339(expiry)}}


# --- scale ---------------------------------------------------------------------------------------

def selector_string(obj: dict) -> str:
    selector = (obj.get("spec") or {}).get("selector")
    reqs = from_map(selector) if obj.get("kind") == "ReplicationController" else from_label_selector(selector) or ()
    parts = []
    for r in reqs:
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        else:
            parts.append(r.key if r.op == "exists" else f"!{r.key}")
    return ",".join(parts)


def scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": selector_string(obj)}}


async def _scale(server: "ApiServer", request: web.Request, route: "Route") -> web.Response:
    cluster, res = server.cluster, route.res
    if request.method == "GET":
        return _json(scale_of(cluster.get(res, route.namespace, route.name)))
    body = await server.body(request)
    # Read after the last await: a controller may write the object (its status) while the body
    # arrives, and a patch carries no resourceVersion to conflict on (the apiserver's
    # GuaranteedUpdate retries exactly that case). From here to the update nothing yields.
    obj = cluster.get(res, route.namespace, route.name)
    current = scale_of(obj)
    if request.method == "PUT":
        wanted = body
    elif request.method == "PATCH":
        kind = {"application/json-patch+json": patches.json_patch,
                "application/merge-patch+json": patches.merge_patch}.get(request.content_type, patches.strategic_merge)
        wanted = kind(current, body)
    else:
        raise method_not_allowed(request.method, res)
    replicas = (wanted.get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(res, route.name, [cause("spec.replicas", f"Invalid value: {json.dumps(replicas)}: "
                                              "must be greater than or equal to 0")])
    want_rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if request.method == "PUT" and want_rv and want_rv != obj["metadata"]["resourceVersion"]:
        raise conflict(res, route.name)
    updated = copy.deepcopy(obj)
    updated["spec"]["replicas"] = replicas
    dry = request.query.get("dryRun") == "All"
    stored = cluster.update(res, route.namespace, route.name, updated, None, dry)
    return _json(scale_of(stored))


# --- binding -------------------------------------------------------------------------------------

def bind(cluster, ns: str, name: str, body: object, dry_run: bool = False) -> dict:
    from .resources import by_key
    pods = by_key("/pods")
    pod = cluster.get(pods, ns, name)
    target = (body or {}).get("target", {}).get("name") if isinstance(body, dict) else None
    if not target:
        raise invalid(pods, name, [cause("target.name", "Required value", "FieldValueRequired")])
    if pod["spec"].get("nodeName"):
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} '
                                        f'is already assigned to node "{pod["spec"]["nodeName"]}"')
    if not dry_run:
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = target
        cluster.put(pods, bound)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


# --- log and proxy -------------------------------------------------------------------------------

def _log(server: "ApiServer", request: web.Request, route: "Route") -> web.Response:
    pod = server.cluster.get(route.res, route.namespace, route.name)
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    container = request.query.get("container")
    if not container:
        if len(names) > 1:
            raise bad_request(f"a container name must be specified for pod {route.name}, "
                              f"choose one of: [{' '.join(names)}]")
        container = names[0] if names else ""
    elif container not in names:
        raise bad_request(f"container {container} is not valid for pod {route.name}")
    tail = request.query.get("tailLines")
    try:
        tail_n = int(tail) if tail else None
    except ValueError:
        raise bad_request("tailLines must be an integer") from None
    agent = server.cluster.agent_for(pod["spec"].get("nodeName"))
    waiting = _waiting_reason(pod, container)
    if waiting in ("ContainerCreating", "ErrImagePull", "ImagePullBackOff", "PodInitializing"):
        raise bad_request(f'container "{container}" in pod "{route.name}" is waiting to start: '
                          f'{"trying and failing to pull image" if "Image" in waiting else waiting}')
    text = agent.pod_log(pod, container, tail_n) if agent else ""
    return web.Response(text=text or "", content_type="text/plain")


def _waiting_reason(pod: dict, container: str) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return ((status.get("state") or {}).get("waiting") or {}).get("reason")
    return "ContainerCreating" if (pod.get("status") or {}).get("phase") == "Pending" else None


async def _proxy(server: "ApiServer", request: web.Request, route: "Route") -> web.StreamResponse:
    cluster = server.cluster
    if route.res.kind == "Node":
        node = cluster.get(route.res, "", route.name)
        agent = cluster.agent_for(node["metadata"]["name"])
        if agent is None:
            raise unavailable(f'no agent for node "{route.name}"')
        return await agent.node_proxy(request, route.name, route.rest)
    if route.res.kind != "Pod":
        raise unavailable(f'no endpoints available for service "{route.name}"')
    # "name", "name:port" or "scheme:name:port", as the real proxy accepts.
    parts = route.name.split(":")
    name = parts[1] if len(parts) == 3 else parts[0]
    port = parts[-1] if len(parts) >= 2 else ""
    pod = cluster.get(route.res, route.namespace, name)
    agent = cluster.agent_for(pod["spec"].get("nodeName"))
    answer = await agent.pod_proxy(request, pod, port, route.rest) if agent else None
    if answer is None:
        ip = (pod.get("status") or {}).get("podIP") or "<none>"
        target = port or _first_port(pod) or "80"
        raise unavailable(f"error trying to reach service: dial tcp {ip}:{target}: connect: connection refused")
    return answer


def _first_port(pod: dict) -> str | None:
    for container in pod["spec"].get("containers", []):
        for port in container.get("ports") or []:
            return str(port.get("containerPort"))
    return None


# --- access review -------------------------------------------------------------------------------

def review(server, res: Resource, body: object, user) -> dict:
    """SelfSubjectAccessReview, SelfSubjectRulesReview, TokenReview: answered, never stored."""
    from . import rbac
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON or YAML object")
    answer = copy.deepcopy(body)
    answer.pop("status", None)        # the server's to fill (kubectl sends status with null lists)
    answer.setdefault("apiVersion", res.group_version)
    answer.setdefault("kind", res.kind)
    answer.setdefault("metadata", {})
    answer.setdefault("spec", {})
    validation.check({**answer, "metadata": {**answer["metadata"], "name": "review"}}, res,
                     server.cluster.profile.version)
    answer["metadata"]["creationTimestamp"] = None
    if res.kind == "SelfSubjectAccessReview":
        return rbac.access_review(server.cluster, user, answer)
    if res.kind == "SelfSubjectRulesReview":
        return rbac.rules_review(server.cluster, user, answer)
    return rbac.token_review(server, answer)
