"""Params files: valid ones load; every error names file:line, key path and expectation."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from harborbook import params
from harborbook.errors import ParamsError, SecretError
from harborbook.secrets import SecretRef, mask


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ParamsError) as info:
        params.load(path)
    return str(info.value)


def test_shipped_files_are_valid(root):
    sandbox = params.load(root / "params" / "sandbox.yaml")
    assert sandbox.database.target.database == "registry_k8s"
    assert sandbox.harbor.registry_config_mount_path == "/etc/registry"
    reference = params.load(root / "params" / "example-reference.yaml")
    assert reference.harbor.hostname == "hub.tonybai.com:31777"
    assert reference.harbor.node_port == 31777
    assert reference.storage.monitors == ["10.47.217.91:6789"]
    assert (reference.storage.volumes.log, reference.storage.volumes.registry) == ("1Gi", "5Gi")
    assert (reference.database.target.user, reference.database.target.database) == ("harbork8s", "registry_k8s")
    assert (reference.redis.db, reference.redis.pool_size) == (11, 100)
    assert reference.harbor.replicas.model_dump() == {"adminserver": 3, "ui": 3, "jobservice": 1,
                                                       "registry": 3, "nginx": 3}
    assert reference.harbor.images.registry == "vmware/registry:2.6.2-photon"
    assert reference.harbor.images.nginx == "vmware/nginx-photon:1.11.13"


def test_relative_paths_resolve_against_the_params_folder(tmp_path, sandbox_text, monkeypatch):
    folder = tmp_path / "deep" / "params"
    folder.mkdir(parents=True)
    path = write(folder, sandbox_text)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    loaded = params.load(path)
    assert loaded.cluster.kubeconfig == tmp_path / "deep" / ".lab" / "kubeconfig"
    assert loaded.storage.admin_key.path == tmp_path / "deep" / ".lab" / "secrets" / "ceph-admin-key"
    assert str(loaded.node_pressure.access.root) == str(tmp_path / "deep" / ".lab" / "nodes" / "{node}" / "root")


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("  namespace: harbor", "  namespce: harbor", r":6 cluster.namespce: unknown key (did you mean 'namespace'?)"),
        ("port: 13307", "port: 133o7", r":36 database.target.endpoints[1].port: expected an integer, got '133o7'"),
        ("  db: 11", "  db: 99", ":48 redis.db: input should be less than or equal to 15, got '99'"),
        ("  protocol: http\n", "  protocol: ftp\n", ":11 harbor.protocol: input should be 'http' or 'https', got 'ftp'"),
        ("    database: registry_k8s", "    database: \"reg; DROP DATABASE x\"", ":40 database.target.database: expected a database name"),
        ("  namespace: harbor", "  namespace: Harbor_NS", ":6 cluster.namespace: expected a Kubernetes name"),
        ("  root: /apps/harbor-k8s", "  root: /apps/../etc", ":19 storage.root: '..' is not allowed"),
        ("    kind: server\n", "    kind: tape\n", ":27 database.source: input tag 'tape' found using 'kind' does not match"),
    ],
    ids=["typo-key", "wrong-type", "out-of-range", "bad-choice", "sql-in-db-name", "bad-namespace",
         "path-traversal", "bad-union-kind"],
)
def test_errors_name_file_line_and_key_path(tmp_path, sandbox_text, old, new, expected):
    assert old in sandbox_text
    path = write(tmp_path, sandbox_text.replace(old, new, 1))
    message = load_error(path)
    assert message.startswith(f"{path}{expected}")


def test_apply_is_refused_for_the_fleet(tmp_path, sandbox_text):
    text = sandbox_text.replace("  node: lab-node-3", "  node: all").replace("  apply: false", "  apply: true")
    message = load_error(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'p.yaml'}:56 node_pressure: apply: true needs a single node")


def test_plain_secret_is_refused_without_echoing_it(tmp_path, sandbox_text):
    text = sandbox_text.replace("password: file:../.lab/secrets/redis-password", "password: hunter2-very-secret")
    message = load_error(write(tmp_path, text))
    assert "redis.password: expected a secret reference 'env:NAME' or 'file:PATH', got a plain value" in message
    assert "hunter2-very-secret" not in message


def test_all_problems_are_reported_at_once(tmp_path, sandbox_text):
    text = sandbox_text.replace("  namespace: harbor", "  namespce: harbor").replace("port: 13307", "port: x")
    assert len(load_error(write(tmp_path, text)).splitlines()) == 2


@pytest.mark.parametrize(
    "text,expected",
    [
        ("harbor: [1, 2\n", ":2: invalid YAML"),
        ("a: 1\na: 2\n", ":2: invalid YAML: found duplicate key \"a\""),
        ("- 1\n", ":1: expected a mapping of sections"),
        ("", ":1: expected a mapping of sections (cluster, harbor, storage, ...), got an empty file"),
        ("harbor:\n  hostname: x\n", "storage: required key is missing"),
        ("\udcff", "not UTF-8"),
    ],
    ids=["unclosed-list", "duplicate-key", "list-at-top", "empty", "missing-section", "not-utf8"],
)
def test_malformed_files(tmp_path, text, expected):
    path = tmp_path / "p.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert expected in load_error(path)


def test_duplicate_key_message_does_not_echo_values(tmp_path):
    path = write(tmp_path, "redis:\n  password: file:/a\n  password: topsecretvalue\n")
    message = load_error(path)
    assert "duplicate key" in message and "topsecretvalue" not in message


def test_missing_file(tmp_path):
    assert "no such params file" in load_error(tmp_path / "nope.yaml")


# ------------------------------------------------------------------ SecretRef
def test_secret_ref_is_masked_everywhere(tmp_path, caplog):
    secret_file = tmp_path / "s"
    secret_file.write_text("s3cr3t-value\n")
    ref = SecretRef(f"file:{secret_file}")
    shown = [repr(ref), str(ref), f"{ref}", f"{ref!r}", "%s" % ref, "{}".format(ref),
             pd.DataFrame({"password": [ref]}).to_string(), repr({"p": ref}), repr([ref])]
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("password is %s", ref)
    shown.append(caplog.text)
    for text in shown:
        assert "s3cr3t-value" not in text
        assert "***" in text
    assert ref.reveal() == "s3cr3t-value"  # the trailing newline is not part of the secret
    assert mask("the password s3cr3t-value leaked") == "the password *** leaked"


def test_secret_ref_env(monkeypatch):
    monkeypatch.setenv("HB_TEST_SECRET", "from-env")
    assert SecretRef("env:HB_TEST_SECRET").reveal() == "from-env"


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("env:HB_DEFINITELY_UNSET", "secret env:HB_DEFINITELY_UNSET: environment variable HB_DEFINITELY_UNSET is not set"),
        ("file:/nonexistent/secret", "secret file:/nonexistent/secret: file /nonexistent/secret does not exist"),
        ("file:/", "is not readable"),
    ],
    ids=["unset-env", "missing-file", "directory"],
)
def test_unresolvable_secret_names_the_reference(ref, expected):
    with pytest.raises(SecretError) as info:
        SecretRef(ref).reveal()
    assert expected in str(info.value)


def test_empty_secret_is_an_error(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretError, match="is empty"):
        SecretRef(f"file:{tmp_path / 'empty'}").reveal()


@pytest.mark.parametrize("bad", ["plain", "env:", "env:1BAD", "file:", "vault:x"])
def test_malformed_references(bad):
    with pytest.raises(ValueError):
        SecretRef(bad)


def test_hash_ignores_secret_values_but_not_settings(tmp_path, sandbox_text):
    a = params.load(write(tmp_path, sandbox_text, "a.yaml"))
    b = params.load(write(tmp_path, sandbox_text.replace("db: 11", "db: 12"), "b.yaml"))
    assert params.params_hash(a) != params.params_hash(b)
    assert params.params_hash(a) == params.params_hash(params.load(tmp_path / "a.yaml"))


def test_the_demo_params_differ_from_the_sandbox_only_in_applying_the_fix(root):
    from harborbook import params as params_mod

    sandbox = params_mod.load(root / "params" / "sandbox.yaml").model_dump()
    demo = params_mod.load(root / "params" / "demo.yaml").model_dump()
    assert sandbox["node_pressure"]["apply"] is False and demo["node_pressure"]["apply"] is True
    demo["node_pressure"]["apply"] = False
    assert demo == sandbox
