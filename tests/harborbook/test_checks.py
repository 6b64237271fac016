"""The vocabulary of checks: a check run safely, checks as a step, the verdict, status_for."""

from __future__ import annotations

import pytest

from harborbook import checks
from harborbook.checks import Check, failed, ok, warning
from harborbook.errors import NotFound, TransportError
from harborbook.runbook import Status


def test_guard_keeps_what_the_probe_found():
    assert checks.guard("a", "x", lambda: ok("a", "x", "fine")) == [ok("a", "x", "fine")]
    assert checks.guard("a", "x", lambda: iter([ok("a", "x", "1"), warning("a", "y", "2")])) == [
        ok("a", "x", "1"), warning("a", "y", "2")]


def test_guard_turns_our_errors_and_os_errors_into_failed_checks():
    def transport():
        raise TransportError("GET /v2/ -> 502\nbody", hint="are the pods ready?")

    def refused():
        raise ConnectionRefusedError(111, "Connection refused")

    assert checks.guard("a", "x", transport) == [failed("a", "x", "GET /v2/ -> 502", "are the pods ready?")]
    assert checks.guard("a", "x", refused, os_hint="reachable?") == [
        failed("a", "x", "ConnectionRefusedError: Connection refused", "reachable?")]


def test_guard_lets_bugs_through():
    def bug():
        raise KeyError("status")

    with pytest.raises(KeyError):
        checks.guard("a", "x", bug)


def test_guard_masks_revealed_secrets_in_the_detail(monkeypatch):
    from harborbook import secrets

    monkeypatch.setattr(secrets, "_revealed", {"s3cret-Value-1"})

    def leaky():
        raise TransportError("login failed for s3cret-Value-1")

    assert checks.guard("a", "x", leaky)[0].detail == "login failed for ***"


def test_result_is_the_worst_status_with_the_first_failure_hint():
    result = checks.result("step", [ok("a", "x", "1"), warning("a", "y", "2", "w"), failed("b", "z", "3", "fix z")])
    assert result.status is Status.FAILED and result.hint == "fix z"
    assert result.summary == "1 of 3 checks failed: z: 3"
    assert list(result.table.columns) == checks.COLUMNS
    assert result.data["checks"][2] == {"area": "b", "check": "z", "status": "failed", "detail": "3", "hint": "fix z"}
    assert checks.result("s", [ok("a", "x", "1"), warning("a", "y", "2")]).status is Status.WARNING
    assert checks.result("s", [ok("a", "x", "1")]).summary == "1 check: 1 ok"


def test_a_check_round_trips_through_its_row():
    check = warning("nodes", "schedulable nodes", "2 of 3", "add nodes")
    assert Check.from_row(check.row()) == check
    assert Check("a", "b", "failed", "d").status is Status.FAILED  # plain words are accepted


def test_verdict_gathers_every_step_and_sorts_by_area_unless_asked_not_to():
    first = checks.result("one", [ok("redis", "PING", "PONG")])
    second = checks.result("two", [failed("kubernetes", "permissions", "denied", "grant"), ok("kubernetes", "API", "up")])
    merged = checks.verdict("all", [first, second])
    assert list(merged.table["check"]) == ["API", "permissions", "PING"] and merged.failed
    assert list(checks.verdict("all", [first, second], by_area=False).table["check"]) == ["PING", "permissions", "API"]


@pytest.mark.parametrize("changed,dry_run,status", [
    (False, False, Status.UNCHANGED), (False, True, Status.UNCHANGED),
    (True, False, Status.CHANGED), (True, True, Status.SKIPPED)])
def test_status_for(changed, dry_run, status):
    assert checks.status_for(changed, dry_run) is status


def test_named_errors_are_transport_errors_with_their_status():
    from harborbook.errors import Conflict, Forbidden, Unauthorized, Unavailable, transport_error

    for status, cls in [(401, Unauthorized), (403, Forbidden), (404, NotFound), (409, Conflict), (503, Unavailable)]:
        error = transport_error(status, "m", hint="h")
        assert type(error) is cls and isinstance(error, TransportError) and error.status == status
        assert error.hint == "h"
    assert type(transport_error(422, "m")) is TransportError and transport_error(None, "m").status is None
