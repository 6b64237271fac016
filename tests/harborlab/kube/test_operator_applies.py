"""The procedure runs as harborbook-operator (issue 15 item 3): params/sandbox.yaml selects its
context, and every kind the runbooks apply server-side is within its role — the namespace too,
which 01 applies with a PATCH (the role lacked `patch` on namespaces until the sandbox ran as the
operator and 01 was refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from harborbook import params as params_mod
from harborbook.errors import HarborbookError
from harborbook.kube import Kube

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "params" / "sandbox.yaml").is_file())

APPLIED = [   # what 01, 03 and 04 apply (kinds and scopes), as small as the schema allows
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "harbor"}, "stringData": {"k": "v"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "harbor"}, "data": {"k": "v"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "harbor"},
     "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}},
    {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-x"},
     "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "hostPath": {"path": "/tmp/x"}}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc", "namespace": "harbor"},
     "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "harbor"},
     "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}},
              "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}}},
]


def test_the_sandbox_runs_as_the_operator():
    params = params_mod.load(ROOT / "params" / "sandbox.yaml")
    assert params.cluster.context == "harborbook-operator"
    assert params_mod.load(ROOT / "params" / "demo.yaml").cluster.context == "harborbook-operator"


@pytest.mark.emulator
@pytest.mark.parametrize("profile", ["article", "modern"])
def test_the_operator_applies_what_the_runbooks_apply(server_factory, profile):
    server = server_factory("--profile", profile)
    kube = Kube(server.kubeconfig, "harborbook-operator")
    for manifest in APPLIED:
        assert kube.apply(manifest).action == "created", manifest["kind"]


@pytest.mark.emulator
def test_without_patch_on_namespaces_01s_apply_is_refused(server_factory):
    server = server_factory()
    admin = server.api()
    rbac = client.RbacAuthorizationV1Api(admin)
    role = rbac.read_cluster_role("harborbook-operator")
    for rule in role.rules:
        if rule.resources == ["namespaces"]:
            rule.verbs = [v for v in rule.verbs if v != "patch"]
    rbac.replace_cluster_role("harborbook-operator", role)
    kube = Kube(server.kubeconfig, "harborbook-operator")
    with pytest.raises(HarborbookError) as err:
        kube.apply(APPLIED[0])
    assert 'cannot patch resource "namespaces"' in str(err.value)
    admin.close()


@pytest.mark.emulator
def test_a_kube_built_from_the_sandbox_params_is_the_operator(server_factory, tmp_path):
    """What `harborbook run` does with the embedded default: the kubeconfig's operator context,
    not its admin (which may delete namespaces)."""
    server = server_factory("--profile", "modern")
    text = (ROOT / "params" / "sandbox.yaml").read_text().replace("../.lab/kubeconfig", str(server.kubeconfig))
    (tmp_path / "p.yaml").write_text(text)
    as_params = Kube.from_params(params_mod.load(tmp_path / "p.yaml").cluster)
    assert as_params.can_i("patch", "deployments", "apps", "harbor") is True
    assert as_params.can_i("delete", "namespaces") is False
    assert Kube(server.kubeconfig).can_i("delete", "namespaces") is True      # the admin context


@pytest.mark.emulator
def test_a_server_side_apply_that_creates_needs_create_too(server_factory):
    server = server_factory()
    admin = server.api()
    rbac = client.RbacAuthorizationV1Api(admin)
    role = rbac.read_cluster_role("harborbook-operator")
    for rule in role.rules:
        if "configmaps" in (rule.resources or []):
            rule.verbs = [v for v in rule.verbs if v != "create"]
    rbac.replace_cluster_role("harborbook-operator", role)
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": "harbor"}})
    kube = Kube(server.kubeconfig, "harborbook-operator")
    with pytest.raises(HarborbookError) as err:
        kube.apply(APPLIED[2])                                  # the ConfigMap is new: create
    assert 'cannot create resource "configmaps"' in str(err.value)
    client.CoreV1Api(admin).create_namespaced_config_map("harbor", {"metadata": {"name": "c"}})
    assert kube.apply(APPLIED[2]).action == "configured"       # it exists now: patch is enough
    admin.close()
