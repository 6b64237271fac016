"""An evicted pod's status, as the kubelet writes it (no root, no lab: an in-process cluster).

The demo found this: after 06 the lab's evicted registry pod still said Ready=True with its
container running and ready, so 05 probed it through the pod proxy (503: nothing runs) and its
failover check deleted it and waited for a replacement that never came (the ReplicaSet had
already replaced it). The kubelet's status manager never reports a terminal phase with Ready
True (kubernetes issue 108594): the eviction kills the containers and the pod is not ready.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harborlab.kube.cluster import Cluster
from harborlab.kube.controllers.common import condition, is_ready
from harborlab.kube.controllers.pods import running_status, terminal_status
from harborlab.kube.profiles import profile
from harborlab.kube.resources import by_key
from harborlab.kubelet.agent import LabNodeAgent
from harborlab.kubelet.simulator import KubeletSim

PODS, NODES, NAMESPACES = by_key("/pods"), by_key("/nodes"), by_key("/namespaces")
NODE = "lab-node-3"


class StopsRecorded:
    """Stands in for the pod runner: notes which pods the agent stopped."""

    def __init__(self):
        self.stopped: list[str] = []

    def stop_pod(self, pod: dict) -> None:
        self.stopped.append(pod["metadata"]["name"])


def running_pod(cluster: Cluster) -> dict:
    cluster.create(NAMESPACES, "", {"metadata": {"name": "harbor"}}, internal=True)
    cluster.create(NODES, "", {"metadata": {"name": NODE}}, internal=True)
    pod = cluster.create(PODS, "harbor", {
        "metadata": {"name": "registry-abc12", "labels": {"name": "registry-apps"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "registry", "image": "vmware/registry:2.6.2-photon",
                                                   "ports": [{"containerPort": 5000}]}]}}, internal=True)
    status = running_status(pod, None, "10.244.3.7", True, cluster.now(), cluster.profile.container_runtime)
    return cluster.put(PODS, {**pod, "status": status})


def test_running_pod_is_ready_before_the_eviction():
    pod = running_pod(Cluster(profile("article")))
    assert is_ready(pod) and condition(pod, "Ready")["status"] == "True"
    assert [c["ready"] for c in pod["status"]["containerStatuses"]] == [True]


def test_evicted_pod_is_failed_not_ready_and_its_container_terminated(tmp_path: Path):
    cluster = Cluster(profile("article"))
    pod = running_pod(cluster)
    runner = StopsRecorded()
    sim = KubeletSim(NODE, tmp_path, cluster.profile.kubelet_version, "article")
    agent = LabNodeAgent(cluster, sim, 2.0, runner)

    agent.evict(pod, "The node was low on resource: nodefs.")

    after = cluster.store.get(PODS.key, "harbor", "registry-abc12")
    status = after["status"]
    assert runner.stopped == ["registry-abc12"]
    assert (status["phase"], status["reason"]) == ("Failed", "Evicted")
    assert status["message"] == "The node was low on resource: nodefs."
    for ctype in ("Ready", "ContainersReady"):
        assert (condition(after, ctype)["status"], condition(after, ctype)["reason"]) == ("False", "PodFailed")
    assert not is_ready(after)
    [container] = status["containerStatuses"]
    assert container["ready"] is False and container["started"] is False
    terminated = container["state"]["terminated"]
    assert terminated["exitCode"] == 137 and terminated["reason"] == "Error"
    assert terminated["containerID"] == pod["status"]["containerStatuses"][0]["containerID"]
    assert "running" not in container["state"]
    # What 05 selects replicas by (the Ready condition) no longer picks the evicted pod.
    assert not any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])


@pytest.mark.parametrize("phase, why, code, word", [("Failed", "PodFailed", 137, "Error"),
                                                     ("Succeeded", "PodCompleted", 0, "Completed")])
def test_terminal_status_per_phase(phase, why, code, word):
    cluster = Cluster(profile("modern"))
    pod = running_pod(cluster)
    status = terminal_status(pod, phase, None, None, cluster.now())
    assert status["phase"] == phase and "reason" not in status
    assert {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]
            if c["type"] in ("Ready", "ContainersReady")} == {"Ready": ("False", why), "ContainersReady": ("False", why)}
    state = status["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (code, word)
    assert pod["status"]["phase"] == "Running"       # the input is not modified


def test_terminal_status_of_a_pod_that_never_started_keeps_its_waiting_reason():
    cluster = Cluster(profile("article"))
    pod = running_pod(cluster)
    pod["status"]["containerStatuses"][0].update(state={"waiting": {"reason": "ContainerCreating"}}, ready=False)
    status = terminal_status(pod, "Failed", "Evicted", "m", cluster.now())
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert (status["reason"], status["message"]) == ("Evicted", "m")
