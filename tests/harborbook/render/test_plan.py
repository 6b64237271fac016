"""The plan: create / update / unchanged, server-set fields ignored, masked diffs, files."""

from __future__ import annotations

import base64
import copy
import os

import pytest
from ruamel.yaml import YAML

from harborbook.render import find, object_key
from harborbook.render.plan import CREATE, UNCHANGED, UPDATE, plan, plan_object, write_manifests

from .conftest import secret_values


def as_served(manifest: dict) -> dict:
    """What the API returns for an applied manifest: server fields and defaults added."""
    live = copy.deepcopy(manifest)
    defaults = pytest.importorskip("harborlab.kube.defaults")
    defaults.apply_defaults(live)
    live["metadata"].update(uid="0b8c2f0e", resourceVersion="4711", generation=2,
                            creationTimestamp="2026-01-02T03:04:05Z",
                            managedFields=[{"manager": "harborbook", "operation": "Apply"}])
    live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    if live["kind"] in ("Deployment", "Service"):
        live["status"] = {"observedGeneration": 2}
    if live["kind"] == "Service":
        live["spec"]["clusterIP"] = "10.96.0.17"
        live["spec"]["clusterIPs"] = ["10.96.0.17"]
    return live


def _live(manifests):
    return {object_key(m): as_served(m) for m in manifests}


def test_everything_absent_is_create(manifests):
    assert {e.action for e in plan(manifests, {})} == {CREATE}


def test_applied_is_unchanged(manifests):
    entries = plan(manifests, _live(manifests))
    assert [(e.object, e.action) for e in entries if e.action != UNCHANGED] == []
    assert len(entries) == len(manifests)


def test_configmap_update_has_diff(manifests):
    live = _live(manifests)
    cm = find(manifests, "ConfigMap", "harbor-adminserver-config")
    live[object_key(cm)]["data"]["MYSQL_DATABASE"] = "registry"
    entry = plan_object(cm, live[object_key(cm)])
    assert entry.action == UPDATE
    assert "-  MYSQL_DATABASE: registry\n" in entry.diff and "+  MYSQL_DATABASE: registry_k8s\n" in entry.diff
    assert entry.as_row()["changed lines"] == "2"


def test_removed_data_key_is_an_update(manifests):
    live = _live(manifests)
    cm = find(manifests, "ConfigMap", "harbor-adminserver-config")
    live[object_key(cm)]["data"]["OBSOLETE"] = "x"
    entry = plan_object(cm, live[object_key(cm)])
    assert entry.action == UPDATE and "-  OBSOLETE: x" in entry.diff


def test_deployment_update(manifests):
    live = _live(manifests)
    dep = find(manifests, "Deployment", "registry")
    live[object_key(dep)]["spec"]["replicas"] = 1
    live[object_key(dep)]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] = \
        "/etc/docker/registry"
    entry = plan_object(dep, live[object_key(dep)])
    assert entry.action == UPDATE
    assert "-  replicas: 1" in entry.diff and "+  replicas: 3" in entry.diff
    assert "-        - mountPath: /etc/docker/registry" in entry.diff


def test_secret_diff_is_masked(manifests, generated, credentials):
    live = _live(manifests)
    secret = find(manifests, "Secret", "harbor-adminserver-secret")
    live[object_key(secret)]["data"]["MYSQL_PWD"] = base64.b64encode(b"Old-Password-1").decode()
    entry = plan_object(secret, live[object_key(secret)])
    assert entry.action == UPDATE
    assert "+  MYSQL_PWD: '*** (changed)'" in entry.diff
    for value in [*secret_values(generated, credentials), "Old-Password-1"]:
        assert value not in entry.diff
        assert base64.b64encode(value.encode()).decode() not in entry.diff


def test_written_files_are_masked_and_complete(tmp_path, manifests, generated, credentials):
    paths = write_manifests(manifests, tmp_path)
    assert [p.name for p in paths][:2] == ["01-secret-harbor-adminserver-secret.yaml", "02-secret-harbor-secret-key.yaml"]
    assert len(paths) == len(manifests)
    text = "".join(p.read_text() for p in paths)
    for value in secret_values(generated, credentials):
        assert value not in text
    back = YAML(typ="safe", pure=True).load(paths[-1].read_text())
    assert back == manifests[-1]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_rewrite_removes_stale_and_is_identical(tmp_path, manifests):
    (tmp_path / "99-deployment-mysql.yaml").write_text("stale")
    first = {p.name: p.read_bytes() for p in write_manifests(manifests, tmp_path)}
    second = {p.name: p.read_bytes() for p in write_manifests(manifests, tmp_path)}
    assert first == second
    assert sorted(os.listdir(tmp_path)) == sorted(first)
