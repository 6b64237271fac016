"""The kinds every cluster serves, stored and served (no controllers act on them yet), and the
OpenAPI documents kubectl downloads."""

from __future__ import annotations

import json

import pytest
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)

TEMPLATE = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                          "restartPolicy": "Never"}}
NAMESPACED = {
    ("apps/v1", "StatefulSet"): {"spec": {"serviceName": "s", "selector": {"matchLabels": {"a": "b"}},
                                          "template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Always"}}}},
    ("batch/v1", "Job"): {"spec": {"template": TEMPLATE}},
    ("batch/v1", "CronJob"): {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}}},
    ("networking.k8s.io/v1", "Ingress"): {"spec": {"rules": [{"host": "harbor.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "nginx", "port": {"number": 80}}}}]}}]}},
    ("networking.k8s.io/v1", "NetworkPolicy"): {"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
    ("policy/v1", "PodDisruptionBudget"): {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}},
}
CLUSTER = {
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): {"spec": {
        "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K", "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"]}},
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): {"spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object"}}}]}},
    ("apiregistration.k8s.io/v1", "APIService"): {"spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                                                          "groupPriorityMinimum": 100, "versionPriority": 100,
                                                          "service": {"name": "metrics-server",
                                                                      "namespace": "kube-system"}}},
    ("networking.k8s.io/v1", "IngressClass"): {"spec": {"controller": "k8s.io/ingress-nginx"}},
}


@pytest.mark.parametrize("api_version,kind", list(NAMESPACED), ids=[k for _, k in NAMESPACED])
def test_namespaced_kinds_are_stored_and_served(api, namespace, api_version, kind):
    resource = DynamicClient(api).resources.get(api_version=api_version, kind=kind)
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, **NAMESPACED[(api_version, kind)]}
    created = resource.create(body=body, namespace=namespace)
    assert created.metadata.uid
    assert [i.metadata.name for i in resource.get(namespace=namespace).items] == ["x"]
    resource.delete(name="x", namespace=namespace)
    assert resource.get(namespace=namespace).items == []


@pytest.mark.parametrize("api_version,kind", list(CLUSTER), ids=[k for _, k in CLUSTER])
def test_cluster_kinds_are_stored_and_served(api, api_version, kind):
    resource = DynamicClient(api).resources.get(api_version=api_version, kind=kind)
    name = "widgets.example.com" if kind == "CustomResourceDefinition" else \
        "v1beta1.metrics.k8s.io" if kind == "APIService" else "x"
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **CLUSTER[(api_version, kind)]}
    assert resource.create(body=body).metadata.name == name
    assert resource.get(name=name).kind == kind
    resource.delete(name=name)


def test_system_priority_classes_exist(api):
    classes = DynamicClient(api).resources.get(api_version="scheduling.k8s.io/v1", kind="PriorityClass")
    assert {c.metadata.name: c.value for c in classes.get().items} == {
        "system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


def test_openapi_v2_and_v3_describe_the_served_operations(kube_server, raw):
    code, v2 = raw(kube_server, "GET", "/openapi/v2")
    assert code == 200 and v2["swagger"] == "2.0"
    patch = v2["paths"]["/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    tolerations = v2["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["tolerations"]
    assert tolerations["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Toleration"}
    code, root = raw(kube_server, "GET", "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    code, apps = raw(kube_server, "GET", url)
    assert code == 200 and apps["openapi"].startswith("3.")
    assert "io.k8s.api.apps.v1.Deployment" in apps["components"]["schemas"]
    code, _ = raw(kube_server, "GET", "/openapi/v3/apis/example.com/v1")
    assert code == 404
