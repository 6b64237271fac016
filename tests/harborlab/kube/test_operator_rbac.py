"""deploy/operator-rbac.yaml, the least-privilege role shipped with the product: on the emulator's
RBAC it satisfies 00-preflight's permission check, and without any one of its rules 00 fails
naming that verb and resource. Both profiles."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kubernetes import client

from harborbook.steps import preflight
from harborbook.kube import Kube
from harborlab.kube import rbac as lab_rbac

pytestmark = pytest.mark.emulator   # starts emulator subprocesses (no root)

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "operator-rbac.yaml"
ROLE, BINDING = list(yaml.safe_load_all(MANIFEST.read_text()))


def _without(rules: list[dict], verb: str, resource: str, group: str) -> list[dict]:
    out = []
    for rule in copy.deepcopy(rules):
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
            if not rule["verbs"]:
                continue
        out.append(rule)
    return out


def _kube_as(server, tmp_path: Path, token: str) -> Kube:
    cfg = json.loads(server.kubeconfig.read_text())
    cfg["users"] = [{"name": "sa", "user": {"token": token}}]
    cfg["contexts"] = [{"name": "sa", "context": {"cluster": "harborlab", "user": "sa"}}]
    cfg["current-context"] = "sa"
    path = tmp_path / "kubeconfig-sa"
    path.write_text(json.dumps(cfg))
    return Kube(path)


def test_the_labs_operator_role_is_the_products_manifest():
    shipped = {(g, r, v) for rule in ROLE["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    lab = {(g, r, v) for rule in lab_rbac.operator_rules(node_proxy=True) for g in rule["apiGroups"]
           for r in rule["resources"] for v in rule["verbs"]}
    assert shipped == lab


@pytest.mark.parametrize("profile", ["article", "modern"])
def test_00_passes_with_the_manifest_and_names_each_missing_rule(server_factory, tmp_path, profile):
    server = server_factory("--profile", profile)
    admin = server.api()
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespace({"metadata": {"name": "harbor"}})
    core.create_namespaced_service_account("harbor", {"metadata": {"name": "runner"}})
    role = {**ROLE, "metadata": {"name": "shipped"}}
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding({"metadata": {"name": "shipped"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shipped"},
        "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "harbor"}]})
    token = core.create_namespaced_service_account_token("runner", "harbor", {"spec": {}}).status.token
    kube = _kube_as(server, tmp_path, token)
    params = SimpleNamespace(cluster=SimpleNamespace(namespace="harbor"))
    checks = {c["check"]: c for c in preflight.kubernetes(params, kube).data["checks"]}
    assert checks["permissions"]["status"] == "ok", checks
    for verb, resource, group, _ in preflight.NEEDED_ACCESS:
        if resource in preflight.OPTIONAL_ACCESS:
            continue
        rbac.replace_cluster_role("shipped", {**role, "rules": _without(ROLE["rules"], verb, resource, group)})
        checks = {c["check"]: c for c in preflight.kubernetes(params, kube).data["checks"]}
        assert checks["permissions"]["status"] == "failed", (verb, resource)
        assert f"{verb} {resource} (" in checks["permissions"]["detail"], checks["permissions"]["detail"]
    rbac.replace_cluster_role("shipped", role)
    admin.close()
