"""The drill's teardown against the lab's API emulator (no root): it deletes the scratch
namespace's objects only when the namespace carries the drill's label, and touches nothing in a
namespace that is somebody else's (e.g. backup.drill.namespace: kube-system by mistake)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harborbook import params as params_mod
from harborbook.kube import Kube
from harborbook.steps.backup import DRILL_LABEL, scratch_params, teardown
from tests.support.emulator import start_server, stop_server

pytestmark = [pytest.mark.emulator]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("drill-kube"), timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)


def drill_params(tmp_path: Path, namespace: str) -> params_mod.Params:
    text = (ROOT / "params" / "example-backup.yaml").read_text().replace("../.lab/", f"{tmp_path}/")
    text = text.replace("    namespace: harbor-drill", f"    namespace: {namespace}")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return scratch_params(params_mod.load(path))


def seed(kube: Kube, namespace: str, labels: dict[str, str]) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}})
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep-me", "namespace": namespace},
                "data": {"a": "b"}})


def test_a_namespace_without_the_label_is_not_touched(kube, tmp_path):
    ns = f"other-{uuid.uuid4().hex[:6]}"
    seed(kube, ns, {"team": "someone-else"})
    found = teardown(drill_params(tmp_path, ns), kube)
    assert [c.status.value for c in found] == ["failed"]
    assert "not a restore drill's" in found[0].detail
    assert kube.get("v1", "ConfigMap", "keep-me", ns) is not None
    assert kube.get("v1", "Namespace", ns) is not None


def test_the_drills_namespace_is_emptied(kube, tmp_path):
    ns = f"drill-{uuid.uuid4().hex[:6]}"
    seed(kube, ns, {DRILL_LABEL: "true"})
    found = teardown(drill_params(tmp_path, ns), kube)
    by_name = {c.name: c for c in found}
    assert by_name["kubernetes"].status.value == "ok", found
    assert kube.get("v1", "ConfigMap", "keep-me", ns) is None
