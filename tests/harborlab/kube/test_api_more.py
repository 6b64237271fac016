"""More of the API through the official client: typed storage and authorization APIs, generateName,
strict field validation, selector-aware watches, foreground deletion, namespace cascade, 401."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def test_storage_api_sees_the_ceph_csi_driver_and_stores_classes(api):
    storage = client.StorageV1Api(api)
    assert "cephfs.csi.ceph.com" in [d.metadata.name for d in storage.list_csi_driver().items]
    name = "bench-class-test"
    storage.create_storage_class({"metadata": {"name": name}, "provisioner": "kubernetes.io/no-provisioner",
                                  "volumeBindingMode": "Immediate"})
    assert storage.read_storage_class(name).provisioner == "kubernetes.io/no-provisioner"
    storage.delete_storage_class(name)


def test_self_subject_access_review_has_the_real_shape(api):
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"verb": "create", "resource": "deployments", "group": "apps"}}})
    assert review.status.allowed is True and review.spec.resource_attributes.verb == "create"


def test_wrong_token_through_the_client_is_401(kube_server):
    cfg = json.loads(kube_server.kubeconfig.read_text())
    cfg["users"][0]["user"]["token"] = "not-the-token"
    api = config.new_client_from_config_dict(cfg)
    with pytest.raises(client.ApiException) as exc:
        client.CoreV1Api(api).list_namespace()
    assert exc.value.status == 401
    api.close()


def test_generate_name(core, namespace):
    made = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cm-"}})
    assert made.metadata.name.startswith("cm-") and len(made.metadata.name) == 8


def test_strict_field_validation_rejects_unknown_fields(kube_server, namespace, raw):
    # Raw HTTP: neither the typed nor the dynamic client passes fieldValidation through.
    body = json.dumps({"metadata": {"name": "s"}, "dta": {"a": "b"}}).encode()
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    code, status = raw(kube_server, "POST", path + "?fieldValidation=Strict", body)
    assert code == 400 and 'unknown field "dta"' in status["message"]
    code, _ = raw(kube_server, "POST", path, body)     # the default ignores unknown fields
    assert code == 201


def test_watch_with_a_selector_sees_objects_leave_it(core, namespace):
    events = []
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version

    def consume():
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, namespace, label_selector="tier=web",
                           resource_version=rv, timeout_seconds=3):
            events.append((ev["type"], ev["object"].metadata.name))
            if len(events) == 2:
                w.stop()
    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w", "labels": {"tier": "web"}}})
    core.patch_namespaced_config_map("w", namespace, {"metadata": {"labels": {"tier": "db"}}})
    thread.join(10)
    assert events == [("ADDED", "w"), ("DELETED", "w")]


def test_foreground_deletion_removes_dependents_first(core, apps, namespace, wait):
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "fg"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "fg"}},
        "template": {"metadata": {"labels": {"app": "fg"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    wait(lambda: len(core.list_namespaced_pod(namespace).items) == 2, what="2 pods")
    apps.delete_namespaced_deployment("fg", namespace, propagation_policy="Foreground")
    assert apps.list_namespaced_replica_set(namespace).items == []
    # Pods go through graceful deletion: marked at once, removed once their containers stopped.
    assert all(p.metadata.deletion_timestamp for p in core.list_namespaced_pod(namespace).items)
    wait(lambda: core.list_namespaced_pod(namespace).items == [], what="pods gone")


def test_deleting_a_namespace_deletes_its_objects(core, wait):
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    answer = core.delete_namespace("doomed")
    assert answer["status"]["phase"] == "Terminating"
    assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items == []
    with pytest.raises(client.ApiException) as exc:
        core.delete_namespace("default")
    assert exc.value.status == 403


def test_pod_field_selectors(core, namespace, wait):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "fs"}, "spec": {
        "nodeName": "lab-node-2", "containers": [{"name": "c", "image": "busybox"}]}})
    wait(lambda: core.read_namespaced_pod("fs", namespace).status.phase == "Running", what="running")
    on_node = core.list_namespaced_pod(namespace, field_selector="spec.nodeName=lab-node-2,status.phase=Running")
    assert [p.metadata.name for p in on_node.items] == ["fs"]
    assert core.list_namespaced_pod(namespace, field_selector="spec.nodeName=lab-node-1").items == []


def test_binding_subresource_assigns_a_node_once(core, namespace, api):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "b"}, "spec": {
        "schedulerName": "my-scheduler", "containers": [{"name": "c", "image": "busybox"}]}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
               "target": {"kind": "Node", "name": "lab-node-3"}}
    DynamicClient(api).request("post", f"/api/v1/namespaces/{namespace}/pods/b/binding", body=binding)
    assert core.read_namespaced_pod("b", namespace).spec.node_name == "lab-node-3"
    with pytest.raises(client.ApiException) as exc:
        DynamicClient(api).request("post", f"/api/v1/namespaces/{namespace}/pods/b/binding", body=binding)
    assert exc.value.status == 409


def test_apply_accepts_a_yaml_body_like_kubectl_sends(kube_server, namespace, raw):
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  config.yml: |\n    version: 0.1\n"
    path = f"/api/v1/namespaces/{namespace}/configmaps/y?fieldManager=kubectl"
    code, created = raw(kube_server, "PATCH", path, body, content_type="application/apply-patch+yaml")
    assert code == 201 and created["data"]["config.yml"] == "version: 0.1\n"
    code, again = raw(kube_server, "PATCH", path, body, content_type="application/apply-patch+yaml")
    assert code == 200 and again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    code, status = raw(kube_server, "PATCH", path, b"data: [unclosed", content_type="application/apply-patch+yaml")
    assert code == 400 and status["reason"] == "BadRequest"


def test_secret_string_data_is_folded_into_base64_data(core, namespace, raw, kube_server):
    made = core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"password": "pw"},
                                                     "data": {"user": "YWRtaW4="}})
    assert made.data == {"user": "YWRtaW4=", "password": "cHc="} and made.string_data is None
    body = json.dumps({"metadata": {"name": "bad"}, "data": {"x": "not base64!"}}).encode()
    code, status = raw(kube_server, "POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    assert code == 400 and "illegal base64" in status["message"]
