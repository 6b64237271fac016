"""The committed notebooks are golden: a fresh lab run must reproduce their checked outputs.

Each runbook's verdict cells are marked ``# NBVAL_CHECK_OUTPUT`` and print deterministic
content; nbval re-executes every notebook (in order, with its default parameters, which point at
the sandbox lab) and compares those cells after tests/nbval-sanitize.cfg. `make golden`
regenerates the outputs on purpose.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT, sandbox_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_runbooks_reproduce_their_golden_outputs():
    books = sorted(str(p) for p in (ROOT / "runbooks").glob("[0-9][0-9]-*.ipynb"))
    with sandbox_lab("article"):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-sanitize-with",
             str(ROOT / "tests" / "nbval-sanitize.cfg"), "-p", "no:cacheprovider", "-q",
             "-o", "addopts=", "-o", "filterwarnings=", "--nbval-cell-timeout=600", *books],
            cwd=ROOT / "runbooks", capture_output=True, text=True, timeout=1800)
    (ROOT / "runs").mkdir(exist_ok=True)
    (ROOT / "runs" / "nbval-last.log").write_text(result.stdout + result.stderr)  # the full diff, for a human
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
