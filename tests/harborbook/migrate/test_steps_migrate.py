"""08's steps on small trees (no lab): what each says, on its pass and fail paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from harborbook import params as params_mod
from harborbook.errors import ParamsError
from harborbook.runbook import Status
from harborbook.steps import migrate as steps

from .test_registry_probe import registry
from .trees import blob_path, push

ROOT = Path(__file__).resolve().parents[3]


def make_params(tmp_path: Path, **migrate) -> params_mod.Params:
    doc = yaml.safe_load((ROOT / "params" / "sandbox.yaml").read_text())
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)

    def refs(node):
        if isinstance(node, dict):
            return {k: refs(v) for k, v in node.items()}
        if isinstance(node, list):
            return [refs(v) for v in node]
        return f"file:{secret}" if isinstance(node, str) and node.startswith("file:") else node

    doc = refs(doc)
    doc["cluster"]["kubeconfig"] = str(tmp_path / "kubeconfig")
    doc["storage"]["mount"] = str(tmp_path / "cephfs")
    doc["node_pressure"]["access"]["root"] = str(tmp_path / "nodes")
    if migrate:
        doc["migrate"] = {"source": {"registry": str(tmp_path / "old"), "database": {
            "host": "127.0.0.1", "port": 13316, "user": "harbor_src", "password": f"file:{secret}"}}, **migrate}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(doc))
    return params_mod.load(path)


@pytest.fixture
def env(tmp_path: Path):
    old = tmp_path / "old"
    push(old, "library/alpine", "3.6", "a", b"base" * 10000)
    push(old, "project1/app", "v1", "b", os.urandom(500_000))
    (tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry").mkdir(parents=True)
    return tmp_path


def test_without_a_migrate_section_every_step_skips(tmp_path: Path) -> None:
    p = make_params(tmp_path)
    found = steps.inventory(p)
    assert found.status is Status.SKIPPED and "no `migrate` section" in found.summary
    state = found.value
    assert steps.source_database(state).status is Status.SKIPPED
    assert steps.bulk_copy(state, p.storage, False).status is Status.SKIPPED
    assert steps.cutover(state, p.storage, False).status is Status.SKIPPED
    assert steps.delta_copy(state, p.storage, False).status is Status.SKIPPED
    assert steps.move_database(p, state, tmp_path / "a.sql.gz", False).status is Status.SKIPPED
    assert steps.window(state).status is Status.SKIPPED
    assert steps.verify_tags(state, p.harbor).status is Status.SKIPPED
    assert steps.summary(state, []).status is Status.SKIPPED


def test_an_ssh_registry_needs_a_key_and_known_hosts_and_other_urls_are_refused(tmp_path: Path) -> None:
    make_params(tmp_path, parallel=2)
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    doc["migrate"]["source"]["registry"] = "ssh://root@old-harbor:2222/data/registry"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match=r"migrate\.source: .*needs ssh_key"):
        params_mod.load(tmp_path / "params.yaml")
    doc["migrate"]["source"]["ssh_key"] = f"file:{tmp_path / 'key'}"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match=r"migrate\.source: .*needs known_hosts"):
        params_mod.load(tmp_path / "params.yaml")
    doc["migrate"]["source"]["known_hosts"] = "known_hosts"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    source = params_mod.load(tmp_path / "params.yaml").migrate.source
    assert str(source.registry) == "ssh://root@old-harbor:2222/data/registry"
    assert source.known_hosts == tmp_path / "known_hosts"  # relative to the params file
    assert source.ssh_key.path == tmp_path / "key"
    for url, said in [("sftp://old/data/registry", "the only URL scheme read is ssh"),
                      ("ssh://root:hunter2@old/data", "a password in the URL is not allowed"),
                      ("ssh://old-harbor/data/registry", "names the user"),
                      ("ssh://root@-oProxyCommand=x/data", "is not a host name")]:
        doc["migrate"]["source"]["registry"] = url
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
        with pytest.raises(ParamsError, match=r"migrate\.source\.registry: .*" + said) as caught:
            params_mod.load(tmp_path / "params.yaml")
        assert "hunter2" not in caught.value.render()
    doc["migrate"]["source"]["registry"] = "/data/registry"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match=r"ssh_key and known_hosts are for an ssh:// registry"):
        params_mod.load(tmp_path / "params.yaml")
    del doc["migrate"]["source"]["ssh_key"], doc["migrate"]["source"]["known_hosts"]
    doc["migrate"]["cutover"] = "now"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match=r"migrate\.cutover: .*'plan'.*'execute'"):
        params_mod.load(tmp_path / "params.yaml")


def test_inventory_then_bulk_copy_then_nothing_to_do(env: Path) -> None:
    p = make_params(env, parallel=2)
    found = steps.inventory(p)
    assert found.status is Status.OK
    assert found.data["repositories"] == 2 and found.data["tags"] == 2 and found.data["blobs"] == 8
    assert list(found.table["repository"]) == ["library/alpine", "project1/app"]
    dry = steps.bulk_copy(found.value, p.storage, True)
    assert dry.status is Status.SKIPPED and "would copy 8 blobs" in dry.summary
    first = steps.bulk_copy(found.value, p.storage, False)
    assert first.status is Status.CHANGED and first.data["counts"] == {"copied": 8}
    assert first.data["tags_linked"] == 2
    again = steps.bulk_copy(steps.inventory(p).value, p.storage, False)
    assert again.status is Status.UNCHANGED and again.data["counts"] == {"present": 8}


def test_a_corrupt_blob_is_a_warning_naming_blob_and_tag(env: Path) -> None:
    p = make_params(env, parallel=3)
    found = steps.inventory(p)
    inv = found.value.inventory
    tag = next(t for t in inv.tags() if t.ref == "project1/app:v1")
    layer = max(inv.closure(tag.digest), key=lambda d: inv.blobs[d])
    path = blob_path(env / "old", layer)
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # always another byte (a fixed one may already be it)
    result = steps.bulk_copy(found.value, p.storage, False)
    assert result.status is Status.WARNING
    assert f"{layer} (corrupt, used by project1/app:v1)" in result.summary
    assert result.data["bad"] == [{"digest": layer, "action": "corrupt", "tags": ["project1/app:v1"]}]
    assert "push those images again" in result.hint


def test_the_plan_estimates_the_delta_from_the_measured_copy(env: Path) -> None:
    p = make_params(env, cutover="plan")
    found = steps.inventory(p)
    steps.bulk_copy(found.value, p.storage, False)
    nothing = steps.cutover(found.value, p.storage, False)
    assert nothing.status is Status.OK and "nothing to copy" in nothing.summary
    push(env / "old", "project1/app", "v2", "c", os.urandom(200_000))
    plan = steps.cutover(found.value, p.storage, False)
    assert plan.status is Status.OK and plan.data["tags"] == ["project1/app:v2"]
    assert plan.data["copy"] == 4 and plan.data["estimate_s"] > 0
    assert "MB/s" in plan.summary and "set migrate.cutover: execute" in plan.summary
    assert steps.delta_copy(found.value, p.storage, False).status is Status.SKIPPED


def test_execute_needs_the_old_registry_url(env: Path) -> None:
    p = make_params(env, cutover="execute")
    found = steps.inventory(p)
    result = steps.cutover(found.value, p.storage, False)
    assert result.status is Status.FAILED and "migrate.source.url" in result.summary


def test_execute_refuses_a_writable_old_registry_and_says_how_to_freeze_it(env: Path) -> None:
    with registry(env / "old", env) as url:
        make_params(env, cutover="execute")
        doc = yaml.safe_load((env / "params.yaml").read_text())
        doc["migrate"]["source"]["url"] = url
        (env / "params.yaml").write_text(yaml.safe_dump(doc))
        p = params_mod.load(env / "params.yaml")
        found = steps.inventory(p)
        result = steps.cutover(found.value, p.storage, False)
    assert result.status is Status.FAILED and "still accepts uploads" in result.summary
    assert "docker-compose" in result.hint and "harborbook lab legacy freeze" in result.hint
    assert steps.delta_copy(found.value, p.storage, False).status is Status.FAILED


def test_execute_on_a_read_only_registry_copies_the_delta_and_measures(env: Path) -> None:
    p = make_params(env, cutover="execute")
    found = steps.inventory(p)
    steps.bulk_copy(found.value, p.storage, False)
    push(env / "old", "project1/app", "v2", "c", os.urandom(200_000))
    doc = yaml.safe_load((env / "params.yaml").read_text())
    with registry(env / "old", env, readonly=True) as url:
        doc["migrate"]["source"]["url"] = url
        (env / "params.yaml").write_text(yaml.safe_dump(doc))
        p = params_mod.load(env / "params.yaml")
        found.value.section = p.migrate  # the operator set the URL between the two runs
        frozen = steps.cutover(found.value, p.storage, False)
    assert frozen.status is Status.OK and "uploads refused" in frozen.summary
    delta = steps.delta_copy(found.value, p.storage, False)
    assert delta.status is Status.CHANGED and delta.data["counts"] == {"present": 8, "copied": 4}
    assert "final inventory" in found.value.clock and "delta copy" in found.value.clock
    window = steps.window(found.value)
    assert window.status is Status.OK and window.data["seconds"] >= found.value.clock["delta copy"]
