"""Schema validation: version mapping, a clean pass, and errors naming object and field."""

from __future__ import annotations

import copy

import pytest

from harborbook.render import Level, RenderError, find
from harborbook.render import validate

SHIPPED = [(1, minor) for minor in range(25, 38)]


@pytest.mark.parametrize("server, expected, noted", [
    ("v1.30.2", (1, 30), False),
    ("1.25", (1, 25), False),
    ("v1.29.4+k3s1", (1, 29), False),
    ("v1.7.6", (1, 25), True),
    ("v1.45.0", (1, 37), True),
], ids=["exact", "oldest", "k3s-suffix", "older-than-shipped", "newer-than-shipped"])
def test_schema_version(server, expected, noted):
    version, note = validate.schema_version(server, SHIPPED)
    assert version == expected and (note is not None) == noted


def test_schema_version_gap_takes_nearest():
    assert validate.schema_version("v1.28.0", [(1, 25), (1, 27), (1, 30)])[0] == (1, 27)
    assert validate.schema_version("v1.29.0", [(1, 25), (1, 27), (1, 30)])[0] == (1, 30)


def test_bad_version():
    with pytest.raises(RenderError, match="not a Kubernetes version"):
        validate.parse_version("latest")


def test_shipped_versions_start_at_125():
    assert validate.available_versions()[0] == (1, 25)


@pytest.mark.slow
@pytest.mark.parametrize("server", ["v1.25.16", "v1.31.0", "v1.37.1"])
def test_rendered_manifests_are_valid(params, generated, credentials, server):
    from harborbook.render import render
    used, findings = validate.validate_manifests(render(params, generated, credentials), server)
    assert findings == [] and used == server[1:].rsplit(".", 1)[0]


def test_rendered_manifests_valid_default(manifests):
    assert validate.validate_manifests(manifests, "v1.30.2") == ("1.30", [])


def test_invalid_manifest_named(manifests):
    objects = copy.deepcopy(manifests)
    container = find(objects, "Deployment", "registry")["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["containerPort"] = "five-thousand"
    container["volumeMounts"][0]["mountpath"] = container["volumeMounts"][0].pop("mountPath")
    _, findings = validate.validate_manifests(objects, "v1.30.2")
    assert {f.object for f in findings} == {"Deployment/registry"}
    messages = " | ".join(f.message for f in findings)
    assert "spec.template.spec.containers[0].ports[0].containerPort" in messages
    assert "spec.template.spec.containers[0].volumeMounts[0]" in messages and "mountpath" in messages
    assert all(f.level is Level.FAILED for f in findings)


def test_unknown_kind(manifests):
    bogus = {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "x"}}
    _, findings = validate.validate_manifests([bogus], "v1.30.2")
    assert "no schema for extensions/v1beta1 Deployment" in findings[0].message


def test_secret_errors_do_not_quote_values(manifests):
    secret = copy.deepcopy(find(manifests, "Secret", "harbor-ui-secret"))
    secret["data"]["UI_SECRET"] = {"nested": "S3cret-Value-1"}
    _, findings = validate.validate_manifests([secret], "v1.30.2")
    assert findings == []  # masked before validation: the value's shape is not what is checked
    secret["datum"] = "S3cret-Value-2"
    _, findings = validate.validate_manifests([secret], "v1.30.2")
    assert findings and all("S3cret" not in f.message for f in findings)


def test_old_cluster_warns(manifests):
    used, findings = validate.validate_manifests(manifests, "v1.7.6")
    assert used == "1.25" and [f.level for f in findings] == [Level.WARNING]
