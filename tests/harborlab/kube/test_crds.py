"""CustomResourceDefinitions: a CRD makes its resource served (discovery, CRUD, watch, status,
schema validation, kubectl), and deleting it stops that."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                              "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                  "spec": {"type": "object", "required": ["size"],
                                           "properties": {"size": {"type": "integer"}}},
                                  "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def test_a_crd_serves_its_resource_until_deleted(server_factory, wait, raw):
    server = server_factory("--profile", "modern")
    api = server.api()
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(CRD)
    established = wait(lambda: any(c.type == "Established" and c.status == "True" for c in
                                   (ext.read_custom_resource_definition("widgets.example.com").status.conditions or [])),
                       what="CRD established")
    assert established
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    wait(lambda: raw(server, "GET", "/apis/example.com/v1")[0] == 200, what="discovery")
    created = custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    assert created["spec"] == {"size": 3} and created["metadata"]["uid"]
    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                               {**body, "metadata": {"name": "w2"}, "spec": {"size": "big"}})
    assert err.value.status == 422 and json.loads(err.value.body)["details"]["causes"][0]["field"] == "spec.size"
    stream = watch.Watch().stream(custom.list_namespaced_custom_object, "example.com", "v1", "default", "widgets",
                                  timeout_seconds=2)
    assert [e["object"]["metadata"]["name"] for e in stream] == ["w1"]
    resource = DynamicClient(api).resources.get(api_version="example.com/v1", kind="Widget")
    assert resource.namespaced and "status" in resource.subresources
    code, v3 = raw(server, "GET", "/openapi/v3")
    assert "apis/example.com/v1" in v3["paths"]
    ext.delete_custom_resource_definition("widgets.example.com")
    wait(lambda: raw(server, "GET", "/apis/example.com/v1/namespaces/default/widgets")[0] == 404,
         what="resource no longer served")
    api.close()
