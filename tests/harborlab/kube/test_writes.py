"""Patch, server-side apply and dryRun through the official client."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
          "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [
                                    {"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}]},
                                    {"name": "b", "image": "busybox"}]}}}}


def test_strategic_merge_patch_keys_containers_by_name(apps, namespace):
    apps.create_namespaced_deployment(namespace, DEPLOY)
    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "env": [{"name": "Y", "value": "2"}]}]}}}})
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["a", "b"]
    assert containers[1].env[0].name == "Y" and containers[0].env[0].name == "X"
    assert patched.metadata.generation == 2


def test_json_patch(apps, namespace):
    apps.create_namespaced_deployment(namespace, DEPLOY)
    patched = apps.patch_namespaced_deployment("web", namespace, [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "busybox:1.36"}])
    assert patched.spec.template.spec.containers[0].image == "busybox:1.36"


def test_server_side_apply_creates_then_reports_no_change(api, namespace):
    # A ConfigMap: no controller writes to it, so its resourceVersion moves only with our writes.
    dyn = DynamicClient(api).resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "1"}}
    first = dyn.server_side_apply(body=body, namespace=namespace, field_manager="harborbook")
    second = dyn.server_side_apply(body=body, namespace=namespace, field_manager="harborbook")
    assert first.metadata.resourceVersion == second.metadata.resourceVersion
    third = dyn.server_side_apply(body={**body, "data": {"a": "2"}}, namespace=namespace, field_manager="harborbook")
    assert int(third.metadata.resourceVersion) > int(second.metadata.resourceVersion)


def test_server_side_apply_of_a_deployment_twice_keeps_its_generation(api, namespace):
    # The deployment controller writes status in between, so compare the spec's generation.
    dyn = DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment")
    first = dyn.server_side_apply(body=DEPLOY, namespace=namespace, field_manager="harborbook")
    second = dyn.server_side_apply(body=DEPLOY, namespace=namespace, field_manager="harborbook")
    assert first.metadata.generation == second.metadata.generation == 1
    changed = json.loads(json.dumps(DEPLOY))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.36"
    third = dyn.server_side_apply(body=changed, namespace=namespace, field_manager="harborbook")
    assert third.metadata.generation == 2
    assert third.spec.template.spec.containers[0].image == "busybox:1.36"


def test_server_side_apply_conflict_and_force(api, namespace):
    dyn = DynamicClient(api).resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}
    dyn.server_side_apply(body=body, namespace=namespace, field_manager="one")
    other = {**body, "data": {"k": "2"}}
    with pytest.raises(client.ApiException) as exc:
        dyn.server_side_apply(body=other, namespace=namespace, field_manager="two")
    assert exc.value.status == 409
    forced = dyn.server_side_apply(body=other, namespace=namespace, field_manager="two", force_conflicts=True)
    assert forced.data["k"] == "2"


def test_apply_without_field_manager_is_400(api, namespace):
    dyn = DynamicClient(api)
    with pytest.raises(client.ApiException) as exc:
        dyn.request("patch", f"/api/v1/namespaces/{namespace}/configmaps/c",
                    body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                    content_type="application/apply-patch+yaml")
    assert exc.value.status == 400


def test_dry_run_changes_nothing(core, namespace):
    before = core.list_namespaced_config_map(namespace).metadata.resource_version
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "d"}, "data": {"a": "1"}},
                                             dry_run="All")
    assert made.metadata.name == "d"
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_config_map("d", namespace)
    assert exc.value.status == 404
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "d"}, "data": {"a": "1"}})
    rv = core.read_namespaced_config_map("d", namespace).metadata.resource_version
    out = core.patch_namespaced_config_map("d", namespace, {"data": {"a": "2"}}, dry_run="All")
    assert out.data["a"] == "2"
    core.delete_namespaced_config_map("d", namespace, dry_run="All")
    kept = core.read_namespaced_config_map("d", namespace)
    assert kept.data["a"] == "1" and kept.metadata.resource_version == rv
    assert int(before) < int(rv)


def test_dry_run_still_validates(api, namespace):
    dyn = DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment")
    bad = json.loads(json.dumps(DEPLOY))
    bad["spec"]["replicas"] = "x"
    with pytest.raises(client.ApiException) as exc:
        dyn.create(body=bad, namespace=namespace, dry_run="All")
    assert exc.value.status == 422


def test_scale_subresource(apps, namespace):
    apps.create_namespaced_deployment(namespace, DEPLOY)
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 0 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 0


def test_a_scale_patch_does_not_conflict_with_a_write_made_while_its_body_arrives(api, apps, namespace):
    # A patch names no resourceVersion, so the apiserver retries a conflict instead of answering
    # 409; the emulator read the object before awaiting the body (a controller's status write
    # in between made the scale patch fail in CI).
    apps.create_namespaced_deployment(namespace, DEPLOY)
    conf = api.configuration
    url = urllib.parse.urlsplit(conf.host)
    ctx = ssl.create_default_context(cafile=conf.ssl_ca_cert)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=10)
    body = json.dumps({"spec": {"replicas": 0}}).encode()
    conn.putrequest("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale")
    conn.putheader("Authorization", conf.get_api_key_with_prefix("authorization") or conf.get_api_key_with_prefix("BearerToken"))
    conn.putheader("Content-Type", "application/merge-patch+json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:5])
    time.sleep(0.3)  # the server has the headers and waits for the rest of the body
    apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"moved": "meanwhile"}}})
    conn.send(body[5:])
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    conn.close()
