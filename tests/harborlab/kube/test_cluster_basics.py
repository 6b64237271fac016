"""What every cluster has: per-namespace default ServiceAccount and root CA ConfigMap (made by
controllers), the kubernetes Service, kube-system's control plane, DNS and proxy of the profile's
era Running, and the apiserver's pod defaulting."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes import client

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)


def test_a_new_namespace_gets_its_default_service_account_and_root_ca(core, namespace, kube_server, wait):
    assert [sa.metadata.name for sa in core.list_namespaced_service_account(namespace).items] == ["default"]
    ca = core.read_namespaced_config_map("kube-root-ca.crt", namespace).data["ca.crt"]
    cfg = json.loads(kube_server.kubeconfig.read_text())
    assert ca.encode() == base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"])
    core.delete_namespaced_service_account("default", namespace)
    wait(lambda: core.read_namespaced_service_account("default", namespace), what="default SA recreated")


def test_the_kubernetes_service_points_at_the_api_server(core, kube_server):
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.96.0.1" and svc.spec.ports[0].port == 443 and svc.spec.ports[0].name == "https"
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    server = json.loads(kube_server.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert f"https://{ep.subsets[0].addresses[0].ip}:{ep.subsets[0].ports[0].port}" == server


@pytest.mark.parametrize("profile,dns,proxy", [
    ("article", "registry.k8s.io/coredns/coredns:v1.9.3", "gcr.io/google_containers/kube-proxy-amd64:v1.7.5"),
    ("modern", "registry.k8s.io/coredns/coredns:v1.11.1", "registry.k8s.io/kube-proxy:v1.30.14"),
])
def test_kube_system_runs_the_profiles_control_plane_dns_and_proxy(server_factory, wait, profile, dns, proxy):
    server = server_factory("--profile", profile, "--pod-ready-delay", "0")
    api = server.api()
    core = client.CoreV1Api(api)

    def running():
        pods = core.list_namespaced_pod("kube-system").items
        return len(pods) == 9 and all(p.status.phase == "Running" for p in pods) and pods
    pods = wait(running, what="9 kube-system pods Running")
    by_name = {p.metadata.name: p for p in pods}
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        mirror = by_name[f"{component}-lab-node-1"]
        assert mirror.metadata.annotations["kubernetes.io/config.mirror"]
        assert mirror.metadata.owner_references[0].kind == "Node"
        assert mirror.status.pod_ip == mirror.status.host_ip
    version = client.VersionApi(api).get_code().git_version
    assert by_name["kube-apiserver-lab-node-1"].spec.containers[0].image == f"registry.k8s.io/kube-apiserver:{version}"
    assert sorted(p.spec.containers[0].image for p in pods if p.metadata.name.startswith("coredns-")) == [dns, dns]
    proxies = [p for p in pods if p.metadata.name.startswith("kube-proxy-")]
    assert sorted(p.spec.node_name for p in proxies) == ["lab-node-1", "lab-node-2", "lab-node-3"]
    assert {p.spec.containers[0].image for p in proxies} == {proxy}
    assert all(p.metadata.owner_references[0].kind == "DaemonSet" for p in proxies)
    assert core.read_namespaced_service("kube-dns", "kube-system").spec.cluster_ip == "10.96.0.10"
    assert client.AppsV1Api(api).read_namespaced_daemon_set("kube-proxy", "kube-system").status.number_ready == 3
    api.close()


def test_pods_get_the_apiservers_defaults(core, namespace):
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    spec = pod.spec
    assert spec.service_account_name == "default" and spec.enable_service_links is True and spec.priority == 0
    tolerations = {(t.key, t.effect, t.operator, t.toleration_seconds) for t in spec.tolerations}
    assert tolerations == {("node.kubernetes.io/not-ready", "NoExecute", "Exists", 300),
                           ("node.kubernetes.io/unreachable", "NoExecute", "Exists", 300)}
    volume = next(v for v in spec.volumes if v.name.startswith("kube-api-access-"))
    sources = volume.projected.sources
    assert sources[0].service_account_token.path == "token" and sources[0].service_account_token.expiration_seconds == 3607
    assert sources[1].config_map.name == "kube-root-ca.crt"
    assert sources[2].downward_api.items[0].field_ref.field_path == "metadata.namespace"
    mount = spec.containers[0].volume_mounts[0]
    assert (mount.name, mount.mount_path, mount.read_only) == (volume.name, "/var/run/secrets/kubernetes.io/serviceaccount", True)


def test_defaults_respect_what_the_pod_says(core, namespace):
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "q"}, "spec": {
        "automountServiceAccountToken": False, "priorityClassName": "system-cluster-critical",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 5}],
        "containers": [{"name": "c", "image": "busybox"}]}})
    assert not pod.spec.volumes and pod.spec.priority == 2000000000
    assert sorted((t.key, t.toleration_seconds) for t in pod.spec.tolerations) == [
        ("node.kubernetes.io/not-ready", 5), ("node.kubernetes.io/unreachable", 300)]


@pytest.mark.parametrize("spec,message", [
    ({"serviceAccountName": "ghost"}, 'error looking up service account {ns}/ghost: serviceaccount "ghost" not found'),
    ({"priorityClassName": "gold"}, "no PriorityClass with name gold was found"),
])
def test_pods_naming_what_does_not_exist_are_forbidden(core, namespace, spec, message):
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "r"}, "spec": {
            **spec, "containers": [{"name": "c", "image": "busybox"}]}})
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["message"] == f'pods "r" is forbidden: {message.format(ns=namespace)}'


def test_token_request_issues_a_service_account_token(core, namespace):
    answer = core.create_namespaced_service_account_token("default", namespace, {"spec": {"expirationSeconds": 600}})
    claims = json.loads(base64.urlsafe_b64decode(answer.status.token.split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    assert claims["exp"] - claims["iat"] == 600
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_service_account_token("default", namespace, {"spec": {"expirationSeconds": 60}})
    assert err.value.status == 422
