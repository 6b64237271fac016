"""harborbook.kube against the emulator: the named transport errors a caller relies on."""

from __future__ import annotations

import uuid

import pytest

from harborbook.errors import NotFound, Unavailable
from harborbook.kube import Kube
from tests.support.emulator import start_server, stop_server

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("kube-errors"), "--pod-ready-delay", "0.2", timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)


def test_missing_objects_are_none_or_false_not_errors(kube):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    assert kube.get("v1", "ConfigMap", name, "default") is None
    assert kube.delete("v1", "ConfigMap", name, "default") is False
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    assert kube.get("v1", "ConfigMap", name, "default")["metadata"]["name"] == name
    assert kube.delete("v1", "ConfigMap", name, "default") is True


def test_a_404_from_the_api_is_not_found_with_its_status(kube):
    with pytest.raises(NotFound) as info:
        kube.pod_log("default", f"no-such-pod-{uuid.uuid4().hex[:6]}")
    assert info.value.status == 404


def test_node_proxy_answers_are_data(kube):
    # The emulator's default profile is the reference era's operator: no nodes/proxy rights, and
    # like a real apiserver it authorises before it looks the node up: 403 for any node name.
    assert kube.node_proxy_json("lab-node-1", "configz") == (403, None)
    assert kube.node_proxy_json("no-such-node", "configz") == (403, None)


def test_an_unreachable_api_is_unavailable(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                      "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                      "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")
    with pytest.raises(Unavailable) as info:
        Kube(config, timeout=2).version()
    assert info.value.status is None and "unreachable" in info.value.message
