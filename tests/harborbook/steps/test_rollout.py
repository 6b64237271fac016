"""Rollout decisions: apply order, readiness of a Deployment, why a pod waits."""

from __future__ import annotations

import pytest

from harborbook.steps import rollout


def test_ordered_puts_config_before_services_before_workloads():
    kinds = ["Deployment", "Service", "ConfigMap", "Secret", "Deployment", "Namespace"]
    manifests = [{"kind": k, "metadata": {"name": f"{k}-{i}"}} for i, k in enumerate(kinds)]
    assert [m["kind"] for m in rollout.ordered(manifests)] == [
        "Namespace", "ConfigMap", "Secret", "Service", "Deployment", "Deployment"]


def dep(generation=2, observed=2, replicas=3, updated=3, ready=3, total=3):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "readyReplicas": ready,
                       "replicas": total}}


@pytest.mark.parametrize(
    "deployment,ready",
    [
        (dep(), True),
        (dep(observed=1), False),
        (dep(ready=2), False),
        (dep(updated=2), False),
        (dep(total=4), False),
        ({"metadata": {}, "spec": {}, "status": {}}, False),
    ],
    ids=["ready", "old-generation", "one-unready", "rolling", "surge-pod-left", "empty-status"],
)
def test_deployment_ready(deployment, ready):
    assert rollout.deployment_ready(deployment) is ready


@pytest.mark.parametrize(
    "status,reason",
    [
        ({"containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, "CrashLoopBackOff"),
        ({"reason": "Evicted", "phase": "Failed"}, "Evicted"),
        ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
         "Unschedulable"),
        ({"phase": "Pending"}, "Pending"),
        ({}, "Unknown"),
    ],
    ids=["crashloop", "evicted", "unschedulable", "pending", "nothing"],
)
def test_pod_reason(status, reason):
    assert rollout.pod_reason({"status": status}) == reason


def crashing(restarts=3, message="exec docker-registry: No such file or directory", code=127, ready=False,
             deleting=False):
    pod = {"metadata": {"name": "p"}, "status": {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "registry", "image": "vmware/registry:2.6.2-photon", "restartCount": restarts,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                               "lastState": {"terminated": {"exitCode": code, "reason": "Error",
                                                            "message": message}}}]}}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod


def pulling(image="vmware/registry:nope", reason="ImagePullBackOff"):
    return {"metadata": {"name": "p"}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "registry", "image": image, "restartCount": 0, "state": {"waiting": {"reason": reason}}}]}}


@pytest.mark.parametrize(
    "pods,stuck",
    [
        ([crashing(), crashing()], True),
        ([crashing(), crashing(restarts=2)], False),
        ([crashing(), crashing(message="connection refused")], False),
        ([crashing(), crashing(code=1)], False),
        ([crashing(), crashing(ready=True)], False),
        ([crashing(), crashing(restarts=0, deleting=True)], True),
        ([pulling(), pulling(reason="ErrImagePull")], True),
        ([pulling(), pulling(image="vmware/registry:other")], False),
        ([pulling(), crashing()], False),
        ([], False),
    ],
    ids=["same-crash", "too-few-restarts", "other-message", "other-exit-code", "one-ready", "deleting-ignored",
         "image-missing", "two-images", "mixed", "no-pods"],
)
def test_stuck_component(pods, stuck):
    assert rollout.stuck_component(pods) is stuck
