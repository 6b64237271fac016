"""A pytest plug-in: in CI, a test that cannot run fails with its reason instead of skipping.

Locally a skip is a courtesy (no root, no lab packages on a laptop). In CI — the environment
variable ``CI`` set, as ``.ci/run`` does — every test is meant to run: a skip there means a
missing install step, and a green run that hides it is the failure we must not have.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"cannot run in CI (CI={os.environ['CI']}): {reason.removeprefix('Skipped: ')}"
