"""The apiserver's max-in-flight filter: 429 + Retry-After past the limit, long-running requests not
counted, the read-only and mutating buckets apart (k8s.io/apiserver filters/maxinflight.go)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from multidict import MultiDict

from harborlab.kube.tls import context_from_kubeconfig
from harborlab.kube.inflight import InflightLimit, long_running, request_verb

pytestmark = pytest.mark.emulator   # starts an emulator subprocess (no root)

EXPECTED_BODY = b"Too many requests, please try again later.\n"


def _cfg(server):
    cfg = json.loads(server.kubeconfig.read_text())
    return cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]


def _tls(server):
    return context_from_kubeconfig(json.loads(server.kubeconfig.read_text()))


def _request(server, method, path, body=None):
    base, token = _cfg(server)
    req = urllib.request.Request(base + path, data=body, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=_tls(server)) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


HELD_BODY = json.dumps({"metadata": {"name": "held"}}).encode()


def _hold_a_mutating_slot(server) -> socket.socket:
    """A POST whose body has not all arrived: the handler is running, its slot taken."""
    base, token = _cfg(server)
    url = urlsplit(base)
    sock = _tls(server).wrap_socket(socket.create_connection((url.hostname, url.port), timeout=10),
                                    server_hostname=url.hostname)
    body = HELD_BODY
    sock.sendall(b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
    return sock


def _wait_in_flight(server, want_429: bool, deadline_s: float = 5.0):
    import time
    deadline = time.monotonic() + deadline_s
    while True:
        answer = _request(server, "POST", "/api/v1/namespaces", json.dumps({"metadata": {"generateName": "t-"}}).encode())
        if (answer[0] == 429) == want_429 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def test_past_the_mutating_limit_the_answer_is_429_with_retry_after(server_factory):
    server = server_factory("--max-mutating-requests-inflight", "1", "--max-requests-inflight", "1")
    held = _hold_a_mutating_slot(server)
    try:
        code, headers, body = _wait_in_flight(server, want_429=True)
        assert code == 429
        assert headers["Retry-After"] == "1"
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert body == EXPECTED_BODY
        # Reads use their own bucket, and a watch (long-running) takes no slot of it.
        base, token = _cfg(server)
        watch = urllib.request.urlopen(urllib.request.Request(
            base + "/api/v1/namespaces?watch=true&timeoutSeconds=5",
            headers={"Authorization": f"Bearer {token}"}), timeout=10, context=_tls(server))
        try:
            watch.readline()
            assert _request(server, "GET", "/api/v1/namespaces")[0] == 200
        finally:
            watch.close()
    finally:
        held.sendall(HELD_BODY[5:])
        reply = held.recv(200)
        held.close()
    assert reply.startswith(b"HTTP/1.1 201")
    # The slot came back: the next write goes through.
    assert _wait_in_flight(server, want_429=False)[0] == 201


def test_the_default_limits_are_the_apiservers(server_factory):
    server = server_factory()
    held = _hold_a_mutating_slot(server)
    try:
        assert _request(server, "POST", "/api/v1/namespaces",
                        json.dumps({"metadata": {"generateName": "t-"}}).encode())[0] == 201
    finally:
        held.close()


def test_401_comes_before_the_limit(server_factory):
    server = server_factory("--max-mutating-requests-inflight", "1")
    held = _hold_a_mutating_slot(server)
    try:
        base, _ = _cfg(server)
        req = urllib.request.Request(base + "/api/v1/namespaces", data=b"{}", method="POST",
                                     headers={"Authorization": "Bearer wrong"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10, context=_tls(server))
        assert err.value.code == 401
    finally:
        held.close()


def _q(**kw):
    return MultiDict(kw)


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/api/v1/namespaces/d/pods", {}, "get"),
    ("GET", "/api/v1/namespaces/d/pods", {"watch": "true"}, "watch"),
    ("GET", "/api/v1/pods", {"watch": "1"}, "watch"),
    ("POST", "/api/v1/namespaces/d/pods", {}, "create"),
    ("PATCH", "/apis/apps/v1/namespaces/d/deployments/x", {}, "patch"),
    ("DELETE", "/api/v1/namespaces/d/pods/x", {}, "delete"),
    ("GET", "/version", {}, "get"),
    ("POST", "/version", {}, "post"),
])
def test_request_verbs_follow_request_info(method, path, query, expected):
    assert request_verb(method, path, _q(**query)) == expected


@pytest.mark.parametrize("path,query,expected", [
    ("/api/v1/namespaces/d/pods/p/exec", {}, True),
    ("/api/v1/namespaces/d/pods/p/log", {}, True),
    ("/api/v1/namespaces/d/pods/p/portforward", {}, True),
    ("/api/v1/namespaces/d/pods/p/attach", {}, True),
    ("/api/v1/nodes/n/proxy/stats/summary", {}, True),
    ("/api/v1/namespaces/d/pods", {"watch": "true"}, True),
    ("/api/v1/namespaces/d/pods/p", {}, False),
    ("/api/v1/namespaces/d/pods/p/status", {}, False),
    ("/apis/apps/v1/namespaces/d/deployments/x/scale", {}, False),
])
def test_long_running_requests_are_recognised(path, query, expected):
    assert long_running("GET", path, _q(**query)) is expected


def test_buckets_fill_refuse_and_release():
    limit = InflightLimit(readonly=2, mutating=1)
    taken = [limit.admit("GET", "/api/v1/pods", _q()) for _ in range(2)]
    assert taken == ["readonly", "readonly"]
    with pytest.raises(InflightLimit.Refused):
        limit.admit("GET", "/api/v1/pods", _q())
    assert limit.admit("GET", "/api/v1/pods", _q(watch="true")) is None      # long-running
    assert limit.admit("POST", "/api/v1/namespaces/d/pods/p/exec", _q()) is None
    assert limit.admit("POST", "/api/v1/namespaces", _q()) == "mutating"
    with pytest.raises(InflightLimit.Refused):
        limit.admit("DELETE", "/api/v1/namespaces/x", _q())
    assert limit.admit("DELETE", "/api/v1/namespaces/x", _q(), ("system:masters",)) is None
    limit.release(taken[0])
    assert limit.admit("GET", "/api/v1/pods", _q()) == "readonly"


def test_a_zero_limit_means_unlimited():
    limit = InflightLimit(readonly=0, mutating=0)
    assert all(limit.admit("POST", "/api/v1/namespaces", _q()) is None for _ in range(1000))
