"""Nodes and their agents: synthetic nodes, node proxy per profile, pod log and pod proxy."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from harborlab.kube.nodes import SyntheticAgent, TrivialAgent, synthetic_names
from harborlab.kube.profiles import profile

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def test_synthetic_nodes_are_deterministic_and_some_under_disk_pressure():
    agent = SyntheticAgent(profile("modern"))
    names = synthetic_names(400)
    first = [agent.fs_stats(n) for n in names]
    assert first == [SyntheticAgent(profile("modern")).fs_stats(n) for n in names]
    pressured = [n for n in names if agent.under_disk_pressure(n)]
    assert 0 < len(pressured) < 40
    report = agent.node_status(pressured[0], 0.0)
    assert report.conditions["DiskPressure"][0] == "True"
    assert report.taints == [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]
    calm = next(n for n in names if n not in pressured)
    assert agent.node_status(calm, 0.0).taints == []


def test_trivial_agent_keeps_nodes_ready():
    report = TrivialAgent(profile("article")).node_status("lab-node-1", 0.0)
    assert report.conditions["Ready"][0] == "True" and report.conditions["DiskPressure"][0] == "False"
    assert report.node_info["kubeletVersion"] == "v1.7.5"


def test_synthetic_nodes_are_served(server_factory):
    server = server_factory("--profile", "modern", "--synthetic-nodes", "50")
    api = server.api()
    core = client.CoreV1Api(api)
    nodes = core.list_node().items
    assert len(nodes) == 53
    page = core.list_node(limit=20)
    assert len(page.items) == 20 and page.metadata.remaining_item_count == 33
    assert len(core.list_node(field_selector="metadata.name=synthetic-node-0007").items) == 1
    api.close()


def test_node_proxy_forbidden_in_article_profile(core):
    with pytest.raises(client.ApiException) as exc:
        core.connect_get_node_proxy_with_path("lab-node-1", "configz")
    assert exc.value.status == 403 and json.loads(exc.value.body)["reason"] == "Forbidden"


def test_node_proxy_configz_and_stats_in_modern_profile(server_factory):
    server = server_factory("--profile", "modern")
    api = server.api()
    core = client.CoreV1Api(api)
    configz = json.loads(core.connect_get_node_proxy_with_path("lab-node-1", "configz", _preload_content=False).data)
    assert configz["kubeletconfig"]["evictionHard"]["nodefs.available"] == "10%"
    stats = json.loads(core.connect_get_node_proxy_with_path("lab-node-1", "stats/summary",
                                                             _preload_content=False).data)
    fs = stats["node"]["fs"]
    assert fs["capacityBytes"] > fs["availableBytes"] > 0
    assert stats["node"]["runtime"]["imageFs"]["capacityBytes"] == fs["capacityBytes"]
    api.close()


def test_pod_proxy_without_a_process_is_503_and_log_is_empty(core, namespace, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 5000}]}]}})
    wait(lambda: core.read_namespaced_pod("p", namespace).status.phase == "Running", what="running")
    with pytest.raises(client.ApiException) as exc:
        core.connect_get_namespaced_pod_proxy_with_path("p:5000", namespace, "v2/")
    assert exc.value.status == 503 and "connection refused" in json.loads(exc.value.body)["message"]
    assert core.read_namespaced_pod_log("p", namespace) == ""
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_pod_log("p", namespace, container="nope")
    assert exc.value.status == 400


def test_a_plugged_in_agent_owns_its_pods(server_factory, tmp_path, wait, monkeypatch):
    stops = tmp_path / "stops.txt"
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(stops))
    server = server_factory("--agent-factory", "plugin_agent:factory", "--pod-ready-delay", "0")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "owned"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    pod = wait(lambda: (p := core.read_namespaced_pod("owned", "default")).status.pod_ip == "127.77.0.5" and p,
               what="agent-reported status")
    assert pod.status.phase == "Running" and {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert core.read_namespaced_pod_log("owned", "default") == "log of owned/c\n"
    answer = core.connect_get_namespaced_pod_proxy_with_path("owned:5000", "default", "v2/_catalog")
    assert answer == "owned port=5000 path=v2/_catalog"
    core.delete_namespaced_pod("owned", "default")
    wait(lambda: stops.exists() and stops.read_text() == "owned\n", what="stop_pod called")
    api.close()


def test_an_agent_reports_pressure_and_refuses_pods(server_factory, wait):
    server = server_factory("--profile", "modern", "--agent-factory", "plugin_agent:pressure_factory")
    api = server.api()
    core = client.CoreV1Api(api)
    core.connect_get_node_proxy_with_path("lab-node-3", "pressure")
    node = wait(lambda: (n := core.read_node("lab-node-3")).spec.taints and n, what="taint")
    assert [t.key for t in node.spec.taints] == ["node.kubernetes.io/disk-pressure"]
    assert {c.type: c.status for c in node.status.conditions}["DiskPressure"] == "True"
    core.create_namespaced_pod("default", {"metadata": {"name": "forced"}, "spec": {
        "nodeName": "lab-node-3", "containers": [{"name": "c", "image": "busybox"}]}})
    pod = wait(lambda: (p := core.read_namespaced_pod("forced", "default")).status.phase == "Failed" and p,
               what="refused")
    assert pod.status.reason == "Evicted" and "DiskPressure" in pod.status.message
    api.close()



def test_pod_exec_runs_what_the_agent_translates(server_factory, tmp_path, wait, monkeypatch):
    from kubernetes.stream import stream
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(tmp_path / "stops.txt"))
    server = server_factory("--agent-factory", "plugin_agent:factory")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "sh"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod("sh", "default").status.pod_ip, what="running")
    out = stream(core.connect_get_namespaced_pod_exec, "sh", "default", command=["echo", "hello"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hello\n"
    failing = stream(core.connect_get_namespaced_pod_exec, "sh", "default", command=["false"],
                     stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    failing.run_forever(timeout=5)
    assert failing.returncode == 1
    refused = stream(core.connect_get_namespaced_pod_exec, "sh", "default", command=["rm", "-rf", "/"],
                     stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    refused.run_forever(timeout=5)
    # Read the Status itself: a refusal carries no exit code (the client's returncode needs one).
    assert json.loads(refused.read_channel(3))["status"] == "Failure"
    api.close()


def test_agent_factories_apply_in_order_and_can_wrap(server_factory, tmp_path, wait, monkeypatch):
    monkeypatch.setenv("PLUGIN_AGENT_STOPS", str(tmp_path / "stops.txt"))
    server = server_factory("--agent-factory", "plugin_agent:factory", "--agent-factory", "plugin_agent:wrapping_factory")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "w"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod("w", "default").status.pod_ip == "127.77.0.5", what="owned by inner agent")
    assert core.read_namespaced_pod_log("w", "default") == "wrapped: log of w/c\n"
    api.close()
