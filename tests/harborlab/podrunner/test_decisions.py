"""The runner's pure decisions: restarts and back-off, status documents, pod addresses, port
clashes, Service endpoint tables, pod proxy helpers."""

from __future__ import annotations

import ipaddress

import pytest

from harborlab.procs import Listener
from harborlab.podrunner import addresses, podstatus, restarts
from harborlab.podrunner.endpoints import NodePort, node_port_table, service_table
from harborlab.podrunner.proxy import request_headers, subpath, target_port


@pytest.mark.parametrize(("policy", "code", "expected"), [
    ("Always", 0, True), ("Always", 1, True), (None, 2, True), ("OnFailure", 0, False), ("OnFailure", 1, True),
    ("Never", 0, False), ("Never", 1, False),
], ids=["always-ok", "always-fail", "default", "onfailure-ok", "onfailure-fail", "never-ok", "never-fail"])
def test_should_restart(policy, code, expected):
    assert restarts.should_restart(policy, code) is expected


@pytest.mark.parametrize(("exits", "delay"), [(1, 0), (2, 10), (3, 20), (4, 40), (6, 160), (7, 300), (30, 300)],
                         ids=["first-immediate", "10s", "20s", "40s", "160s", "capped", "capped-late"])
def test_backoff_delay(exits, delay):
    assert restarts.backoff_delay(exits) == delay


def test_backoff_base_scales():
    assert restarts.backoff_delay(3, base=1.0) == 2.0


@pytest.mark.parametrize(("previous", "ran", "expected"), [(0, 1, 1), (3, 5, 4), (5, 600, 1)],
                         ids=["first", "again", "reset-after-long-run"])
def test_exits_in_a_row(previous, ran, expected):
    assert restarts.exits_in_a_row(previous, ran) == expected


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (2, "Failed", "Error")],
                         ids=["success", "failure"])
def test_final_phase_and_reason(code, phase, reason):
    assert restarts.final_phase(code) == phase and restarts.termination_reason(code) == reason


POD = {"metadata": {"name": "registry-x", "namespace": "harbor", "uid": "uid-1"},
       "spec": {"containers": [{"name": "registry", "image": "vmware/registry:2.6.2-photon"}]},
       "status": {"phase": "Pending"}}
NODE = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}}
LAST = podstatus.Termination(2, "Error", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z")


def test_running_status_carries_restarts_and_last_state():
    status = podstatus.running(POD, NODE, "127.77.0.5", True, "2026-01-01T00:00:06Z", "docker://1.12.6",
                               "registry", 3, LAST, "2026-01-01T00:00:06Z")
    entry = status["containerStatuses"][0]
    assert status["phase"] == "Running" and status["podIP"] == "127.77.0.5" and status["hostIP"] == "10.0.0.11"
    assert entry["ready"] is True and entry["restartCount"] == 3
    assert entry["lastState"]["terminated"]["exitCode"] == 2
    assert entry["state"] == {"running": {"startedAt": "2026-01-01T00:00:06Z"}}
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"


def test_back_off_status_is_crashloopbackoff_and_not_ready():
    status = podstatus.back_off(POD, NODE, "127.77.0.5", "2026-01-01T00:00:06Z", "docker://1.12.6", "registry",
                                1, LAST, 20)
    entry = status["containerStatuses"][0]
    assert status["phase"] == "Running"
    assert entry["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert entry["state"]["waiting"]["message"] == \
        "back-off 20s restarting failed container=registry pod=registry-x_harbor(uid-1)"
    assert entry["ready"] is False and entry["restartCount"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "False"


@pytest.mark.parametrize(("phase",), [("Succeeded",), ("Failed",)], ids=["succeeded", "failed"])
def test_finished_status(phase):
    status = podstatus.finished(POD, "registry", 0, LAST, phase, "2026-01-01T00:00:06Z", "docker://1.12.6")
    assert status["phase"] == phase
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2


def test_waiting_status_is_pending():
    status = podstatus.waiting(POD, "CreateContainerConfigError", "boom", "t", "docker://1.12.6")
    assert status["phase"] == "Pending"
    assert podstatus.container_state(status, "registry") == {"waiting": {"reason": "CreateContainerConfigError",
                                                                         "message": "boom"}}


def test_addresses_skip_taken_and_busy_and_stay_in_the_pod_network():
    start = addresses.first_cursor("/some/state")
    assert start == addresses.first_cursor("/some/state") != addresses.first_cursor("/other/state")
    first, cursor = addresses.allocate(start, set(), lambda ip: False)
    second, _ = addresses.allocate(start, {first}, lambda ip: False)
    third, _ = addresses.allocate(start, {first}, lambda ip: ip == second)
    assert len({first, second, third}) == 3
    for ip in (first, second, third):
        assert addresses.in_pod_network(ip) and ip.split(".")[-1] not in ("0", "255")
    again, _ = addresses.allocate(cursor, set(), lambda ip: False)
    assert again != first  # a freed address is not handed out again at once


def test_addresses_wrap_around_and_exhaust():
    last = len(addresses._USABLE) - 1
    ip, cursor = addresses.allocate(last, set(), lambda ip: False)
    assert ipaddress.ip_address(ip) == ipaddress.ip_address("127.77.255.254") and cursor == 0
    with pytest.raises(RuntimeError, match="no free pod address"):
        addresses.allocate(0, set(), lambda ip: True)


LISTENING = [Listener("127.77.0.5", 5000, 11), Listener("0.0.0.0", 8080, 12), Listener("127.0.0.1", 5001, 13)]


@pytest.mark.parametrize(("ports", "ip", "expected"), [
    ((5000, 5001), "127.77.0.5", "port 127.77.0.5:5000 is already in use by nginx (pid 42)"),
    ((80,), "127.77.0.5", None),
    ((8080,), "127.77.0.6", "port 127.77.0.6:8080 is already in use by nginx (pid 42)"),
    ((5001,), "127.77.0.5", None),
], ids=["same-address", "free", "wildcard-holder", "other-address"])
def test_port_clash(ports, ip, expected):
    assert addresses.port_clash(LISTENING, ports, ip, lambda inode: (42, "nginx")) == expected


def test_port_clash_without_a_visible_holder():
    assert addresses.port_clash(LISTENING, (5000,), "127.77.0.5", lambda inode: None) == \
        "port 127.77.0.5:5000 is already in use"


def svc(name, ns="harbor", ports=None, type_="ClusterIP"):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, "ports": ports or [{"name": "http", "port": 80, "targetPort": 80}]}}


def eps(name, ns="harbor", ready=(), not_ready=(), ports=None):
    subset = {"ports": ports or [{"name": "http", "port": 80}]}
    if ready:
        subset["addresses"] = [{"ip": ip} for ip in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"metadata": {"name": name, "namespace": ns}, "subsets": [subset]}


REGISTRY_PORTS = [{"name": "repo", "port": 5000, "targetPort": 5000}, {"name": "debug", "port": 5001, "targetPort": 5001}]


def test_service_table_maps_every_dns_form_to_ready_endpoints():
    services = [svc("ui"), svc("registry", ports=REGISTRY_PORTS), svc("ui", ns="other")]
    endpoints = [eps("ui", ready=["127.77.0.3", "127.77.0.2"], not_ready=["127.77.0.9"]),
                 eps("registry", ready=["127.77.0.4"], ports=[{"name": "repo", "port": 5000}, {"name": "debug", "port": 5001}]),
                 eps("ui", ns="other", ready=["127.77.1.1"])]
    table = service_table(services, endpoints, "harbor")
    assert table["ui:80"] == ["127.77.0.2:80", "127.77.0.3:80"]
    assert table["ui.harbor.svc.cluster.local:80"] == table["ui:80"]
    assert table["registry:5000"] == ["127.77.0.4:5000"] and table["registry:5001"] == ["127.77.0.4:5001"]
    assert table["ui.other:80"] == ["127.77.1.1:80"]   # qualified names reach other namespaces ...
    assert "ui.harbor:80" in table and table["ui:80"] != table["ui.other:80"]   # ... short ones do not


def test_service_without_endpoints_has_an_empty_list():
    assert service_table([svc("ui")], [], "harbor")["ui:80"] == []


def test_node_port_table_only_nodeports():
    services = [svc("nginx", ports=[{"name": "http", "port": 80, "nodePort": 31777}], type_="NodePort"), svc("ui")]
    table = node_port_table(services, [eps("nginx", ready=["127.77.0.7"])])
    assert table == {NodePort(31777, "harbor/nginx:http", "TCP"): ["127.77.0.7:80"]}


@pytest.mark.parametrize(("raw", "routed", "expected"), [
    ("/api/v1/namespaces/h/pods/r:5000/proxy/v2/", "v2", "/v2/"),
    ("/api/v1/namespaces/h/pods/r:5000/proxy", "", "/"),
    ("/api/v1/namespaces/h/pods/r/proxy/a/proxy/b", "a/proxy/b", "/a/proxy/b"),
    ("/elsewhere", "x", "x"),
], ids=["trailing-slash-kept", "root", "proxy-inside-path", "not-a-pod-proxy"])
def test_subpath(raw, routed, expected):
    assert subpath(raw, routed) == expected


def test_request_headers_drop_credentials_and_hop_by_hop():
    kept = request_headers({"Authorization": "Bearer api-token", "Connection": "keep-alive", "Accept": "x/y",
                            "Host": "api", "Docker-Distribution-Api-Version": "registry/2.0"})
    assert kept == {"Accept": "x/y", "Docker-Distribution-Api-Version": "registry/2.0"}


PROXY_POD = {"spec": {"containers": [{"ports": [{"name": "repo", "containerPort": 5000},
                                                {"name": "debug", "containerPort": 5001}]}]}}


@pytest.mark.parametrize(("port", "expected"), [("5001", 5001), ("debug", 5001), ("", 5000), ("nope", None)],
                         ids=["number", "name", "first", "unknown-name"])
def test_target_port(port, expected):
    assert target_port(PROXY_POD, port) == expected


def test_socket_holder_names_this_very_process():
    import os
    import socket
    from pathlib import Path

    from harborlab import procs

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        busy = procs.conflicts(procs.listeners(), port, "127.0.0.1")
        assert addresses.socket_holder(busy[0].inode) == (os.getpid(), Path("/proc/self/comm").read_text().strip())
    assert addresses.socket_holder(busy[0].inode) is None   # closed: nobody holds it
