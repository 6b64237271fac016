"""04-rollout's wait against the lab's API emulator (a real HTTP server; no root needed).

A component whose program cannot start (every pod crash-looping with the same termination) or
whose image cannot be pulled ends the wait at once, long before the timeout, and the table shows
the failing container's last log line; healthy components still pass.
"""

from __future__ import annotations

import time
import uuid

import pytest

from harborbook.kube import Kube
from harborbook.runbook import Status
from harborbook.steps import rollout
from tests.support.emulator import start_server, stop_server
from tests.support.plugin_agent import CRASH_MESSAGE

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
TIMEOUT = 120.0  # the wait must end long before this


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("rollout-kube"), "--pod-ready-delay", "0.2",
                          "--agent-factory", "plugin_agent:crashing_factory", timeout=30)
    try:
        yield Kube(server.kubeconfig)
    finally:
        stop_server(server.process)


@pytest.fixture
def namespace(kube):
    name = f"r-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def deployment(name: str, namespace: str, image: str, replicas: int = 2) -> dict:
    labels = {"name": f"{name}-apps"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def wait(kube, namespace, names):
    started = time.monotonic()
    result = rollout.wait_ready(kube, namespace, names, timeout=TIMEOUT, dry_run=False)
    return result, time.monotonic() - started


def test_healthy_components_are_ready(kube, namespace):
    kube.apply(deployment("ui", namespace, "vmware/harbor-ui:v1.2.0"))
    result, _ = wait(kube, namespace, ["ui"])
    assert result.status in (Status.OK, Status.WARNING), result.summary
    assert list(result.table["component"]) == ["ui"]


def test_a_program_that_cannot_start_fails_fast_with_its_log(kube, namespace):
    kube.apply(deployment("ui", namespace, "vmware/harbor-ui:v1.2.0"))
    kube.apply(deployment("registry", namespace, "vmware/registry:2.6.2-photon"))
    result, took = wait(kube, namespace, ["ui", "registry"])
    assert result.failed
    assert took < 60, f"waited {took:.0f}s for a component that cannot start"
    assert result.summary.startswith("registry cannot start: 2 pod(s) waiting, mostly CrashLoopBackOff")
    assert set(result.table["component"]) == {"registry"}
    assert all(CRASH_MESSAGE in log for log in result.table["log (last lines)"])
    assert all(CRASH_MESSAGE in message for message in result.table["message"])
    assert "log" in result.hint


def test_an_image_that_cannot_be_pulled_fails_fast(kube, namespace):
    kube.apply(deployment("nginx", namespace, "vmware/nginx-photon:does-not-exist"))
    result, took = wait(kube, namespace, ["nginx"])
    assert result.failed
    assert took < 60
    assert set(result.table["reason"]) <= {"ErrImagePull", "ImagePullBackOff"}
    assert "cannot be pulled" in result.hint


def test_on_timeout_the_table_still_shows_the_log(kube, namespace):
    """A component that crashed only once is not yet "cannot start": the wait runs to its
    timeout, and the diagnosis shows the crash-looping container's last log lines."""
    kube.apply(deployment("jobservice", namespace, "vmware/harbor-jobservice:v1.2.0", replicas=1))
    started = time.monotonic()
    result = rollout.wait_ready(kube, namespace, ["jobservice"], timeout=6, dry_run=False)
    assert time.monotonic() - started >= 6
    assert result.failed and result.summary.startswith("not ready after 6s: 1 pod(s) waiting, mostly CrashLoopBackOff")
    assert CRASH_MESSAGE in result.table["log (last lines)"][0]
