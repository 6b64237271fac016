"""The sandbox lab the runbooks' default params point at (.lab beside the repository), fresh.

These tests run the real runbooks with `harborbook run` and papermill, the way an operator
does. They need the lab's default ports and state directory (params/sandbox.yaml names them),
so a lab a developer left running in .lab is purged first.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from harborlab.lab import Lab, why_unavailable

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".lab"
SANDBOX = ROOT / "params" / "sandbox.yaml"


@contextlib.contextmanager
def sandbox_lab(profile: str = "article", **options) -> Iterator[Lab]:
    """A fresh lab in .lab (purged before and after)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    Lab(STATE, profile).down(purge=True)
    STATE.mkdir(exist_ok=True)
    os.chmod(STATE, 0o755)  # mariadbd runs as mysql and must traverse it
    lab = Lab(STATE, profile, kubelet_housekeeping=1.0, kubelet_transition=3.0, **options)
    try:
        lab.up()
        yield lab
    finally:
        Lab(STATE, profile).down(purge=True)


def harborbook(*args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harborbook.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **env})


def run_dir_of(output: str) -> Path:
    line = next(l for l in output.splitlines() if l.startswith("report: "))
    return Path(line.split(": ", 1)[1]).parent


@pytest.fixture(scope="module")
def article_lab():
    with sandbox_lab("article") as lab:
        yield lab
