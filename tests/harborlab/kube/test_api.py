"""The official client against the emulator: auth, version, discovery, CRUD, list, watch, errors."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
def test_requests_without_the_token_get_401_status(kube_server, token, raw):
    code, body = raw(kube_server, "GET", "/api/v1/namespaces", token=token)
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


def test_the_token_is_accepted(kube_server, raw):
    code, body = raw(kube_server, "GET", "/api/v1/namespaces")
    assert code == 200 and body["kind"] == "NamespaceList"


def test_kubeconfig_and_token_are_private(kube_server):
    assert kube_server.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert (kube_server.state / "secrets" / "kube-token").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("profile,version,kubelet", [("article", "v1.25.", "v1.7.5"),
                                                     ("modern", "v1.30.", "v1.30.")], ids=["article", "modern"])
def test_version_and_kubelet_version_follow_the_profile(server_factory, profile, version, kubelet):
    server = server_factory("--profile", profile)
    api = server.api()
    assert client.VersionApi(api).get_code().git_version.startswith(version)
    nodes = client.CoreV1Api(api).list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["lab-node-1", "lab-node-2", "lab-node-3"]
    assert all(n.status.node_info.kubelet_version.startswith(kubelet) for n in nodes)
    api.close()


def test_dynamic_client_discovers_every_served_resource(api):
    dyn = DynamicClient(api)
    for api_version, kind in [("v1", "Pod"), ("v1", "Node"), ("apps/v1", "Deployment"),
                              ("apps/v1", "ReplicaSet"), ("storage.k8s.io/v1", "CSIDriver"),
                              ("storage.k8s.io/v1", "StorageClass"), ("v1", "PersistentVolumeClaim"),
                              ("authorization.k8s.io/v1", "SelfSubjectAccessReview")]:
        assert dyn.resources.get(api_version=api_version, kind=kind).kind == kind
    deploy = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert set(deploy.subresources) == {"status", "scale"}


def test_unknown_resource_is_404_like_the_real_server(kube_server, raw):
    code, body = raw(kube_server, "GET", "/api/v1/widgets")
    assert code == 404 and body["reason"] == "NotFound"
    code, _ = raw(kube_server, "GET", "/apis/example.com/v1")
    assert code == 404


CRUD_CASES = {
    "configmap": ("v1", "ConfigMap", {"data": {"a": "1"}}, {"data": {"a": "2"}}),
    "secret": ("v1", "Secret", {"stringData": {"k": "v"}, "data": {"x": "eA=="}}, {"data": {"x": "eQ=="}}),
    "service": ("v1", "Service", {"spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}},
                {"spec": {"selector": {"app": "y"}}}),
    "endpoints": ("v1", "Endpoints", {"subsets": []}, {"metadata": {"labels": {"a": "b"}}}),
    "pvc": ("v1", "PersistentVolumeClaim", {"spec": {"accessModes": ["ReadWriteMany"],
                                                     "resources": {"requests": {"storage": "1Gi"}},
                                                     "storageClassName": "none-such"}},
            {"metadata": {"labels": {"a": "b"}}}),
    "rc": ("v1", "ReplicationController", {"spec": {"replicas": 0, "selector": {"app": "rc"},
                                                    "template": {"metadata": {"labels": {"app": "rc"}},
                                                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
           {"spec": {"replicas": 0, "minReadySeconds": 1}}),
    "event": ("v1", "Event", {"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R", "message": "m"},
              {"message": "m2"}),
    "deployment": ("apps/v1", "Deployment", {"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                                                      "template": {"metadata": {"labels": {"app": "d"}},
                                                                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
                   {"spec": {"minReadySeconds": 2}}),
}


@pytest.mark.parametrize("case", list(CRUD_CASES), ids=list(CRUD_CASES))
def test_namespaced_crud_through_the_dynamic_client(api, namespace, case):
    api_version, kind, spec, change = CRUD_CASES[case]
    dyn = DynamicClient(api).resources.get(api_version=api_version, kind=kind)
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": f"{case}-1"}, **spec}
    created = dyn.create(body=body, namespace=namespace)
    assert created.metadata.uid and int(created.metadata.resourceVersion) > 0
    with pytest.raises(client.ApiException) as exc:
        dyn.create(body=body, namespace=namespace)
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "AlreadyExists"
    patched = dyn.patch(name=f"{case}-1", namespace=namespace, body=change,
                        content_type="application/merge-patch+json")
    assert int(patched.metadata.resourceVersion) > int(created.metadata.resourceVersion)
    listed = dyn.get(namespace=namespace)
    # kube-root-ca.crt: the ConfigMap the root CA publisher puts in every namespace.
    assert [i.metadata.name for i in listed.items if i.metadata.name != "kube-root-ca.crt"] == [f"{case}-1"]
    dyn.delete(name=f"{case}-1", namespace=namespace)
    with pytest.raises(client.ApiException) as exc:
        dyn.get(name=f"{case}-1", namespace=namespace)
    assert exc.value.status == 404


def test_update_with_a_stale_resource_version_is_409_conflict(core, namespace):
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("c", namespace, cm)
    cm.data = {"a": "3"}
    with pytest.raises(client.ApiException) as exc:
        core.replace_namespaced_config_map("c", namespace, cm)
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "Conflict"


def test_create_in_a_missing_namespace_is_404(core):
    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "c"}})
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["message"] == 'namespaces "no-such-ns" not found'


@pytest.mark.parametrize("body,field", [
    ({"spec": {"replicas": "three"}}, "spec.replicas"),
    ({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}, "spec.template.spec.containers[0].image"),
    ({"spec": {"selector": {"matchLabels": {"app": "other"}}}}, "spec.template.metadata.labels"),
], ids=["wrong-type", "missing-image", "selector-mismatch"])
def test_invalid_bodies_get_422_with_causes_naming_the_field(api, namespace, body, field):
    # The dynamic client: the typed one refuses some invalid bodies before sending them.
    deployments = DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment")
    base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    merged = json.loads(json.dumps(base))
    for key, value in body["spec"].items():
        merged["spec"][key] = value
    with pytest.raises(client.ApiException) as exc:
        deployments.create(body=merged, namespace=namespace)
    status = json.loads(exc.value.body)
    assert exc.value.status == 422 and status["reason"] == "Invalid"
    assert field in [c["field"] for c in status["details"]["causes"]]


def test_valid_body_is_accepted_by_the_same_validation(apps, namespace):
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "good"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})


def test_deployment_selector_is_immutable(apps, namespace):
    spec = {"replicas": 0, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a", "b": "c"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "d"}, "spec": spec})
    with pytest.raises(client.ApiException) as exc:
        apps.patch_namespaced_deployment("d", namespace, {"spec": {"selector": {"matchLabels": {"b": "c"}}}})
    status = json.loads(exc.value.body)
    assert exc.value.status == 422 and status["details"]["causes"][0]["field"] == "spec.selector"
    assert "field is immutable" in status["message"]


def test_label_and_field_selectors(core, namespace):
    for name, labels in [("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db"}), ("c", {})]:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    names = lambda **kw: [i.metadata.name for i in core.list_namespaced_config_map(namespace, **kw).items  # noqa: E731
                          if i.metadata.name != "kube-root-ca.crt"]   # in every namespace
    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="tier==db") == ["b"]
    assert names(label_selector="tier!=web") == ["b", "c"]
    assert names(label_selector="tier in (web,db)") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "c"]
    assert names(label_selector="env") == ["a"]
    assert names(label_selector="!env") == ["b", "c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    with pytest.raises(client.ApiException) as exc:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert exc.value.status == 400


def test_limit_and_continue_page_through_a_list(core, namespace):
    for i in range(7):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}"}})
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm-{i}" for i in range(7)] + ["kube-root-ca.crt"]


def test_watch_sends_added_modified_deleted(core, namespace):
    events: list[tuple[str, str]] = []
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    ready = threading.Event()

    def consume():
        w = watch.Watch()
        ready.set()
        for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=start,
                           timeout_seconds=3):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}})
    core.patch_namespaced_config_map("w", namespace, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w", namespace)
    thread.join(10)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_from_a_too_old_resource_version_is_410_gone(server_factory):
    server = server_factory("--watch-history", "20")
    api = server.api()
    core = client.CoreV1Api(api)
    old = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(30):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    with pytest.raises(client.ApiException) as exc:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=old,
                                      timeout_seconds=2):
            pass
    assert exc.value.status == 410
    fresh = core.list_namespaced_config_map("default").metadata.resource_version
    assert list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                     resource_version=fresh, timeout_seconds=1)) == []
    api.close()


def test_malformed_body_is_400_and_the_server_lives(kube_server, core, raw):
    code, body = raw(kube_server, "POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert code == 400 and body["reason"] == "BadRequest"
    code, body = raw(kube_server, "POST", "/api/v1/namespaces/default/configmaps", b"[1, 2]")
    assert code == 400
    assert core.list_namespace().items


def test_oversized_body_is_413(kube_server, raw):
    big = json.dumps({"metadata": {"name": "big"}, "data": {"x": "a" * (4 * 1024 * 1024)}}).encode()
    code, body = raw(kube_server, "POST", "/api/v1/namespaces/default/configmaps", big)
    assert code == 413 and body["code"] == 413


def test_unknown_selector_operator_is_422(api, namespace):
    deployments = DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment")
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op"}, "spec": {
        "selector": {"matchExpressions": [{"key": "app", "operator": "Like", "values": ["a"]}]},
        "template": {"metadata": {"labels": {"app": "a"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    with pytest.raises(client.ApiException) as exc:
        deployments.create(body=body, namespace=namespace)
    causes = json.loads(exc.value.body)["details"]["causes"]
    assert exc.value.status == 422 and causes[0]["field"] == "spec.selector.matchExpressions[0].operator"
