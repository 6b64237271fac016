"""The kubelet simulator on real filesystems: the reference incident on lab-node-3 (article
profile), refusal of new pods, the fix through the drop-in plus a restart, a bad value that stops
the kubelet, and the node proxy per profile."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from kubernetes.client.rest import ApiException

from harborlab import scenario
from tests.support.labnodes import HOUSEKEEPING, TRANSITION, wait_until

pytestmark = pytest.mark.lab
NODE = "lab-node-3"
DROPIN = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"


def condition(api, name, ctype):
    return next(c for c in api.read_node(name).status.conditions if c.type == ctype)


def node_events(api, name):
    return {(e.reason, e.message) for e in api.list_namespaced_event("default").items
            if e.involved_object.name == name}


def chroot(root, *argv):
    return subprocess.run(["/usr/sbin/chroot", str(root), *argv], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/bin"})


def pod(name):
    return {"metadata": {"name": name}, "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox:1.36",
                                                                                   "command": ["sleep", "1d"]}]}}


def test_start_up_line_in_the_journal(article_nodes):
    out = chroot(article_nodes.root(NODE), "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat").stdout
    from harborbook.eviction import thresholds_from_log
    assert thresholds_from_log(out) == {"memory.available": "100Mi", "nodefs.available": "10%",
                                        "nodefs.inodesFree": "5%"}
    short = chroot(article_nodes.root(NODE), "journalctl", "-u", "kubelet", "-n", "1", "--no-pager").stdout
    assert f" {NODE} kubelet[" in short


def test_node_proxy_is_forbidden_in_the_article_profile(article_nodes):
    api = article_nodes.api()
    with pytest.raises(ApiException) as err:
        api.connect_get_node_proxy_with_path(NODE, "configz")
    assert err.value.status == 403


def test_incident_then_fix(article_nodes):
    api, root = article_nodes.api(), article_nodes.root(NODE)
    api.create_namespaced_pod("default", pod("early"))
    assert wait_until(lambda: api.read_namespaced_pod("early", "default").status.phase == "Running", 10)
    assert condition(api, NODE, "DiskPressure").status == "False"
    result = scenario.disk_pressure(article_nodes.state, NODE, "92%")
    assert result["used_percent"] >= 92
    # DiskPressure, the taint and the events within three housekeeping periods.
    assert wait_until(lambda: condition(api, NODE, "DiskPressure").status == "True", 3 * HOUSEKEEPING + 1)
    taints = api.read_node(NODE).spec.taints or []
    assert [(t.key, t.effect) for t in taints] == [("node.kubernetes.io/disk-pressure", "NoSchedule")]
    events = wait_until(lambda: node_events(api, NODE) >= {("EvictionThresholdMet", "Attempting to reclaim nodefs")}
                        and node_events(api, NODE), 3)
    assert ("NodeHasDiskPressure", f"Node {NODE} status is now: NodeHasDiskPressure") in events
    # The running pod is evicted, then nothing is left to evict.
    evicted = wait_until(lambda: api.read_namespaced_pod("early", "default").status.reason == "Evicted", 5)
    assert evicted
    assert api.read_namespaced_pod("early", "default").status.phase == "Failed"
    log = lambda: chroot(root, "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat").stdout  # noqa: E731
    assert wait_until(lambda: "no pods are active to evict" in log(), 5)
    # A new pod is refused.
    api.create_namespaced_pod("default", pod("late"))
    refused = wait_until(lambda: api.read_namespaced_pod("late", "default").status.phase == "Failed", 5)
    assert refused and "DiskPressure" in api.read_namespaced_pod("late", "default").status.message
    assert "Failed to admit pod late_default(" in log()
    # The fix: the full map with nodefs.available<5%, daemon-reload, restart.
    text = (root / DROPIN.lstrip("/")).read_text()
    text = text.replace("ExecStart=/usr/bin/kubelet", 'Environment="KUBELET_EVICTION_POLICY_ARGS=--eviction-hard='
                        'memory.available<100Mi,nodefs.available<5%,nodefs.inodesFree<5%"\n'
                        "ExecStart=/usr/bin/kubelet", 1).rstrip("\n") + " $KUBELET_EVICTION_POLICY_ARGS\n"
    (root / DROPIN.lstrip("/")).write_text(text)
    warned = chroot(root, "systemctl", "restart", "kubelet")
    assert "changed on disk" in warned.stderr
    assert chroot(root, "systemctl", "daemon-reload").returncode == 0
    assert chroot(root, "systemctl", "restart", "kubelet").returncode == 0
    from harborbook.eviction import thresholds_from_log
    assert thresholds_from_log(log())["nodefs.available"] == "5%"
    # Still True until the transition period has passed, then cleared.
    assert condition(api, NODE, "DiskPressure").status == "True"
    assert wait_until(lambda: condition(api, NODE, "DiskPressure").status == "False", TRANSITION + 3 * HOUSEKEEPING)
    assert not api.read_node(NODE).spec.taints
    assert ("NodeHasNoDiskPressure", f"Node {NODE} status is now: NodeHasNoDiskPressure") in node_events(api, NODE)
    assert scenario.clear(article_nodes.state, NODE)


def test_bad_value_stops_the_kubelet_and_says_why(article_nodes):
    api, root = article_nodes.api(), article_nodes.root("lab-node-1")
    path = root / DROPIN.lstrip("/")
    original = path.read_text()
    try:
        # A 1.7 kubelet refuses 0% ("must be positive"); it took 150% (no upper bound until 1.10).
        path.write_text(original.replace("$KUBELET_EXTRA_ARGS", "$KUBELET_EXTRA_ARGS --eviction-hard=nodefs.available<0%"))
        chroot(root, "systemctl", "daemon-reload")
        chroot(root, "systemctl", "restart", "kubelet")
        assert wait_until(lambda: condition(api, "lab-node-1", "Ready").status == "Unknown", 3 * HOUSEKEEPING + 1)
        log = chroot(root, "journalctl", "-u", "kubelet", "-n", "5", "--no-pager", "-o", "cat").stdout
        assert "error: eviction percentage threshold nodefs.available must be positive: 0%" in log
        assert chroot(root, "systemctl", "is-active", "kubelet").returncode != 0
    finally:
        path.write_text(original)
        chroot(root, "systemctl", "daemon-reload")
        chroot(root, "systemctl", "restart", "kubelet")
    assert wait_until(lambda: condition(api, "lab-node-1", "Ready").status == "True", 3 * HOUSEKEEPING + 1)


def test_modern_configz_and_summary_equal_statvfs(modern_nodes):
    api, root = modern_nodes.api(), modern_nodes.root(NODE)
    raw = api.connect_get_node_proxy_with_path(NODE, "stats/summary", _preload_content=False).data
    summary = json.loads(raw)
    st = os.statvfs(root)
    fs = summary["node"]["fs"]
    assert fs["capacityBytes"] == st.f_blocks * st.f_frsize
    assert abs(fs["availableBytes"] - st.f_bavail * st.f_frsize) <= 64 * 1024   # the journal may grow between
    assert fs["inodes"] == st.f_files
    assert summary["node"]["runtime"]["imageFs"]["capacityBytes"] == fs["capacityBytes"]   # containerd on /
    raw = api.connect_get_node_proxy_with_path(NODE, "configz", _preload_content=False).data
    config = json.loads(raw)["kubeletconfig"]
    assert config["evictionHard"] == {"memory.available": "100Mi", "nodefs.available": "10%",
                                      "nodefs.inodesFree": "5%", "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
    assert config["evictionPressureTransitionPeriod"] == "2s"
