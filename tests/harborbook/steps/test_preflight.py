"""Preflight decisions that need no live system: node usability, the verdict table."""

from __future__ import annotations

import pytest

from harborbook import checks
from harborbook.checks import Check
from harborbook.runbook import Status
from harborbook.steps import preflight

READY = {"type": "Ready", "status": "True"}


@pytest.mark.parametrize(
    "node,usable",
    [
        ({"status": {"conditions": [READY]}}, True),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, False),
        ({"spec": {"unschedulable": True}, "status": {"conditions": [READY]}}, False),
        ({"spec": {"taints": [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]},
          "status": {"conditions": [READY]}}, False),
        ({"spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}, "status": {"conditions": [READY]}}, True),
        ({}, False),
    ],
    ids=["ready", "not-ready", "cordoned", "disk-pressure-taint", "prefer-no-schedule", "no-status"],
)
def test_schedulable(node, usable):
    assert preflight.schedulable(node) is usable


def step(*found: Check):
    return checks.result("x", list(found))


def test_verdict_fails_when_any_check_failed_and_sorts_rows():
    a = step(Check("redis", "PING", "ok", "PONG"))
    b = step(Check("kubernetes", "permissions", "failed", "denied: patch deployments (04)", "grant it"),
             Check("kubernetes", "API reachable", "ok", "v1.30.2"))
    result = preflight.verdict([a, b])
    assert result.failed
    assert result.hint == "grant it"
    assert list(result.table["check"]) == ["API reachable", "permissions", "PING"]
    assert result.summary.startswith("1 of 3 checks failed: permissions: denied")
    assert a.summary == "1 check: 1 ok"
    assert b.summary == "1 of 2 checks failed: permissions: denied: patch deployments (04)"


def test_verdict_with_warnings_only_passes():
    result = preflight.verdict([step(Check("nodes", "schedulable nodes", "warning", "2 of 3", "add nodes"))])
    assert result.status.value == "warning" and not result.failed


def test_guard_turns_errors_into_failed_rows_with_their_hint():
    from harborbook.errors import TransportError

    def boom():
        raise TransportError("list Node: 401 Unauthorized", hint="check the token")
        yield  # pragma: no cover

    rows = checks.guard("kubernetes", "API reachable", boom)
    assert rows == [Check("kubernetes", "API reachable", Status.FAILED, "list Node: 401 Unauthorized", "check the token")]
