"""Against the lab's API emulator (a real HTTP server; no root needed): the rendered manifests
are accepted by server-side apply, validate against the server's version, and the plan of
what the server sends back is 'unchanged' for every object."""

from __future__ import annotations

import pytest

from harborbook.kube import Kube
from harborbook.render import object_key
from harborbook.render.plan import UNCHANGED, UPDATE, plan
from harborbook.render.validate import validate_manifests
from tests.support.emulator import start_server, stop_server

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("render-kube"), "--pod-ready-delay", "0.2", timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)


def _live(kube, manifests):
    return {object_key(m): kube.get(m["apiVersion"], m["kind"], m["metadata"]["name"],
                                    m["metadata"]["namespace"]) for m in manifests}


def test_apply_then_plan_is_unchanged(kube, manifests, sandbox):
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sandbox.cluster.namespace}})
    _, findings = validate_manifests(manifests, kube.version()["gitVersion"])
    assert findings == []
    assert {e.action for e in plan(manifests, _live(kube, manifests))} == {"create"}
    for manifest in manifests:
        kube.apply(manifest)
    entries = plan(manifests, _live(kube, manifests))
    assert [(e.object, e.diff) for e in entries if e.action != UNCHANGED] == []
    # a second apply changes nothing on the server either
    assert {kube.apply(m).action for m in manifests} == {"unchanged"}


def test_changed_param_shows_as_update(kube, manifests, sandbox, generated, credentials):
    from harborbook.render import render

    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sandbox.cluster.namespace}})
    for manifest in manifests:  # idempotent: the test does not depend on the one above
        kube.apply(manifest)
    harbor = sandbox.harbor.model_copy(update={"replicas": sandbox.harbor.replicas.model_copy(update={"ui": 2})})
    changed = render(sandbox.model_copy(update={"harbor": harbor}), generated, credentials)
    entries = {e.object: e for e in plan(changed, _live(kube, changed))}
    assert entries["Deployment/ui"].action == UPDATE and "+  replicas: 2" in entries["Deployment/ui"].diff
    assert [o for o, e in entries.items() if e.action != UNCHANGED] == ["Deployment/ui"]
