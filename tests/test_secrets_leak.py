"""Secrets never leak: run the runner with known secret values and scan everything it produced."""

from __future__ import annotations

import os
import re
import secrets as pysecrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.leakscan import find_leaks

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"
pytestmark = pytest.mark.slow


@pytest.fixture
def secret_params(tmp_path, sandbox_text):
    """A params file whose every secret reference points at a fresh file with a unique value."""
    folder = tmp_path / "env"
    (folder / "secrets").mkdir(parents=True)
    values = {}

    def to_file(match: re.Match) -> str:
        name = Path(match.group(1)).name
        value = f"S3cr3t-{name}-{pysecrets.token_hex(8)}"
        (folder / "secrets" / name).write_text(value + "\n")
        values[name] = value
        return f"file:secrets/{name}"

    text = re.sub(r"file:\.\./\.lab/secrets/([A-Za-z0-9_-]+)", to_file, sandbox_text)
    path = folder / "params.yaml"
    path.write_text(text)
    assert len(values) >= 6
    return path, values


def run(params: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harborbook.cli", "run", "02", "--runbooks-dir", str(FIXTURES),
         "--out", str(out), "--params", str(params)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )


def test_no_secret_in_any_output(tmp_path, secret_params):
    params, values = secret_params
    result = run(params, tmp_path / "runs")
    # The fixture fails on purpose with an error whose message contains the Redis password.
    assert result.returncode == 1
    assert "redis refused password ***" in result.stderr
    produced = list((tmp_path / "runs").iterdir())
    assert produced and (produced[0] / "02-secrets.ipynb").exists() and (produced[0] / "02-secrets.html").exists()
    leaks = find_leaks(values, [tmp_path / "runs"], {"stdout": result.stdout, "stderr": result.stderr})
    assert leaks == []


def test_the_scan_catches_a_printed_secret(tmp_path, secret_params):
    params, values = secret_params
    result = run(params, tmp_path / "runs", HARBORBOOK_FIXTURE_PRINT_SECRET="1")
    leaks = find_leaks(values, [tmp_path / "runs"], {"stdout": result.stdout, "stderr": result.stderr})
    assert any(l.endswith("02-secrets.ipynb: redis-password") for l in leaks), leaks
    assert any(l.endswith("02-secrets.html: redis-password") for l in leaks), leaks
