"""The Kubernetes seam: the official client from a kubeconfig, apply, waits, events.

Everything returns plain dicts (what the API sent), and every API failure becomes a
``TransportError`` with a hint an operator can act on (401: credentials, 403: RBAC, 422: the
fields the server named), raised ``from`` the client's exception with the body truncated.
The same code talks to the lab's emulator and to a real cluster: only the kubeconfig differs.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import Forbidden, NotFound, TransportError, Unavailable, transport_error
from .secrets import mask

FIELD_MANAGER = "harborbook"
POOL_SIZE = 64

# Where each kind we manage lives (apiVersion, kind) -> (plural, namespaced).
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "Endpoints"): ("endpoints", True),
    ("v1", "Pod"): ("pods", True),
    ("v1", "PersistentVolume"): ("persistentvolumes", False),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Node"): ("nodes", False),
    ("v1", "Event"): ("events", True),
    ("v1", "ReplicationController"): ("replicationcontrollers", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("storage.k8s.io/v1", "StorageClass"): ("storageclasses", False),
    ("storage.k8s.io/v1", "CSIDriver"): ("csidrivers", False),
}

_HINTS = {
    401: "the API refused the credentials: check cluster.kubeconfig and cluster.context "
         "(the token may be wrong or expired)",
    403: "the credentials lack a permission (RBAC): run 00-preflight to see which verbs are missing",
    404: None,
    409: "someone else changed or owns this object; re-run to pick up the current state",
    410: "the watch fell too far behind; re-run the step",
    422: "the server rejected the object as invalid; see the fields named above",
}


@dataclass(frozen=True)
class Applied:
    """The outcome of one server-side apply."""

    kind: str
    name: str
    namespace: str | None
    action: str  # created | configured | unchanged (with dry_run: would-create / would-configure)
    object: dict


class Kube:
    """A connection to one cluster (or the lab's emulator) through a kubeconfig."""

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None, timeout: float = 30.0):
        # Nothing is read until first use, so a runbook can report a bad kubeconfig as a check.
        self.kubeconfig, self.context, self.timeout = kubeconfig, context, timeout
        self._api: Any = None
        self._dynamic: Any = None

    @property
    def api(self) -> Any:
        if self._api is None:
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            from kubernetes import client

            configuration = client.Configuration()
            try:
                config.load_kube_config(config_file=str(self.kubeconfig) if self.kubeconfig else None,
                                        context=self.context, client_configuration=configuration,
                                        persist_config=False)
            except (ConfigException, FileNotFoundError, OSError) as exc:
                where = self.kubeconfig or "the default kubeconfig (~/.kube/config, $KUBECONFIG)"
                raise TransportError(f"cannot load the kubeconfig {where}: {exc}",
                                     hint="set cluster.kubeconfig (and cluster.context) in the params file; "
                                          "for the lab, run `harborbook lab up` first",
                                     see="00-preflight") from None
            # Fail fast: an unreachable API must not hang a runbook in urllib3's retries.
            configuration.retries = 1
            # The fleet view talks to many nodes at once: one pooled connection per worker.
            configuration.connection_pool_maxsize = POOL_SIZE
            self._api = client.ApiClient(configuration)
        return self._api

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    @property
    def storage(self) -> Any:
        from kubernetes import client

        return client.StorageV1Api(self.api)

    @property
    def authz(self) -> Any:
        from kubernetes import client

        return client.AuthorizationV1Api(self.api)

    @property
    def version_api(self) -> Any:
        from kubernetes import client

        return client.VersionApi(self.api)

    @classmethod
    def from_params(cls, cluster: Any) -> "Kube":
        return cls(cluster.kubeconfig, cluster.context, cluster.request_timeout)

    # ------------------------------------------------------------------ basics
    @property
    def dynamic(self) -> Any:
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = self.call("discover the API", lambda: DynamicClient(self.api))
        return self._dynamic

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one API call; translate every failure into a TransportError with a hint."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except (ApiException, DynamicApiError) as exc:
            raise _api_error(what, exc) from exc
        except HTTPError as exc:
            host = self.api.configuration.host
            raise Unavailable(f"{what}: the Kubernetes API at {host} is unreachable ({type(exc).__name__})",
                                 hint="check that the API server is up and cluster.kubeconfig points at it; "
                                      "for the lab: `harborbook lab status`",
                                 see="00-preflight") from exc

    def version(self) -> dict:
        info = self.call("read /version", lambda: self.version_api.get_code())
        return self.api.sanitize_for_serialization(info)

    def minor(self) -> tuple[int, int]:
        info = self.version()
        git = info.get("gitVersion", "v0.0")
        parts = git.lstrip("v").split(".")
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)

    def node_proxy_json(self, node: str, path: str) -> tuple[int, Any]:
        """GET the kubelet's ``path`` (configz, stats/summary) through the node proxy.

        Returns (200, parsed JSON), or (status, None) for a 403/404/5xx: an answer here, not an
        error — the caller falls back to the kubelet log and the node's files.
        """
        try:
            # Raw bytes: the typed client would turn the JSON into a Python repr string.
            response = self.call(f"GET node {node} proxy/{path}",
                                 lambda: self.core.connect_get_node_proxy_with_path(node, path, _preload_content=False))
        except (Forbidden, NotFound) as exc:
            return exc.status or 0, None
        except TransportError as exc:
            if exc.status is not None and exc.status >= 500:
                return exc.status, None
            raise
        try:
            return 200, json.loads(response.data)
        except (TypeError, ValueError):
            return 200, None

    def pod_log(self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None) -> str:
        """The container's log (its last ``tail_lines`` lines), masked: it may echo a secret."""
        kwargs: dict[str, Any] = {}
        if container:
            kwargs["container"] = container
        if tail_lines:
            kwargs["tail_lines"] = tail_lines
        text = self.call(f"read the log of pod {pod}",
                         lambda: self.core.read_namespaced_pod_log(pod, namespace, **kwargs))
        return mask(text if isinstance(text, str) else str(text or ""))

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header this connection sends (for raw HTTP through the API server)."""
        for setting in self.api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                return {setting["key"]: setting["value"]}
        return {}

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS as this connection does it (the kubeconfig's CA, client certificate, verification),
        for raw HTTPS through the API server; None for a plain-HTTP server."""
        configuration = self.api.configuration
        if not configuration.host.startswith("https:"):
            return None
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if not configuration.verify_ssl:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
        return context

    @contextlib.contextmanager
    def port_forward(self, namespace: str, pod: str, port: int) -> Iterator[int]:
        """Like `kubectl port-forward`: a local loopback port whose connections reach the pod's port.

        Each accepted connection gets its own pods/portforward stream (the bytes pass untouched,
        unlike the pod proxy, which consumes the Authorization header).
        """
        import socket
        import threading

        from kubernetes.stream import portforward

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        stop = threading.Event()

        def pump(src: Any, dst: Any) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                forward = self.call(f"port-forward to {pod}:{port}",
                                    lambda: portforward(self.core.connect_get_namespaced_pod_portforward, pod,
                                                        namespace, ports=str(port)))
                remote = forward.socket(port)
                threading.Thread(target=pump, args=(conn, remote), daemon=True).start()

                def back(conn: socket.socket = conn, remote: Any = remote, forward: Any = forward) -> None:
                    pump(remote, conn)
                    forward.close()
                    conn.close()

                threading.Thread(target=back, daemon=True).start()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            listener.close()

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str | None = None) -> bool:
        from kubernetes import client

        attrs = client.V1ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace,
                                            subresource=subresource)
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
        answer = self.call(f"ask whether we may {verb} {resource}",
                           lambda: self.authz.create_self_subject_access_review(review))
        return bool(answer.status and answer.status.allowed)

    # ------------------------------------------------------------------ objects
    def _resource(self, api_version: str, kind: str):
        return self.call(f"find {kind} in the API", lambda: self.dynamic.resources.get(api_version=api_version, kind=kind))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist."""
        resource = self._resource(api_version, kind)
        try:
            found: dict = self.call(f"read {kind} {name}",
                                    lambda: resource.get(name=name, namespace=namespace).to_dict())
        except NotFound:
            return None
        return found

    def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        resource = self._resource(api_version, kind)
        result = self.call(f"list {kind}", lambda: resource.get(namespace=namespace, label_selector=label_selector,
                                                                field_selector=field_selector))
        return result.to_dict().get("items", [])

    def apply(self, manifest: dict, dry_run: bool = False, force: bool = True) -> Applied:
        """Server-side apply (field manager ``harborbook``): create or update, and say which."""
        meta = manifest["metadata"]
        kind, name, namespace = manifest["kind"], meta["name"], meta.get("namespace")
        resource = self._resource(manifest["apiVersion"], kind)
        before = self.get(manifest["apiVersion"], kind, name, namespace)
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": force}
        if dry_run:
            kwargs["dry_run"] = "All"
        after = self.call(
            f"apply {kind} {name}",
            lambda: resource.server_side_apply(body=manifest, name=name, namespace=namespace, **kwargs),
        ).to_dict()
        if before is None:
            action = "created"
        elif before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion"):
            action = "unchanged"
        else:
            action = "configured"
        if dry_run and action != "unchanged":
            action = f"would be {action}"
        return Applied(kind, name, namespace, action, after)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        resource = self._resource(api_version, kind)
        try:
            self.call(f"delete {kind} {name}", lambda: resource.delete(name=name, namespace=namespace))
        except NotFound:
            return False
        return True

    def events(self, namespace: str | None, kind: str | None = None,
               name: str | None = None) -> builtins.list[dict]:
        selectors = []
        if kind:
            selectors.append(f"involvedObject.kind={kind}")
        if name:
            selectors.append(f"involvedObject.name={name}")
        items = self.list("v1", "Event", namespace=namespace, field_selector=",".join(selectors) or None)
        return sorted(items, key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))

    # ------------------------------------------------------------------ waiting
    def watch(self, api_version: str, kind: str, namespace: str | None = None, timeout: float = 60,
              label_selector: str | None = None, field_selector: str | None = None) -> Iterator[tuple[str, dict]]:
        """Yield (event type, object): first the current objects as ADDED, then changes until timeout."""
        from kubernetes import watch

        listing, args = self._lister(api_version, kind, namespace)
        selectors = {k: v for k, v in {"label_selector": label_selector, "field_selector": field_selector}.items() if v}
        first = self.api.sanitize_for_serialization(self.call(f"list {kind}", lambda: listing(*args, **selectors)))
        for item in first.get("items", []):
            yield "ADDED", item
        version = first.get("metadata", {}).get("resourceVersion")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            w = watch.Watch()
            stream = w.stream(listing, *args, resource_version=version,
                              timeout_seconds=max(1, int(deadline - time.monotonic())), **selectors)
            try:
                for event in self.call(f"watch {kind}", lambda: _prime(stream)):
                    obj = self.api.sanitize_for_serialization(event["object"])
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    yield event["type"], obj
            finally:
                w.stop()

    def _lister(self, api_version: str, kind: str, namespace: str | None) -> tuple[Callable[..., Any], tuple]:
        """The typed list function for a kind (the watch helper needs a typed one)."""
        _, namespaced = KINDS[(api_version, kind)]
        api = {"v1": self.core, "apps/v1": self.apps, "storage.k8s.io/v1": self.storage}[api_version]
        snake = _snake(kind)
        if not namespaced:
            return getattr(api, f"list_{snake}"), ()
        if namespace:
            return getattr(api, f"list_namespaced_{snake}"), (namespace,)
        return getattr(api, f"list_{snake}_for_all_namespaces"), ()

    def wait_for(self, api_version: str, kind: str, namespace: str | None, done: Callable[[dict[str, dict]], bool],
                 timeout: float, label_selector: str | None = None, field_selector: str | None = None,
                 on_change: Callable[[dict[str, dict]], None] = lambda objs: None) -> dict[str, dict]:
        """Watch objects until ``done(objects by name)`` holds; return them (or raise on timeout)."""
        objects: dict[str, dict] = {}
        for event, obj in self.watch(api_version, kind, namespace, timeout, label_selector, field_selector):
            name = obj["metadata"]["name"]
            if event == "DELETED":
                objects.pop(name, None)
            else:
                objects[name] = obj
            on_change(objects)
            if done(objects):
                return objects
        if done(objects):
            return objects
        raise TimeoutError(f"{kind} not ready after {timeout:.0f}s")


def _prime(stream: Any) -> Iterator[Any]:
    """Start a watch stream inside the error translator (the first next() does the request)."""
    items = iter(stream)
    try:
        first = next(items)
    except StopIteration:
        return iter(())

    def chain() -> Iterator[Any]:
        yield first
        yield from items

    return chain()


def _snake(kind: str) -> str:
    out = ""
    for i, ch in enumerate(kind):
        if ch.isupper() and i and not kind[i - 1].isupper():
            out += "_"
        elif ch.isupper() and i and i + 1 < len(kind) and kind[i + 1].islower() and kind[i - 1].isupper():
            out += "_"
        out += ch.lower()
    return out


def _api_error(what: str, exc: Exception) -> TransportError:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    reason = getattr(exc, "reason", "") or ""
    message = reason
    causes: list[str] = []
    if body:
        try:
            parsed = json.loads(body if isinstance(body, str) else body.decode())
            message = parsed.get("message") or message
            causes = [f"{c.get('field', '?')}: {c.get('message', '')}"
                      for c in (parsed.get("details") or {}).get("causes", [])]
        except (ValueError, AttributeError):
            message = str(body)[:200]
    text = f"{what}: {status} {message}".strip()
    if causes:
        text += "\n" + "\n".join(f"  - {c}" for c in causes[:10])
    return transport_error(status, mask(text[:2000]), hint=_HINTS.get(status) if isinstance(status, int) else None)
