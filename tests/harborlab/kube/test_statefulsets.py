"""StatefulSets: ordered creation with stable names and per-pod claims, scale down from the top,
rolling updates from the highest ordinal."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def _sts(replicas: int, policy: str = "OrderedReady", claims: bool = False) -> dict:
    sts = {"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "replicas": replicas, "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    }}
    if claims:
        sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return sts


def _names(core, namespace):
    return sorted(p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="app=db").items
                  if not p.metadata.deletion_timestamp)


def test_ordered_stable_names_claims_scale_and_roll(core, apps, namespace, wait):
    apps.create_namespaced_stateful_set(namespace, _sts(3))
    wait(lambda: _names(core, namespace) == ["db-0", "db-1", "db-2"], what="3 pods in order")
    # OrderedReady: each pod was created only once the one before it was Ready.
    pods = [core.read_namespaced_pod(f"db-{i}", namespace) for i in range(3)]
    for before, after in zip(pods, pods[1:]):
        ready = next(c for c in before.status.conditions if c.type == "Ready").last_transition_time
        assert ready <= after.metadata.creation_timestamp
    pod = core.read_namespaced_pod("db-1", namespace)
    assert pod.spec.hostname == "db-1" and pod.spec.subdomain == "db"
    wait(lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 3, what="ready")
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"replicas": 1}})
    wait(lambda: _names(core, namespace) == ["db-0"], what="scaled down from the top")
    old = core.read_namespaced_pod("db-0", namespace).metadata.labels["controller-revision-hash"]
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "env": [{"name": "V", "value": "2"}]}]}}}})
    wait(lambda: (p := core.read_namespaced_pod("db-0", namespace)).metadata.labels["controller-revision-hash"] != old
         and p.status.phase == "Running", timeout=10, what="db-0 replaced with the new template")


def test_each_pod_gets_its_own_claims_which_outlive_it(core, apps, namespace, wait):
    # Parallel: the lab has no provisioner, so the claims stay Pending and the pods not Ready.
    apps.create_namespaced_stateful_set(namespace, _sts(2, "Parallel", claims=True))
    wait(lambda: _names(core, namespace) == ["db-0", "db-1"], what="both pods at once")
    claim = next(v for v in core.read_namespaced_pod("db-1", namespace).spec.volumes if v.name == "data")
    assert claim.persistent_volume_claim.claim_name == "data-db-1"
    assert sorted(c.metadata.name for c in core.list_namespaced_persistent_volume_claim(namespace).items) == [
        "data-db-0", "data-db-1"]
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"replicas": 0}})
    wait(lambda: _names(core, namespace) == [], what="scaled to zero")
    assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 2
