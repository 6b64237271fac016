"""00-preflight: each check on its pass and its fail path, without the lab.

The cluster checks run against the API emulator (the ``kube`` fixture, one per module); Redis
against a fake RESP server; CephFS and the source dump on local files. Together with
test_preflight_emulated.py (reachability, namespace, nodes, the NodePort, the in-tree backend on
this version) and tests/harborlab/kube/test_operator_rbac.py (each missing rule of the shipped
role), every check has both paths; the database checks' pass paths need a MariaDB and are in
tests/harborbook/db/test_preflight_databases.py.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from harborbook import params as params_mod
from harborbook.kube import Kube
from harborbook.params.models import DumpSource, Redis, ServerSource, Storage
from harborbook.runbook import Status
from harborbook.steps import preflight
from tests.support.emulator import start_server, stop_server

ROOT = Path(__file__).resolve().parents[3]
SANDBOX = params_mod.load(ROOT / "params" / "sandbox.yaml")
ROLE = next(yaml.safe_load_all((ROOT / "deploy" / "operator-rbac.yaml").read_text()))
CEPH_KEY = base64.b64encode(b"k" * 28).decode()


def rows(result) -> dict[str, dict]:
    return {row["check"]: row for row in result.data["checks"]}


def with_section(**sections):
    return SANDBOX.model_copy(update=sections)


# ------------------------------------------------------------------ kubernetes: permissions


def kube_as_service_account(kube: Kube, tmp_path: Path, name: str, rules: list[dict] | None) -> Kube:
    """A Kube whose identity is a new ServiceAccount bound to ``rules`` (None: bound to nothing)."""
    core, rbac = client.CoreV1Api(kube.api), client.RbacAuthorizationV1Api(kube.api)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    core.create_namespaced_service_account("harbor", {"metadata": {"name": name}})
    if rules is not None:
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
        rbac.create_cluster_role_binding({"metadata": {"name": name}, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "harbor"}]})
    token = core.create_namespaced_service_account_token(name, "harbor", {"spec": {}}).status.token
    cfg = json.loads(Path(kube.kubeconfig).read_text())
    cfg["users"] = [{"name": name, "user": {"token": token}}]
    cfg["contexts"] = [{"name": name, "context": {"cluster": cfg["clusters"][0]["name"], "user": name}}]
    cfg["current-context"] = name
    path = tmp_path / f"kubeconfig-{name}"
    path.write_text(json.dumps(cfg))
    return Kube(path)


@pytest.mark.emulator
@pytest.mark.slow
def test_permissions_all_granted_without_node_proxy_warn_about_the_optional_one(kube, tmp_path):
    rules = copy.deepcopy(ROLE["rules"])
    for rule in rules:
        rule["resources"] = [r for r in rule["resources"] if r != "nodes/proxy"]
    as_operator = kube_as_service_account(kube, tmp_path, "no-node-proxy", [r for r in rules if r["resources"]])
    found = rows(preflight.kubernetes(SANDBOX, as_operator))
    assert found["permissions"]["status"] == "ok", found
    assert found["optional permissions"]["status"] == "warning"
    assert found["optional permissions"]["detail"] == "denied: get nodes/proxy (06)"


@pytest.mark.emulator
@pytest.mark.slow
def test_permissions_with_the_shipped_role_have_no_optional_row(kube, tmp_path):
    found = rows(preflight.kubernetes(SANDBOX, kube_as_service_account(kube, tmp_path, "shipped", ROLE["rules"])))
    assert found["permissions"]["status"] == "ok" and "optional permissions" not in found


@pytest.mark.emulator
@pytest.mark.slow
def test_permissions_of_an_identity_bound_to_nothing_fail_naming_each_verb(kube, tmp_path):
    result = preflight.kubernetes(SANDBOX, kube_as_service_account(kube, tmp_path, "nobody", None))
    found = rows(result)
    assert result.failed and found["API reachable"]["status"] == "ok"
    assert found["permissions"]["status"] == "failed" and "RBAC" in found["permissions"]["hint"]
    for verb, resource, _group, needed_by in preflight.NEEDED_ACCESS:
        if resource not in preflight.OPTIONAL_ACCESS:
            assert f"{verb} {resource} ({needed_by})" in found["permissions"]["detail"]


# ------------------------------------------------------------------ nodes


@pytest.mark.emulator
@pytest.mark.slow
def test_nodes_all_cordoned_fail_with_the_uncordon_hint(kube):
    core = client.CoreV1Api(kube.api)
    names = [n["metadata"]["name"] for n in kube.list("v1", "Node")]
    try:
        for name in names:
            core.patch_node(name, {"spec": {"unschedulable": True}})
        result = preflight.nodes(SANDBOX, kube)
        assert result.failed and f"0 of {len(names)} nodes are Ready and schedulable" in result.summary
        assert "uncordon" in result.hint
    finally:
        for name in names:
            core.patch_node(name, {"spec": {"unschedulable": False}})
    assert preflight.nodes(SANDBOX, kube).status is Status.OK


# ------------------------------------------------------------------ storage backend


@pytest.mark.emulator
@pytest.mark.slow
def test_csi_backend_with_its_driver_installed_passes(kube):
    name = f"cephfs-{uuid.uuid4().hex[:6]}.csi.example.com"  # the emulator ships ceph-csi's own driver
    csi = with_section(storage=SANDBOX.storage.model_validate(
        {**SANDBOX.storage.model_dump(), "backend": "cephfs-csi", "csi": {**SANDBOX.storage.csi.model_dump(), "driver": name}}))
    assert preflight.storage_backend(csi, kube).failed  # the control: not installed yet
    kube.apply({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": name},
                "spec": {"attachRequired": False}})
    try:
        result = preflight.storage_backend(csi, kube)
        assert result.status is Status.OK and "is installed on Kubernetes" in result.data["checks"][0]["detail"]
    finally:
        kube.delete("storage.k8s.io/v1", "CSIDriver", name)


@pytest.mark.emulator
@pytest.mark.slow
def test_in_tree_backend_on_1_31_fails_with_the_csi_hint(tmp_path):
    server = start_server(tmp_path / "kube-1.31", "--profile", "modern", "--kube-version", "v1.31.0", timeout=30)
    try:
        result = preflight.storage_backend(SANDBOX, Kube(server.kubeconfig))
    finally:
        stop_server(server.process)
    assert result.failed and "removed in Kubernetes 1.31" in result.summary
    assert "storage.backend: cephfs-csi" in result.hint


# ------------------------------------------------------------------ node port


@pytest.mark.emulator
@pytest.mark.slow
def test_node_port_held_by_our_own_nginx_passes(kube):
    port = 32000 + uuid.uuid4().int % 700
    namespace = SANDBOX.cluster.namespace
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx", "namespace": namespace},
                "spec": {"type": "NodePort", "selector": {"name": "nginx-apps"},
                         "ports": [{"port": 80, "targetPort": 80, "nodePort": port}]}})
    try:
        params = with_section(harbor=SANDBOX.harbor.model_copy(update={"node_port": port}))
        result = preflight.node_port(params, kube)
        assert result.status is Status.OK and result.data["checks"][0]["detail"] == f"held by our Service {namespace}/nginx"
    finally:
        kube.delete("v1", "Service", "nginx", namespace)


# ------------------------------------------------------------------ CephFS


def storage(mount: Path, key_env: str) -> Storage:
    return Storage.model_validate({**SANDBOX.storage.model_dump(), "mount": str(mount), "admin_key": f"env:{key_env}"})


def test_cephfs_not_mounted_fails_and_still_checks_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_TEST_CEPH_KEY", CEPH_KEY)
    result = preflight.cephfs(with_section(storage=storage(tmp_path, "HB_TEST_CEPH_KEY")))
    found = rows(result)
    assert result.failed and found["CephFS mounted"]["status"] == "failed"
    assert "not CephFS" in found["CephFS mounted"]["detail"] and "harborbook lab up" in found["CephFS mounted"]["hint"]
    assert "CephFS writable" not in found and found["admin key"]["status"] == "ok"
    assert CEPH_KEY not in json.dumps(result.data)


def test_cephfs_missing_folder_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_TEST_CEPH_KEY", CEPH_KEY)
    result = preflight.cephfs(with_section(storage=storage(tmp_path / "absent", "HB_TEST_CEPH_KEY")))
    assert rows(result)["CephFS mounted"]["detail"].endswith("absent does not exist")


@pytest.fixture
def ceph_mounted(tmp_path, monkeypatch):
    """tmp_path seen as a ceph-fuse mount point (the mount table is the only thing faked: the
    write test and the key check run for real)."""
    monkeypatch.setattr("harborbook.cephfs.mount_of", lambda path, mountinfo=None: (str(tmp_path), "fuse.ceph-fuse"))
    return tmp_path


def test_cephfs_mounted_writable_and_key_readable_passes(ceph_mounted, monkeypatch):
    monkeypatch.setenv("HB_TEST_CEPH_KEY", f"[client.admin]\n\tkey = {CEPH_KEY}\n")  # a keyring
    result = preflight.cephfs(with_section(storage=storage(ceph_mounted, "HB_TEST_CEPH_KEY")))
    assert result.status is Status.OK, result.data["checks"]
    assert list(rows(result)) == ["CephFS mounted", "CephFS writable", "admin key"]
    assert os.listdir(ceph_mounted) == []  # the marker file is gone


def test_cephfs_not_writable_fails(ceph_mounted, monkeypatch):
    monkeypatch.setenv("HB_TEST_CEPH_KEY", CEPH_KEY)
    monkeypatch.setattr("harborbook.cephfs.new_marker", lambda: "no-such-folder/marker")
    found = rows(preflight.cephfs(with_section(storage=storage(ceph_mounted, "HB_TEST_CEPH_KEY"))))
    assert found["CephFS mounted"]["status"] == "ok" and found["CephFS writable"]["status"] == "failed"
    assert "FileNotFoundError" in found["CephFS writable"]["detail"]


def test_cephfs_admin_key_that_is_no_key_fails_without_showing_it(ceph_mounted, monkeypatch):
    monkeypatch.setenv("HB_TEST_CEPH_KEY", "not a key at all")
    result = preflight.cephfs(with_section(storage=storage(ceph_mounted, "HB_TEST_CEPH_KEY")))
    found = rows(result)
    assert result.failed and found["admin key"]["status"] == "failed"
    assert "neither a Ceph key nor a keyring" in found["admin key"]["detail"]
    assert "not a key at all" not in json.dumps(result.data)


# ------------------------------------------------------------------ databases (fail paths; pass paths need MariaDB)


def test_source_dump_readable_passes_and_missing_fails(tmp_path):
    dump = tmp_path / "registry.sql"
    dump.write_text("-- MySQL dump\n")
    source = lambda path: SANDBOX.database.model_copy(update={"source": DumpSource(kind="dumpfile", path=str(path))})
    ok = preflight.source_database(with_section(database=source(dump)))
    assert ok.status is Status.OK and rows(ok)["source dump"]["detail"] == f"{dump} (14 bytes)"
    missing = preflight.source_database(with_section(database=source(tmp_path / "gone.sql")))
    assert missing.failed and "is not a readable file" in missing.summary and "database.source.path" in missing.hint


def test_source_server_unreachable_fails(monkeypatch):
    monkeypatch.setenv("HB_TEST_DB", "secret-Pw-1")
    source = ServerSource(kind="server", host="127.0.0.1", port=9, user="root", password="env:HB_TEST_DB")
    result = preflight.source_database(with_section(database=SANDBOX.database.model_copy(update={"source": source})))
    assert result.failed and "127.0.0.1:9" in result.summary and "secret-Pw-1" not in json.dumps(result.data)


def test_target_unreachable_fails(monkeypatch):
    monkeypatch.setenv("HB_TEST_DB", "secret-Pw-2")
    target = SANDBOX.database.target.model_validate({**SANDBOX.database.target.model_dump(), "admin_password": "env:HB_TEST_DB",
                                                     "endpoints": [{"host": "127.0.0.1", "port": 9}]})
    result = preflight.target_database(with_section(database=SANDBOX.database.model_copy(update={"target": target})))
    assert result.failed and "127.0.0.1:9" in result.summary and "secret-Pw-2" not in json.dumps(result.data)


# ------------------------------------------------------------------ Redis


def redis_params(port: int, password_env: str | None = None, db: int = 11) -> object:
    redis = Redis(host="127.0.0.1", port=port, password=f"env:{password_env}" if password_env else None, db=db)
    return with_section(redis=redis)


def test_redis_with_the_password_passes(fake_redis, monkeypatch):
    monkeypatch.setenv("HB_TEST_REDIS", "redis-Pw-1")
    server = fake_redis(password="redis-Pw-1")
    result = preflight.redis_sessions(redis_params(server.port, "HB_TEST_REDIS"))
    found = rows(result)
    assert result.status is Status.OK, found
    assert found["PING"]["detail"] == "PONG" and found["db index"]["detail"] == "db 11 of 16"
    assert "redis-Pw-1" not in json.dumps(result.data)


def test_redis_refusing_the_password_fails(fake_redis, monkeypatch):
    monkeypatch.setenv("HB_TEST_REDIS", "wrong-Pw")
    server = fake_redis(password="redis-Pw-1")
    found = rows(preflight.redis_sessions(redis_params(server.port, "HB_TEST_REDIS")))
    assert found["_REDIS_URL"]["status"] == "ok" and found["PING"]["status"] == "failed"
    assert "refused the password" in found["PING"]["detail"] and "db index" not in found


def test_redis_unreachable_fails(fake_redis):
    server = fake_redis()
    port = server.port
    server.stop()
    found = rows(preflight.redis_sessions(redis_params(port)))
    assert found["PING"]["status"] == "failed" and "ConnectionError" in found["PING"]["detail"]
    assert "harborbook lab status" in found["PING"]["hint"]


def test_redis_db_index_beyond_the_servers_databases_fails(fake_redis):
    server = fake_redis(databases=8)
    found = rows(preflight.redis_sessions(redis_params(server.port, db=11)))
    assert found["PING"]["status"] == "ok" and found["db index"]["status"] == "failed"
    assert found["db index"]["detail"] == "db 11 but the server has 8 databases"


def test_redis_without_config_command_assumes_sixteen_databases(fake_redis):
    server = fake_redis(config=False)
    result = preflight.redis_sessions(redis_params(server.port))
    assert result.status is Status.OK and rows(result)["db index"]["detail"] == "db 11 of 16"


def test_redis_password_with_a_comma_fails_the_redis_url_before_connecting(monkeypatch):
    monkeypatch.setenv("HB_TEST_REDIS", "pass,word")
    found = rows(preflight.redis_sessions(redis_params(9, "HB_TEST_REDIS")))
    assert list(found) == ["_REDIS_URL"] and found["_REDIS_URL"]["status"] == "failed"
    assert "comma" in found["_REDIS_URL"]["detail"] and "without ','" in found["_REDIS_URL"]["hint"]
