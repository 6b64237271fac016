"""Stories the runbooks live through, end to end against the emulator."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def registry_deployment(image: str = "vmware/registry:2.6.2-photon", mount: str = "/etc/registry") -> dict:
    return {"metadata": {"name": "registry"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "registry"}},
        "template": {"metadata": {"labels": {"app": "registry"}}, "spec": {
            "containers": [{"name": "registry", "image": image, "ports": [{"containerPort": 5000}],
                            "volumeMounts": [{"name": "config", "mountPath": mount},
                                             {"name": "storage", "mountPath": "/storage"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "registry-config"}},
                        {"name": "storage", "persistentVolumeClaim": {"claimName": "registry-pvc"}}]}}}}


@pytest.mark.parametrize("source", [
    {"csi": {"driver": "cephfs.csi.ceph.com", "volumeHandle": "registry"}},
    {"cephfs": {"monitors": ["127.0.0.1:16789"], "path": "/registry", "user": "admin"}},
], ids=["csi", "in-tree-cephfs-on-1.25"])
def test_registry_on_a_cephfs_volume_rolls_out(core, apps, namespace, wait, source):
    pv_name = f"{namespace}-registry"
    core.create_persistent_volume({"metadata": {"name": pv_name, "labels": {"app": "registry", "ns": namespace}},
                                   "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"],
                                            "storageClassName": "", **source}})
    try:
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "registry-pvc"}, "spec": {
            "accessModes": ["ReadWriteMany"], "storageClassName": "", "resources": {"requests": {"storage": "10Gi"}},
            "selector": {"matchLabels": {"app": "registry", "ns": namespace}}}})
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "registry-config"},
                                                      "data": {"config.yml": "version: 0.1\n"}})
        apps.create_namespaced_deployment(namespace, registry_deployment())
        wait(lambda: apps.read_namespaced_deployment("registry", namespace).status.ready_replicas == 3,
             what="3 registry pods ready")
        assert core.read_namespaced_persistent_volume_claim("registry-pvc", namespace).spec.volume_name == pv_name
    finally:
        core.delete_persistent_volume(pv_name)


def test_a_bad_image_stalls_the_rollout_without_losing_availability(core, apps, namespace, wait):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "registry-config"}})
    deploy = registry_deployment()     # without the storage volume: this story is about images
    deploy["spec"]["template"]["spec"]["volumes"] = deploy["spec"]["template"]["spec"]["volumes"][:1]
    deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = \
        deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][:1]
    apps.create_namespaced_deployment(namespace, deploy)
    wait(lambda: apps.read_namespaced_deployment("registry", namespace).status.ready_replicas == 3, what="ready")
    apps.patch_namespaced_deployment("registry", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "registry", "image": "vmware/registry:2.6.1-photon"}]}}}})
    wait(lambda: any(((p.status.container_statuses or [None])[0] and p.status.container_statuses[0].state.waiting
                      and p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff")
                     for p in core.list_namespaced_pod(namespace).items), timeout=6, what="ImagePullBackOff")
    status = apps.read_namespaced_deployment("registry", namespace).status
    assert status.ready_replicas == 3 and status.updated_replicas == 1 and status.replicas == 4
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions["Available"] == ("True", "MinimumReplicasAvailable")
    assert conditions["Progressing"] == ("True", "ReplicaSetUpdated")


def test_a_deployment_with_no_ready_pods_is_not_available(apps, namespace, wait):
    apps.create_namespaced_deployment(namespace, registry_deployment(image="vmware/registry:0.0.0"))
    status = wait(lambda: (s := apps.read_namespaced_deployment("registry", namespace).status).replicas == 3 and s,
                  what="3 pods created")
    assert not status.ready_replicas and status.unavailable_replicas == 3
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions["Available"] == ("False", "MinimumReplicasUnavailable")


def test_odd_but_valid_objects_do_not_break_the_controllers(server_factory, wait):
    from kubernetes import client
    server = server_factory("--pod-ready-delay", "0")
    api = server.api()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_pod("default", {"metadata": {"name": "gt"}, "spec": {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "Gt", "values": ["x"]}]}]}}},
        "containers": [{"name": "c", "image": "busybox"}]}})
    core.create_namespaced_service("default", {"metadata": {"name": "named"}, "spec": {
        "selector": {"app": "n"}, "ports": [{"port": 80, "targetPort": "no-such-port"}]}})
    core.create_namespaced_pod("default", {"metadata": {"name": "n", "labels": {"app": "n"}}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    core.create_namespaced_persistent_volume_claim("default", {"metadata": {"name": "expr"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1"}},
        "selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}})
    apps.create_namespaced_deployment("default", {"metadata": {"name": "zero"}, "spec": {
        "replicas": 0, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": "z"}},
        "template": {"metadata": {"labels": {"app": "z"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    apps.patch_namespaced_deployment("zero", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    wait(lambda: core.read_namespaced_pod("n", "default").status.phase == "Running", what="plain pod running")
    assert core.read_namespaced_pod("gt", "default").status.phase == "Pending"
    assert core.read_namespaced_endpoints("named", "default").subsets is None
    wait(lambda: apps.read_namespaced_deployment("zero", "default").status.observed_generation == 2, what="observed")
    api.close()
    assert "Traceback" not in server.log()
