"""In CI a lab test whose program is missing fails with the reason; outside CI it skips."""

from __future__ import annotations

LAB_TEST = '''
import pytest
from harborlab.lab import why_unavailable

def test_needs_the_lab():
    reason = why_unavailable(0, exists=lambda path: path != "/usr/bin/docker-registry")
    if reason:
        pytest.skip(reason)
'''


def test_in_ci_a_missing_program_fails_the_test(pytester, monkeypatch):
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(LAB_TEST)
    result = pytester.runpytest_inprocess("-p", "tests.no_silent_skips")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cannot run in CI*missing programs: docker-registry*"])


def test_outside_ci_it_skips_with_the_reason(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(LAB_TEST)
    result = pytester.runpytest_inprocess("-p", "tests.no_silent_skips", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*missing programs: docker-registry*"])
