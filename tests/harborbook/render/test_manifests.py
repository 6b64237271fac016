"""Rendering: both params files, the facts of the reference, byte-identical re-renders,
StrictUndefined, and no secret in the masked output."""

from __future__ import annotations

import base64

import jinja2
import pytest
from ruamel.yaml import YAML

from harborbook import beego
from harborbook.render import RenderError, dump_all, find, masked, render
from harborbook.render.manifests import dump_yaml, environment, render_template
from harborbook.render.podview import env_of, mounted_files, workloads

from .conftest import secret_values

EXPECTED = [
    "Secret/harbor-adminserver-secret", "Secret/harbor-secret-key", "Secret/harbor-ui-secret",
    "Secret/harbor-jobservice-secret", "Secret/harbor-registry-secret",
    "ConfigMap/harbor-adminserver-config", "ConfigMap/harbor-ui-config", "ConfigMap/harbor-jobservice-config",
    "ConfigMap/harbor-registry-config", "ConfigMap/harbor-nginx-config",
    "Service/adminserver", "Service/ui", "Service/jobservice", "Service/registry", "Service/nginx",
    "Deployment/adminserver", "Deployment/ui", "Deployment/jobservice", "Deployment/registry", "Deployment/nginx",
]


def _yaml(text):
    return YAML(typ="safe", pure=True).load(text)


def test_objects_in_apply_order(params, generated, credentials):
    objects = render(params, generated, credentials)
    assert [f"{o['kind']}/{o['metadata']['name']}" for o in objects] == EXPECTED
    assert {o["metadata"]["namespace"] for o in objects} == {params.cluster.namespace}
    assert not any("mysql" in o["metadata"]["name"] for o in objects)


def test_rerender_is_byte_identical(params, generated, credentials):
    first = dump_all(render(params, generated, credentials))
    second = dump_all(render(params, generated, credentials))
    assert first == second


def test_dump_round_trips(manifests):
    # What is written to disk reads back as exactly the objects (quoting of on/off, PEM blocks...).
    for obj in manifests:
        assert _yaml(dump_yaml(obj)) == obj


def test_yaml11_words_quoted_in_files(manifests):
    text = dump_yaml(find(manifests, "ConfigMap", "harbor-adminserver-config"))
    assert "SELF_REGISTRATION: 'on'" in text and "VERIFY_REMOTE_CERT: 'on'" in text


def test_deployments(params, generated, credentials):
    objects = render(params, generated, credentials)
    for workload in workloads(objects):
        name = workload.name
        spec = workload.obj["spec"]
        assert workload.obj["apiVersion"] == "apps/v1"
        assert spec["replicas"] == getattr(params.harbor.replicas, name)
        assert spec["selector"]["matchLabels"] == {"name": f"{name}-apps"}
        assert spec["template"]["metadata"]["labels"]["name"] == f"{name}-apps"
        term = workload.pod_spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["podAffinityTerm"] == {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": {"name": f"{name}-apps"}}}
        (container,) = workload.containers()
        assert container["image"] == getattr(params.harbor.images, name)
        assert "readinessProbe" in container
        service = find(objects, "Service", name)
        assert service["spec"]["selector"] == {"name": f"{name}-apps"}


def test_services_ports(manifests):
    registry = find(manifests, "Service", "registry")
    assert [p["port"] for p in registry["spec"]["ports"]] == [5000, 5001]
    nginx = find(manifests, "Service", "nginx")
    assert nginx["spec"]["type"] == "NodePort" and nginx["spec"]["ports"][0]["nodePort"] == 31777


def test_adminserver_settings(params, generated, credentials):
    objects = render(params, generated, credentials)
    data = find(objects, "ConfigMap", "harbor-adminserver-config")["data"]
    target = params.database.target
    assert data["MYSQL_HOST"] == target.endpoints[0].host
    assert data["MYSQL_PORT"] == str(target.endpoints[0].port)
    assert (data["MYSQL_USR"], data["MYSQL_DATABASE"], data["RESET"]) == (target.user, target.database, "true")
    assert data["EXT_ENDPOINT"] == params.harbor.ext_endpoint
    for secret in ("MYSQL_PWD", "HARBOR_ADMIN_PASSWORD", "EMAIL_PWD", "LDAP_SEARCH_PWD", "UI_SECRET",
                   "JOBSERVICE_SECRET", "SECRET_KEY"):
        assert secret not in data
    # the container sees the 41 env settings (35 from the ConfigMap, 6 from the Secret) ...
    (workload,) = [w for w in workloads(objects) if w.name == "adminserver"]
    env = env_of(workload.containers()[0], objects)
    assert len(env) == 41
    assert env["MYSQL_PWD"].text == credentials.db_password
    # ... and SECRET_KEY as the file /etc/adminserver/key
    files = mounted_files(workload, workload.containers()[0], objects)
    assert files["/etc/adminserver/key"].text == generated.secret_key


def test_ui_files_and_env(manifests, generated, credentials, sandbox):
    (workload,) = [w for w in workloads(manifests) if w.name == "ui"]
    container = workload.containers()[0]
    files = mounted_files(workload, container, manifests)
    assert set(files) == {"/etc/ui/app.conf", "/etc/ui/private_key.pem", "/etc/ui/key"}
    assert files["/etc/ui/private_key.pem"].text == generated.token_key_pem
    conf = files["/etc/ui/app.conf"].text
    for line in ("appname = registry", "[dev]", "httpport = 80", "[lang]", "[mail]"):
        assert line in conf
    env = env_of(container, manifests)
    assert env["CONFIG_PATH"].text == "/etc/ui/app.conf"
    url = beego.parse_redis_url(env["_REDIS_URL"].text)
    assert (url.host, url.port, url.password, url.db, url.pool_size) == (
        sandbox.redis.host, sandbox.redis.port, credentials.redis_password, sandbox.redis.db, sandbox.redis.pool_size)


def test_jobservice_mounts(manifests, generated):
    (workload,) = [w for w in workloads(manifests) if w.name == "jobservice"]
    container = workload.containers()[0]
    files = mounted_files(workload, container, manifests)
    assert files["/etc/jobservice/key"].text == generated.secret_key
    assert "appname = jobservice" in files["/etc/jobservice/app.conf"].text
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert workload.volume(mounts["/var/log/jobs"])["persistentVolumeClaim"]["claimName"] == "log-pvc"


def test_registry_config(manifests, generated, sandbox):
    (workload,) = [w for w in workloads(manifests) if w.name == "registry"]
    container = workload.containers()[0]
    files = mounted_files(workload, container, manifests)
    config = _yaml(files["/etc/registry/config.yml"].text)
    assert files["/etc/registry/root.crt"].text == generated.token_cert_pem
    assert config["storage"]["filesystem"]["rootdirectory"] == "/storage"
    assert config["storage"]["cache"]["layerinfo"] == "inmemory"
    assert config["storage"]["delete"]["enabled"] is True
    assert config["storage"]["maintenance"]["uploadpurging"]["enabled"] is False
    assert config["http"]["addr"] == ":5000" and config["http"]["debug"]["addr"] == "localhost:5001"
    assert config["auth"]["token"] == {"issuer": "harbor-token-issuer", "service": "harbor-registry",
                                       "realm": f"http://{sandbox.harbor.hostname}/service/token",
                                       "rootcertbundle": "/etc/registry/root.crt"}
    (hook,) = config["notifications"]["endpoints"]
    assert (hook["name"], hook["url"], hook["timeout"], hook["threshold"], hook["backoff"]) == (
        "harbor", "http://ui/service/notifications", "3000ms", 5, "1s")
    assert env_of(container, manifests)["REGISTRY_HTTP_SECRET"].text == generated.registry_http_secret
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert workload.volume(mounts["/storage"])["persistentVolumeClaim"]["claimName"] == "registry-pvc"


def test_registry_mount_path_follows_params(sandbox, generated, credentials):
    old = sandbox.model_copy(update={"harbor": sandbox.harbor.model_copy(
        update={"registry_config_mount_path": "/etc/docker/registry"})})
    objects = render(old, generated, credentials)
    (workload,) = [w for w in workloads(objects) if w.name == "registry"]
    files = mounted_files(workload, workload.containers()[0], objects)
    assert "/etc/docker/registry/config.yml" in files and "/etc/registry/config.yml" not in files


def test_nginx_conf(manifests):
    conf = find(manifests, "ConfigMap", "harbor-nginx-config")["data"]["nginx.conf"]
    for line in ("server registry:5000;", "server ui:80;", "listen 80;", "server_name 127.0.0.1;",
                 "client_max_body_size 0;", "chunked_transfer_encoding on;", "location /v1/ {",
                 "return 404;", "proxy_pass http://registry/v2/;", "proxy_pass http://ui/service/;",
                 "proxy_set_header X-Forwarded-Proto $scheme;", "proxy_request_buffering off;"):
        assert line in conf, line


def test_nginx_conf_parses_for_the_lab(manifests):
    # The lab's nginx translator is a real nginx.conf parser: our file must be its syntax.
    nginxconf = pytest.importorskip("harborlab.programs.nginxconf")
    conf = find(manifests, "ConfigMap", "harbor-nginx-config")["data"]["nginx.conf"]
    assert nginxconf.first_listen_port(conf) == 80


def test_strict_undefined_names_the_key(sandbox, generated, credentials):
    loader = jinja2.DictLoader({"broken.yaml.j2": "a: {{ harbor.no_such_key | q }}\n"})
    with pytest.raises(RenderError, match="broken.yaml.j2.*no_such_key"):
        render_template(environment(loader), "broken.yaml.j2", {"harbor": sandbox.harbor})


def test_strict_undefined_in_plain_text(sandbox):
    loader = jinja2.DictLoader({"conf.j2": "x = {{ missing_value }}\n"})
    with pytest.raises(RenderError, match="missing_value"):
        render_template(environment(loader), "conf.j2", {})


def test_invalid_yaml_does_not_quote_values():
    loader = jinja2.DictLoader({"bad.yaml.j2": "a: {{ v }}\n  b: c\n"})
    with pytest.raises(RenderError) as info:
        render_template(environment(loader), "bad.yaml.j2", {"v": "S3cretValue"})
    assert "S3cretValue" not in info.value.message


def test_masked_output_has_no_secret(params, generated, credentials):
    objects = render(params, generated, credentials)
    text = dump_all(masked(objects))
    for value in secret_values(generated, credentials):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    # the masked view keeps every key, only the values go
    for obj in masked(objects):
        if obj["kind"] == "Secret":
            assert set(obj["data"].values()) == {"***"}
    # and the originals are untouched
    assert find(objects, "Secret", "harbor-ui-secret")["data"]["UI_SECRET"] != "***"


def test_no_secret_in_configmaps(manifests, generated, credentials):
    text = dump_all(o for o in manifests if o["kind"] != "Secret")
    for value in secret_values(generated, credentials):
        assert value not in text


def test_redis_password_with_comma_refused(sandbox, generated):
    from harborbook.beego import RedisUrlError
    from harborbook.render import Credentials

    bad = Credentials(db_password="db-Pw-7731", admin_password="Harbor-Admin-9931", redis_password="a,b-Pw-0001")
    with pytest.raises(RedisUrlError) as info:
        render(sandbox, generated, bad)
    assert "a,b-Pw-0001" not in info.value.render()


def test_reveal_credentials_from_references(sandbox, monkeypatch):
    from harborbook.render import reveal_credentials
    from harborbook.secrets import SecretRef

    harbor = sandbox.harbor.model_copy(update={"admin_password": SecretRef("env:RB_ADMIN")})
    target = sandbox.database.target.model_copy(update={"password": SecretRef("env:RB_DB")})
    redis = sandbox.redis.model_copy(update={"password": None})
    params = sandbox.model_copy(update={"harbor": harbor, "redis": redis,
                                        "database": sandbox.database.model_copy(update={"target": target})})
    monkeypatch.setenv("RB_ADMIN", "Admin-From-Env-1")
    monkeypatch.setenv("RB_DB", "Db-From-Env-1")
    creds = reveal_credentials(params)
    assert (creds.admin_password, creds.db_password, creds.redis_password, creds.email_password) == (
        "Admin-From-Env-1", "Db-From-Env-1", "", "")
    assert "Admin-From-Env-1" not in repr(creds)


def test_secret_data_is_remembered_for_masking(manifests):
    from harborbook.secrets import mask

    encoded = find(manifests, "Secret", "harbor-ui-secret")["data"]["_REDIS_URL"]
    assert encoded not in mask(f"leaked: {encoded}")
