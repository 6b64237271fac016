"""Every lint on its pass path (the rendered manifests) and its fail paths (one mistake each)."""

from __future__ import annotations

import base64
import copy

import pytest

from harborbook.params.models import Endpoint
from harborbook.render import Level, find, lints, render

RWX = {"registry-pvc": ["ReadWriteMany"], "log-pvc": ["ReadWriteMany"]}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _container(objects, name):
    return find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def _pod(objects, name):
    return find(objects, "Deployment", name)["spec"]["template"]["spec"]


@pytest.fixture
def objects(manifests):
    return copy.deepcopy(manifests)


def test_all_lints_pass_on_rendered(params, generated, credentials):
    objects = render(params, generated, credentials)
    assert lints.run_all(objects, params, db_password=credentials.db_password,
                         secrets={"database.target.password": credentials.db_password}) == []


# ---------------------------------------------------------------- config mounts
def test_config_mounts_pass(objects):
    assert lints.config_mounts(objects) == []


@pytest.mark.parametrize("allow, level", [(False, Level.FAILED), (True, Level.WARNING)],
                         ids=["2017-layout-fails", "2017-layout-allowed-warns"])
def test_config_mounts_2017_layout(sandbox, generated, credentials, allow, level):
    harbor = sandbox.harbor.model_copy(update={"registry_config_mount_path": "/etc/docker/registry",
                                               "allow_known_bugs": allow})
    old = sandbox.model_copy(update={"harbor": harbor})
    objects = render(old, generated, credentials)
    findings = lints.config_mounts(objects, allow_known_bugs=allow)
    assert [(f.level, f.object) for f in findings] == [(level, "Deployment/registry")]
    assert "/etc/docker/registry/config.yml" in findings[0].message
    assert "reads /etc/registry/config.yml" in findings[0].message
    # run_all takes allow_known_bugs from the params
    assert [f.level for f in lints.run_all(objects, old) if f.check == "config-mount"] == [level]


def test_config_mounts_nothing_mounted(objects):
    container = _container(objects, "nginx")
    container["volumeMounts"] = []
    (finding,) = lints.config_mounts(objects)
    assert finding.object == "Deployment/nginx" and "nothing is mounted at /etc/nginx/nginx.conf" in finding.message


def test_config_mounts_uses_given_catalog(objects):
    catalog = {"vmware/registry:2.6.2-photon": "/etc/docker/registry/config.yml"}
    (finding,) = lints.config_mounts(objects, catalog=catalog)
    assert "reads /etc/docker/registry/config.yml" in finding.message


def test_default_catalog_knows_registry():
    assert lints.default_catalog()["vmware/registry:2.6.2-photon"] == "/etc/registry/config.yml"


# ---------------------------------------------------------------- registry storage
def test_registry_storage_pass(objects):
    assert lints.registry_storage(objects, RWX) == []


def test_registry_storage_single_replica_needs_nothing(objects):
    find(objects, "Deployment", "registry")["spec"]["replicas"] = 1
    assert lints.registry_storage(objects, {"registry-pvc": ["ReadWriteOnce"]}) == []


@pytest.mark.parametrize("mutate, modes, expected", [
    (None, {"registry-pvc": ["ReadWriteOnce"]}, "access modes ['ReadWriteOnce']"),
    (None, {}, "whose access modes are unknown"),
    ("emptydir", RWX, "on a emptyDir volume"),
    ("no-volume", RWX, "which is on no volume"),
], ids=["rwo-claim", "unknown-claim", "emptydir", "no-volume"])
def test_registry_storage_fail(objects, mutate, modes, expected):
    pod = _pod(objects, "registry")
    if mutate == "emptydir":
        pod["volumes"][1] = {"name": "storage", "emptyDir": {}}
    elif mutate == "no-volume":
        pod["containers"][0]["volumeMounts"] = [m for m in pod["containers"][0]["volumeMounts"]
                                                if m["mountPath"] != "/storage"]
    (finding,) = lints.registry_storage(objects, modes)
    assert finding.level is Level.FAILED and expected in finding.message


# ---------------------------------------------------------------- http.secret
def test_http_secret_pass(objects):
    assert lints.registry_http_secret(objects) == []


def test_http_secret_missing(objects):
    container = _container(objects, "registry")
    container["env"] = [e for e in container["env"] if e["name"] != "REGISTRY_HTTP_SECRET"]
    (finding,) = lints.registry_http_secret(objects)
    assert "without http.secret" in finding.message and "3 in all" in finding.message


def test_http_secret_from_config_file_counts(objects):
    container = _container(objects, "registry")
    container["env"] = []
    config = find(objects, "ConfigMap", "harbor-registry-config")["data"]
    config["config.yml"] = config["config.yml"].replace("http:\n", "http:\n  secret: same-for-all\n")
    assert lints.registry_http_secret(objects) == []


def test_http_secret_differs_between_workloads(objects):
    second = copy.deepcopy(find(objects, "Deployment", "registry"))
    second["metadata"]["name"] = "registry-old"
    second["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "REGISTRY_HTTP_SECRET", "value": "another-secret"}]
    objects.append(second)
    (finding,) = lints.registry_http_secret(objects)
    assert "differing http.secret" in finding.message
    assert "another-secret" not in finding.message


# ---------------------------------------------------------------- redis sessions
def test_redis_pass(objects):
    assert lints.redis_sessions(objects) == []


@pytest.mark.parametrize("value, expected", [
    (None, "_REDIS_URL is not set"),
    ("", "_REDIS_URL is empty"),
    ("redis:6379,100,pa,ss,word,1", "comma-separated fields"),
], ids=["missing", "empty", "password-with-comma"])
def test_redis_fail(objects, value, expected):
    container = _container(objects, "ui")
    container["env"] = [e for e in container["env"] if e["name"] != "_REDIS_URL"]
    if value is not None:
        find(objects, "Secret", "harbor-ui-secret")["data"]["_REDIS_URL"] = _b64(value)
        container["env"].append({"name": "_REDIS_URL", "valueFrom": {"secretKeyRef": {
            "name": "harbor-ui-secret", "key": "_REDIS_URL"}}})
    (finding,) = lints.redis_sessions(objects)
    assert finding.level is Level.FAILED and expected in finding.message
    assert "pa,ss" not in finding.message


def test_redis_not_needed_for_one_replica(objects):
    find(objects, "Deployment", "ui")["spec"]["replicas"] = 1
    _container(objects, "ui")["env"] = []
    assert lints.redis_sessions(objects) == []


def test_redis_unknown_source_warns(objects):
    objects.remove(find(objects, "Secret", "harbor-ui-secret"))
    (finding,) = lints.redis_sessions(objects)
    assert finding.level is Level.WARNING


# ---------------------------------------------------------------- database settings
def test_database_pass(objects, sandbox, credentials):
    assert lints.database_settings(objects, sandbox.database.target, credentials.db_password) == []


def test_database_any_endpoint_of_the_cluster(objects, sandbox):
    find(objects, "ConfigMap", "harbor-adminserver-config")["data"]["MYSQL_PORT"] = "13308"
    assert lints.database_settings(objects, sandbox.database.target) == []


@pytest.mark.parametrize("key, value, expected", [
    ("MYSQL_HOST", "mysql", "is mysql:13306, not an endpoint"),
    ("MYSQL_USR", "root", "MYSQL_USR is 'root', but the database runbook uses 'harbork8s'"),
    ("MYSQL_DATABASE", "registry", "MYSQL_DATABASE is 'registry', but the database runbook uses 'registry_k8s'"),
], ids=["stock-host", "root-user", "old-database-name"])
def test_database_fail(objects, sandbox, key, value, expected):
    find(objects, "ConfigMap", "harbor-adminserver-config")["data"][key] = value
    (finding,) = lints.database_settings(objects, sandbox.database.target)
    assert expected in finding.message


def test_database_password_differs(objects, sandbox):
    (finding,) = lints.database_settings(objects, sandbox.database.target, "Other-Password")
    assert "MYSQL_PWD" in finding.message and "Other-Password" not in finding.message


def test_database_other_target(objects, sandbox):
    target = sandbox.database.target.model_copy(update={"endpoints": [Endpoint(host="10.0.0.9")]})
    (finding,) = lints.database_settings(objects, target)
    assert "10.0.0.9:3306" in finding.message


# ---------------------------------------------------------------- token realm
def test_realm_pass(objects, sandbox):
    assert lints.token_realm(objects, sandbox.harbor.hostname, sandbox.harbor.protocol) == []


@pytest.mark.parametrize("hostname, protocol, bad", [
    ("harbor.example.com", "http", 2), ("127.0.0.1:31777", "https", 2),
], ids=["other-hostname", "other-protocol"])
def test_realm_fail(objects, hostname, protocol, bad):
    findings = lints.token_realm(objects, hostname, protocol)
    assert len(findings) == bad
    assert any(f"expected '{protocol}://{hostname}/service/token'" in f.message for f in findings)
    assert any("EXT_ENDPOINT" in f.message for f in findings)


def test_realm_wrong_service(objects, sandbox):
    config = find(objects, "ConfigMap", "harbor-registry-config")["data"]
    config["config.yml"] = config["config.yml"].replace("service: harbor-registry", "service: registry")
    (finding,) = lints.token_realm(objects, sandbox.harbor.hostname, sandbox.harbor.protocol)
    assert "auth.token.service is 'registry'" in finding.message


# ---------------------------------------------------------------- secrets in ConfigMaps
def test_configmap_secrets_pass(objects, credentials):
    assert lints.configmap_secrets(objects, {"db": credentials.db_password}) == []


@pytest.mark.parametrize("name, key, value, expected", [
    ("harbor-adminserver-config", "MYSQL_PWD", "whatever1", "its name says it is a secret"),
    ("harbor-ui-config", "app.conf", "[mail]\npassword = x\n", "it sets password"),
    ("harbor-ui-config", "private_key.pem", "-----BEGIN RSA PRIVATE KEY-----\nabc\n", "private key"),
    ("harbor-registry-config", "config.yml", "http:\n  secret: abc\n", "it sets http.secret"),
    ("harbor-adminserver-config", "EXTRA", "db-Pw-7731", "contains the value of db"),
], ids=["password-key", "password-line", "private-key", "http-secret", "known-value"])
def test_configmap_secrets_fail(objects, credentials, name, key, value, expected):
    find(objects, "ConfigMap", name)["data"][key] = value
    (finding,) = lints.configmap_secrets(objects, {"db": credentials.db_password})
    assert finding.object == f"ConfigMap/{name}" and expected in finding.message
    assert credentials.db_password not in finding.message
