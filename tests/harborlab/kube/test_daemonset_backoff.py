"""A daemon pod the kubelet refuses is not recreated in a hot loop (no root: an in-process cluster).

The demo found this: lab-node-3 in DiskPressure refused the kube-proxy DaemonSet's pod, the
controller replaced the Failed pod at once, the node refused again — 1530 Failed pods in
seconds. The real controller (daemon_controller.go, podsShouldBeOnNode) counts a failed daemon
pod as the node's pod and deletes it only outside failedPodsBackoff (1 s, doubling, 15 min max).
"""

from __future__ import annotations

from harborlab.kube.cluster import Cluster
from harborlab.kube.controllers.daemonsets import DaemonSetController
from harborlab.kube.profiles import profile
from harborlab.kube.resources import by_key

PODS, NODES, NAMESPACES, DAEMONSETS = by_key("/pods"), by_key("/nodes"), by_key("/namespaces"), by_key("apps/daemonsets")


def refused_everywhere(cluster: Cluster) -> int:
    """Fail every pending daemon pod as a kubelet under DiskPressure does; how many it refused."""
    refused = 0
    for pod in cluster.store.list(PODS.key):
        if (pod.get("status") or {}).get("phase") == "Pending":
            cluster.put(PODS, {**pod, "status": {"phase": "Failed", "reason": "Evicted",
                                                 "message": "The node was low on resource: [DiskPressure]."}})
            refused += 1
    return refused


def test_refused_daemon_pods_are_replaced_with_backoff_not_in_a_loop():
    cluster = Cluster(profile("article"))
    cluster.create(NAMESPACES, "", {"metadata": {"name": "kube-system"}}, internal=True)
    cluster.create(NODES, "", {"metadata": {"name": "lab-node-3"}, "spec": {}}, internal=True)
    cluster.create(DAEMONSETS, "kube-system", {
        "metadata": {"name": "kube-proxy"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                              "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.7.5"}]}}}},
        internal=True)
    controller = DaemonSetController(cluster)
    created, now = 0, 1000.0
    for _ in range(400):                     # 40 s of passes, ten a second
        controller.sync(now)
        created += refused_everywhere(cluster)
        now += 0.1
    # 1 + 2 + 4 + 8 + 16 s of backoff fit in 40 s: about six pods, not four hundred.
    assert 3 <= created <= 8, created
    failed = [p for p in cluster.store.list(PODS.key) if p["status"]["phase"] == "Failed"]
    assert len(failed) <= 1  # each failed pod is deleted before its replacement is made
    reasons = [e["reason"] for e in cluster.store.list(by_key("/events").key)]
    assert "FailedDaemonPod" in reasons


def test_a_healthy_node_gets_its_daemon_pod_at_once():
    cluster = Cluster(profile("article"))
    cluster.create(NAMESPACES, "", {"metadata": {"name": "kube-system"}}, internal=True)
    cluster.create(NODES, "", {"metadata": {"name": "lab-node-1"}, "spec": {}}, internal=True)
    cluster.create(DAEMONSETS, "kube-system", {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, internal=True)
    DaemonSetController(cluster).sync(0.0)
    assert [p["spec"]["nodeName"] for p in cluster.store.list(PODS.key)] == ["lab-node-1"]
