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
