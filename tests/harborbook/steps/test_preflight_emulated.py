"""00-preflight's cluster checks against the lab's API emulator (no root), pass and fail paths."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harborbook import params as params_mod
from harborbook.kube import Kube
from harborbook.runbook import Status
from harborbook.steps import preflight
from tests.support.emulator import start_server, stop_server

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("preflight-kube"), "--pod-ready-delay", "0.2", timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)


@pytest.fixture(scope="module")
def sandbox():
    return params_mod.load(ROOT / "params" / "sandbox.yaml")


def with_(params, **changes):
    """A copy of ``params`` with dotted fields replaced (section.field=value)."""
    data = params.model_dump()
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    return params.model_copy(update={k: getattr(params, k).model_validate(data[k]) for k in data
                                     if k in {c.split("__")[0] for c in changes}})


def rows(result):
    return {row["check"]: row for row in result.data["checks"]}


def test_kubernetes_reachable_namespace_missing_is_a_warning(kube, sandbox):
    params = with_(sandbox, cluster__namespace=f"absent-{uuid.uuid4().hex[:6]}")
    result = preflight.kubernetes(params, kube)
    found = rows(result)
    assert found["API reachable"]["status"] == "ok" and found["permissions"]["status"] == "ok"
    assert found["namespace"]["status"] == "warning" and "01-cephfs-storage creates it" in found["namespace"]["hint"]
    assert result.status is Status.WARNING and result.data["version"]


def test_kubernetes_namespace_present_is_ok(kube, sandbox):
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sandbox.cluster.namespace}})
    result = preflight.kubernetes(sandbox, kube)
    assert rows(result)["namespace"]["status"] == "ok"


def test_kubernetes_unreachable_fails_with_a_hint(tmp_path, sandbox):
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                      "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                      "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")
    result = preflight.kubernetes(sandbox, Kube(config, timeout=2))
    assert result.failed and list(rows(result)) == ["API reachable"]
    assert "unreachable" in result.summary and "harborbook lab status" in result.hint


def test_nodes_enough_for_the_replicas(kube, sandbox):
    result = preflight.nodes(sandbox, kube)
    assert result.status is Status.OK and "3 of 3 usable" in result.data["checks"][0]["detail"]


def test_nodes_fewer_than_the_replicas_warn(kube, sandbox):
    result = preflight.nodes(with_(sandbox, harbor__replicas__ui=5), kube)
    assert result.status is Status.WARNING and "fewer than the 5 replicas" in result.data["checks"][0]["detail"]


def test_node_port_free_then_taken_by_someone_else(kube, sandbox):
    port = 30000 + uuid.uuid4().int % 2000
    params = with_(sandbox, harbor__node_port=port)
    assert preflight.node_port(params, kube).data["checks"][0]["detail"] == "free"
    kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "other", "namespace": "default"},
                "spec": {"type": "NodePort", "selector": {"app": "x"},
                         "ports": [{"port": 80, "targetPort": 80, "nodePort": port}]}})
    try:
        result = preflight.node_port(params, kube)
        assert result.failed and "already allocated to default/other" in result.summary
    finally:
        kube.delete("v1", "Service", "other", "default")


def test_storage_backend_against_the_cluster_version(kube, sandbox):
    version = kube.minor()
    in_tree = preflight.storage_backend(sandbox, kube)
    assert in_tree.status is (Status.WARNING if version >= (1, 28) else Status.OK)
    csi = preflight.storage_backend(with_(sandbox, storage__backend="cephfs-csi",
                                          storage__csi__driver="missing.csi.example.com"), kube)
    assert csi.failed and "is not installed" in csi.summary
