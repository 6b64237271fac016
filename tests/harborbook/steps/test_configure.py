"""03's steps without a cluster: generated secrets drawn once and kept, findings as checks."""

from __future__ import annotations

import datetime as dt

import pytest

from harborbook import render
from harborbook.render import Finding, Level
from harborbook.runbook import Status
from harborbook.steps import configure

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


class Secrets:
    """The one Secret these steps read and write, kept in memory (a cluster's get/apply)."""

    def __init__(self):
        self.stored = None
        self.applied = 0

    def get(self, api_version, kind, name, namespace=None):
        return self.stored

    def apply(self, manifest, dry_run=False):
        self.applied += 1
        self.stored = manifest


@pytest.fixture(scope="module")
def drawn_once():
    kube = Secrets()
    first = configure.generated_secrets(kube, "harbor", dry_run=False, now=NOW)
    return kube, first


def test_first_run_draws_and_stores(drawn_once):
    kube, first = drawn_once
    assert first.status is Status.CHANGED and kube.applied == 1
    assert kube.stored["metadata"]["name"] == render.STORED_SECRET_NAME


def test_second_run_reuses_the_stored_values(drawn_once):
    kube, first = drawn_once
    again = configure.generated_secrets(kube, "harbor", dry_run=False, now=NOW)
    assert again.status is Status.UNCHANGED and kube.applied == 1
    assert again.value == first.value


def test_dry_run_stores_nothing():
    kube = Secrets()
    result = configure.generated_secrets(kube, "harbor", dry_run=True, now=NOW)
    assert result.status is Status.SKIPPED and kube.applied == 0 and kube.stored is None
    assert result.summary.startswith("would generate and store")


def test_findings_become_checks():
    findings = [Finding(Level.WARNING, "Deployment/ui", "one replica", "scale it", check="replicas"),
                Finding(Level.FAILED, "Deployment/registry", "config at /etc/docker/registry", "mount it at /etc/registry",
                        check="config-mounts")]
    result = configure.findings_result("lint", findings, "no finding")
    assert result.failed and result.hint == "mount it at /etc/registry"
    assert result.data["checks"][1] == {"area": "config-mounts", "check": "Deployment/registry", "status": "failed",
                                        "detail": "config at /etc/docker/registry", "hint": "mount it at /etc/registry"}
    passed = configure.findings_result("lint", [], "no finding")
    assert passed.status is Status.OK and passed.summary == "no finding" and passed.table is None
