"""Controllers seen through the official client: deployments, RCs, scheduling, PV binding,
services and endpoints, pod mount and image failures, garbage collection."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def deployment(name: str, replicas: int, image: str = "busybox", **pod_spec) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": image}], **pod_spec}}}}


def pods_of(core, namespace, app):
    return core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def events_for(core, namespace, name):
    return core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items


def test_deployment_rollout_scale_update_delete(core, apps, namespace, wait):
    apps.create_namespaced_deployment(namespace, deployment("web", 3))
    done = lambda want: (lambda: (d := apps.read_namespaced_deployment("web", namespace)).status.ready_replicas == want  # noqa: E731
                         and d.status.updated_replicas == want and d.status.replicas == want and d)
    d = wait(done(3), what="3 ready replicas")
    assert d.status.observed_generation == d.metadata.generation
    assert {c.type: c.status for c in d.status.conditions} == {"Available": "True", "Progressing": "True"}
    pods = pods_of(core, namespace, "web")
    hash_ = pods[0].metadata.labels["pod-template-hash"]
    assert all(p.metadata.name.startswith(f"web-{hash_}-") for p in pods)
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}})
    wait(done(5), what="scaled to 5")
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 2}})
    wait(done(2), what="scaled to 2")

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    d = wait(lambda: (x := done(2)()) and x.metadata.annotations.get("deployment.kubernetes.io/revision") == "2" and x,
                 what="rolled to revision 2")
    rsets = apps.list_namespaced_replica_set(namespace).items
    assert sorted(r.spec.replicas for r in rsets) == [0, 2]
    assert all(p.spec.containers[0].image == "busybox:1.36" for p in pods_of(core, namespace, "web"))
    reasons = [e.message for e in events_for(core, namespace, "web")]
    assert any(m.startswith("Scaled down replica set") for m in reasons)

    apps.delete_namespaced_deployment("web", namespace)
    wait(lambda: not pods_of(core, namespace, "web") and not apps.list_namespaced_replica_set(namespace).items,
             what="pods and replicasets garbage-collected")


def test_orphan_propagation_keeps_the_replicaset(apps, namespace, wait):
    apps.create_namespaced_deployment(namespace, deployment("keep", 1))
    wait(lambda: apps.list_namespaced_replica_set(namespace).items, what="replicaset")
    apps.delete_namespaced_deployment("keep", namespace, propagation_policy="Orphan")
    rs = wait(lambda: apps.list_namespaced_replica_set(namespace).items, what="replicaset kept")
    assert not rs[0].metadata.owner_references


def test_replication_controller_keeps_its_pods(core, namespace, wait):
    core.create_namespaced_replication_controller(namespace, {"metadata": {"name": "rc"}, "spec": {
        "replicas": 2, "selector": {"app": "rc"}, "template": {"metadata": {"labels": {"app": "rc"}},
                                                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    wait(lambda: core.read_namespaced_replication_controller("rc", namespace).status.ready_replicas == 2,
             what="rc ready")
    victim = pods_of(core, namespace, "rc")[0].metadata.name
    core.delete_namespaced_pod(victim, namespace)
    wait(lambda: len(names := [p.metadata.name for p in pods_of(core, namespace, "rc")]) == 2 and victim not in names,
             what="replacement pod")


def test_scheduling_around_a_noschedule_taint(core, apps, namespace, wait):
    core.patch_node("lab-node-3", {"spec": {"taints": [{"key": "node.kubernetes.io/disk-pressure",
                                                         "effect": "NoSchedule"}]}})
    try:
        apps.create_namespaced_deployment(namespace, deployment("spread", 4))
        wait(lambda: apps.read_namespaced_deployment("spread", namespace).status.ready_replicas == 4,
                 what="4 ready")
        assert {p.spec.node_name for p in pods_of(core, namespace, "spread")} == {"lab-node-1", "lab-node-2"}
        core.create_namespaced_pod(namespace, {"metadata": {"name": "pinned"}, "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "lab-node-3"},
            "containers": [{"name": "c", "image": "busybox"}]}})
        event = wait(lambda: [e for e in events_for(core, namespace, "pinned") if e.reason == "FailedScheduling"],
                         what="FailedScheduling")[0]
        assert event.type == "Warning"
        assert event.message.startswith("0/3 nodes are available: ")
        assert "1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }" in event.message
        assert "2 node(s) didn't match Pod's node affinity/selector" in event.message
        pod = core.read_namespaced_pod("pinned", namespace)
        assert pod.status.phase == "Pending" and not pod.spec.node_name
        core.patch_namespaced_pod("pinned", namespace, {"spec": {"tolerations": [
            {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}]}})
        wait(lambda: core.read_namespaced_pod("pinned", namespace).spec.node_name == "lab-node-3",
                 timeout=10, what="scheduled once tolerated")
    finally:
        core.patch_node("lab-node-3", {"spec": {"taints": None}})


def test_preferred_anti_affinity_spreads_replicas(core, apps, namespace, wait):
    for node in ("lab-node-2", "lab-node-3"):
        for i in range(2):
            core.create_namespaced_pod(namespace, {"metadata": {"name": f"filler-{node}-{i}", "labels": {"app": "f"}},
                                                   "spec": {"nodeName": node,
                                                            "containers": [{"name": "c", "image": "busybox"}]}})
    anti = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": {"app": "anti"}}}}]}}
    apps.create_namespaced_deployment(namespace, deployment("anti", 3, affinity=anti))
    wait(lambda: apps.read_namespaced_deployment("anti", namespace).status.ready_replicas == 3, what="ready")
    assert len({p.spec.node_name for p in pods_of(core, namespace, "anti")}) == 3


def pv(name: str, size: str, labels: dict | None = None, sc: str = "", modes=("ReadWriteMany",)) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {
        "capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": sc,
        "hostPath": {"path": f"/tmp/{name}"}}}


def test_pvc_binds_by_selector_class_modes_and_capacity(core, namespace, wait):
    names = [f"{namespace}-{n}" for n in ("small", "wrong-label", "right")]
    core.create_persistent_volume(pv(names[0], "1Gi", {"app": "registry"}))
    core.create_persistent_volume(pv(names[1], "10Gi", {"app": "other"}))
    core.create_persistent_volume(pv(names[2], "10Gi", {"app": "registry"}))
    try:
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteMany"], "storageClassName": "",
            "resources": {"requests": {"storage": "5Gi"}},
            "selector": {"matchLabels": {"app": "registry"}}}})
        claim = wait(lambda: (c := core.read_namespaced_persistent_volume_claim("data", namespace))
                         .status.phase == "Bound" and c, what="claim bound")
        assert claim.spec.volume_name == names[2] and claim.status.capacity == {"storage": "10Gi"}
        volume = core.read_persistent_volume(names[2])
        assert volume.status.phase == "Bound" and volume.spec.claim_ref.name == "data"
        assert core.read_persistent_volume(names[0]).status.phase == "Available"
        with pytest.raises(client.ApiException) as exc:
            core.patch_persistent_volume(names[2], {"spec": {"hostPath": {"path": "/elsewhere"}}})
        assert exc.value.status == 422
    finally:
        for name in names:
            core.delete_persistent_volume(name)


def test_claim_matching_nothing_stays_pending_with_an_event(core, namespace, wait):
    core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "lonely"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": {"requests": {"storage": "1Pi"}}}})
    event = wait(lambda: events_for(core, namespace, "lonely"), what="binding event")[0]
    assert event.reason == "FailedBinding"
    assert core.read_namespaced_persistent_volume_claim("lonely", namespace).status.phase == "Pending"


def test_nodeport_allocation_and_conflict(core, namespace, wait):
    svc = lambda name, port=None: {"metadata": {"name": name}, "spec": {  # noqa: E731
        "type": "NodePort", "selector": {"app": name},
        "ports": [{"port": 80, **({"nodePort": port} if port else {})}]}}
    first = core.create_namespaced_service(namespace, svc("one", 31234))
    assert first.spec.ports[0].node_port == 31234 and first.spec.cluster_ip.startswith("10.")
    auto = core.create_namespaced_service(namespace, svc("auto"))
    assert 30000 <= auto.spec.ports[0].node_port <= 32767
    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_service(namespace, svc("two", 31234))
    status = json.loads(exc.value.body)
    assert exc.value.status == 422
    assert status["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    assert "provided port is already allocated" in status["message"]
    with pytest.raises(client.ApiException) as exc:
        core.patch_namespaced_service("one", namespace, {"spec": {"clusterIP": "10.96.99.99"}})
    assert exc.value.status == 422
    core.delete_namespaced_service("one", namespace)
    assert core.create_namespaced_service(namespace, svc("two", 31234)).spec.ports[0].node_port == 31234


def test_endpoints_follow_ready_pods(core, apps, namespace, wait):
    core.create_namespaced_service(namespace, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    apps.create_namespaced_deployment(namespace, deployment("web", 2))
    ep = wait(lambda: (e := core.read_namespaced_endpoints("web", namespace)).subsets
                  and len(e.subsets[0].addresses or []) == 2 and e, what="2 endpoints")
    assert ep.subsets[0].ports[0].port == 8080
    ips = {p.status.pod_ip for p in pods_of(core, namespace, "web")}
    assert {a.ip for a in ep.subsets[0].addresses} == ips
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    wait(lambda: len(core.read_namespaced_endpoints("web", namespace).subsets[0].addresses) == 1,
             what="1 endpoint")


def test_missing_configmap_is_failed_mount_until_created(core, namespace, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "needs-cm"}, "spec": {
        "volumes": [{"name": "conf", "configMap": {"name": "registry-config"}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "conf", "mountPath": "/etc/x"}]}]}})
    event = wait(lambda: [e for e in events_for(core, namespace, "needs-cm") if e.reason == "FailedMount"],
                     what="FailedMount")[0]
    assert event.message == 'MountVolume.SetUp failed for volume "conf" : configmap "registry-config" not found'
    pod = core.read_namespaced_pod("needs-cm", namespace)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "registry-config"}})
    wait(lambda: core.read_namespaced_pod("needs-cm", namespace).status.phase == "Running",
             timeout=8, what="running after the configmap appears")


@pytest.mark.parametrize("volume,message", [
    ({"name": "s", "secret": {"secretName": "nope"}}, 'secret "nope" not found'),
    ({"name": "p", "persistentVolumeClaim": {"claimName": "nope"}}, 'persistentvolumeclaim "nope" not found'),
    ({"name": "x", "csi": {"driver": "other.csi.example.com"}}, "driver name other.csi.example.com not found"),
], ids=["secret", "pvc", "csi-driver"])
def test_other_failed_mounts(core, namespace, volume, message, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
        "volumes": [volume], "containers": [{"name": "c", "image": "busybox"}]}})
    event = wait(lambda: [e for e in events_for(core, namespace, "p") if e.reason == "FailedMount"],
                     what="FailedMount")[0]
    assert message in event.message


def test_unknown_image_goes_err_image_pull_then_back_off(core, namespace, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "img"}, "spec": {
        "containers": [{"name": "c", "image": "vmware/registry:9.9.9"}]}})
    waiting = lambda: (core.read_namespaced_pod("img", namespace).status.container_statuses or [None])[0]  # noqa: E731
    wait(lambda: waiting() and waiting().state.waiting.reason == "ErrImagePull", what="ErrImagePull")
    wait(lambda: waiting().state.waiting.reason == "ImagePullBackOff", what="ImagePullBackOff")
    reasons = {(e.reason, e.message.split(":")[0]) for e in events_for(core, namespace, "img")}
    assert ("Failed", 'Failed to pull image "vmware/registry') in reasons
    assert ("BackOff", 'Back-off pulling image "vmware/registry') in reasons
    assert core.read_namespaced_pod("img", namespace).status.phase == "Pending"


CEPHFS = {"name": "data", "cephfs": {"monitors": ["127.0.0.1:16789"], "path": "/", "user": "admin"}}
CSI = {"name": "data", "csi": {"driver": "cephfs.csi.ceph.com"}}


@pytest.mark.parametrize("version,volume,mounts", [
    ("v1.30.0", CEPHFS, True), ("v1.31.0", CEPHFS, False), ("v1.31.0", CSI, True)],
    ids=["cephfs-1.30", "cephfs-1.31-removed", "csi-1.31"])
def test_cephfs_in_tree_refused_from_1_31_csi_accepted(server_factory, version, volume, mounts, wait):
    server = server_factory("--profile", "modern", "--kube-version", version, "--pod-ready-delay", "0.1")
    api = server.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "ceph"}, "spec": {
        "volumes": [volume], "containers": [{"name": "c", "image": "busybox"}]}})
    if mounts:
        wait(lambda: core.read_namespaced_pod("ceph", "default").status.phase == "Running", what="running")
    else:
        event = wait(lambda: [e for e in events_for(core, "default", "ceph") if e.reason == "FailedMount"],
                         what="FailedMount")[0]
        assert "no volume plugin matched" in event.message
    api.close()


def test_events_are_aggregated_with_counts(core, namespace, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "agg"}, "spec": {
        "volumes": [{"name": "conf", "configMap": {"name": "missing"}}],
        "containers": [{"name": "c", "image": "busybox"}]}})
    event = wait(lambda: [e for e in events_for(core, namespace, "agg")
                              if e.reason == "FailedMount" and e.count >= 2], timeout=8, what="count 2")[0]
    assert event.first_timestamp <= event.last_timestamp
    assert event.involved_object.kind == "Pod" and event.source.component == "kubelet"
    assert len([e for e in events_for(core, namespace, "agg") if e.reason == "FailedMount"]) == 1
