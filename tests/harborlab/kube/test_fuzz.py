"""The server never dies on bad input: hypothesis throws random methods, paths, queries, content
types and bodies at a real emulator; every answer must be a well-formed response, every error a
Status, never a 500, and the server must still answer afterwards."""

from __future__ import annotations

import http.client
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harborlab.kube.tls import context_from_kubeconfig

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
TLS: list = []     # the module server's TLS context (trusting the CA its kubeconfig carries)

PREFIXES = ["/api/v1", "/api/v1/namespaces/default", "/apis/apps/v1/namespaces/default",
            "/apis/storage.k8s.io/v1", "/apis/authorization.k8s.io/v1", "/apis/apps/v1", "/api", "/apis", ""]
SEGMENTS = ["pods", "configmaps", "deployments", "nodes", "services", "namespaces", "default", "x", "status",
            "scale", "log", "proxy", "binding", "eviction", "exec", "portforward", "selfsubjectaccessreviews", "lab-node-1", "..", "%00",
            "a:b:c", "persistentvolumes", "events", "csidrivers", "finalize", ""]
CONTENT_TYPES = ["application/json", "application/merge-patch+json", "application/strategic-merge-patch+json",
                 "application/json-patch+json", "application/apply-patch+yaml", "application/yaml", "text/plain", ""]
QUERY_KEYS = ["watch", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "dryRun",
              "fieldManager", "force", "timeoutSeconds", "propagationPolicy", "container", "tailLines",
              "command", "ports", "stdin"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)
kube_like = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["v1", "apps/v1", "bogus/v9", 3]),
    "kind": st.sampled_from(["Pod", "ConfigMap", "Deployment", "Service", "Node", "", None]),
    "metadata": st.one_of(st.fixed_dictionaries({"name": st.text(min_size=0, max_size=12),
                                                 "labels": json_values}), json_values),
    "spec": json_values, "data": json_values, "status": json_values})
bodies = st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                   kube_like.map(lambda v: json.dumps(v).encode()), st.just(b""))


@st.composite
def requests(draw):
    path = draw(st.sampled_from(PREFIXES)) + "".join("/" + s for s in draw(st.lists(st.sampled_from(SEGMENTS), max_size=5)))
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=10).filter(lambda t: "\n" not in t),
                                 max_size=3))
    if query.get("watch"):
        query["timeoutSeconds"] = "0"      # a watch that ends at once keeps the run quick
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    return method, path or "/", query, draw(st.sampled_from(CONTENT_TYPES)), draw(bodies)


def send(base: tuple[str, int], token: str, method: str, path: str, query: dict, ctype: str, body: bytes):
    from urllib.parse import quote, urlencode
    conn = http.client.HTTPSConnection(*base, timeout=10, context=TLS[0])
    try:
        target = quote(path, safe="/:%.") + ("?" + urlencode(query) if query else "")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype} if ctype else \
            {"Authorization": f"Bearer {token}"}
        conn.request(method, target, body=body if method != "GET" else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_fuzzed_requests_never_break_the_server(server_factory_once, request):
    base, token = server_factory_once
    method, path, query, ctype, body = request
    status, content_type, payload = send(base, token, method, path, query, ctype, body)
    assert status != 500, payload[:300]
    if status >= 400 and content_type.startswith("application/json"):
        parsed = json.loads(payload)
        assert parsed["kind"] == "Status" and parsed["code"] == status
    alive, _, _ = send(base, token, "GET", "/api/v1/namespaces", {}, "", b"")
    assert alive == 200


@pytest.fixture(scope="module")
def server_factory_once(tmp_path_factory):
    from .conftest import start_server, stop_server
    server = start_server(tmp_path_factory.mktemp("fuzz"), "--pod-ready-delay", "0")
    cfg = json.loads(server.kubeconfig.read_text())
    host, port = cfg["clusters"][0]["cluster"]["server"].removeprefix("https://").split(":")
    TLS[:] = [context_from_kubeconfig(cfg)]
    try:
        yield (host, int(port)), cfg["users"][0]["user"]["token"]
    finally:
        stop_server(server.process)
        log = server.log()
        assert "Traceback" not in log, log[-3000:]
