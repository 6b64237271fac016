"""Fixtures: the emulator as a real HTTP server (a subprocess on a free loopback port, in a temp
state dir; no root needed) and official-client ApiClients configured from the kubeconfig it wrote."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client

from harborlab.kube.tls import context_from_kubeconfig
from tests.support.emulator import KubeServer, start_server, stop_server  # noqa: F401 (tests import them from here)


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("kube-state"), "--pod-ready-delay", "0.2")
    try:
        yield server
    finally:
        stop_server(server.process)


@pytest.fixture
def server_factory(tmp_path):
    """Start extra servers (other profiles/versions); all stopped at test end."""
    started: list[KubeServer] = []

    def make(*args: str) -> KubeServer:
        server = start_server(tmp_path / f"state-{len(started)}", *args)
        started.append(server)
        return server
    try:
        yield make
    finally:
        for server in started:
            stop_server(server.process)


@pytest.fixture
def api(kube_server):
    api_client = kube_server.api()
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api):
    return client.AppsV1Api(api)


@pytest.fixture
def namespace(core):
    """A fresh namespace per test, deleted afterwards (its objects with it)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    # As on a real cluster, the controllers fill a new namespace shortly after: wait for them.
    wait_for(lambda: core.list_namespaced_config_map(name, field_selector="metadata.name=kube-root-ca.crt").items
             and core.list_namespaced_service_account(name).items, what="the namespace's default objects")
    try:
        yield name
    finally:
        core.delete_namespace(name)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test with ``what`` otherwise.
    A 404 from the API while polling means "not there yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def wait():
    """``wait(predicate, timeout=30, what=...)``: poll until truthy, fail the test on timeout (generous: a
    loaded machine, e.g. the parallel suite, is slow, and a poll returns as soon as it holds)."""
    return wait_for


def raw_request(server: KubeServer, method: str, path: str, body: bytes | None = None, token: str | None = "ok",
                content_type: str = "application/json") -> tuple[int, dict]:
    """One HTTP request without the official client; token "ok" means the kubeconfig's token."""
    cfg = json.loads(server.kubeconfig.read_text())
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = "Bearer " + (cfg["users"][0]["user"]["token"] if token == "ok" else token)
    req = urllib.request.Request(cfg["clusters"][0]["cluster"]["server"] + path, data=body, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context_from_kubeconfig(cfg)) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def raw():
    """``raw(server, method, path, body=None, token="ok", content_type=...)`` -> (status, json)."""
    return raw_request
