"""DaemonSets: a pod per eligible lab node, nodeSelector, recreation, rolling template updates."""

from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def _ds(name: str, image: str = "busybox:1.36", selector: dict | None = None) -> dict:
    spec = {"containers": [{"name": "c", "image": image}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": name}},
                                                "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def _pods(core, namespace, name):
    return [p for p in core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
            if not p.metadata.deletion_timestamp]


def test_a_pod_per_node_recreated_and_rolled(core, apps, namespace, wait):
    apps.create_namespaced_daemon_set(namespace, _ds("agent"))
    pods = wait(lambda: len(_pods(core, namespace, "agent")) == 3 and _pods(core, namespace, "agent"),
                what="3 daemon pods")
    assert sorted(p.spec.node_name for p in pods) == ["lab-node-1", "lab-node-2", "lab-node-3"]
    tolerated = {(t.key, t.effect) for t in pods[0].spec.tolerations}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
    assert ("node.kubernetes.io/disk-pressure", "NoSchedule") in tolerated
    wait(lambda: apps.read_namespaced_daemon_set("agent", namespace).status.number_ready == 3, what="ready")
    core.delete_namespaced_pod(pods[0].metadata.name, namespace, grace_period_seconds=0)
    wait(lambda: len(_pods(core, namespace, "agent")) == 3 and pods[0].metadata.name not in
         [p.metadata.name for p in _pods(core, namespace, "agent")], what="pod recreated")
    old_hash = pods[1].metadata.labels["controller-revision-hash"]
    apps.patch_namespaced_daemon_set("agent", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "env": [{"name": "LEVEL", "value": "2"}]}]}}}})

    def rolled():
        now = _pods(core, namespace, "agent")
        return len(now) == 3 and all(p.spec.containers[0].env for p in now) and now
    new = wait(rolled, what="rolled to the new template")
    assert {p.metadata.labels["controller-revision-hash"] for p in new} != {old_hash}
    status = apps.read_namespaced_daemon_set("agent", namespace).status
    assert (status.desired_number_scheduled, status.updated_number_scheduled) == (3, 3)


def test_node_selector_limits_the_nodes(core, apps, namespace, wait):
    apps.create_namespaced_daemon_set(namespace, _ds("picky", selector={"kubernetes.io/hostname": "lab-node-2"}))
    pods = wait(lambda: _pods(core, namespace, "picky"), what="a daemon pod")
    assert [p.spec.node_name for p in pods] == ["lab-node-2"]
    wait(lambda: apps.read_namespaced_daemon_set("picky", namespace).status.desired_number_scheduled == 1,
         what="status")
    apps.patch_namespaced_daemon_set("picky", namespace, {"spec": {"template": {"spec": {
        "nodeSelector": {"kubernetes.io/hostname": "nowhere"}}}}})
    wait(lambda: not _pods(core, namespace, "picky"), what="pod removed from a node no longer selected")
