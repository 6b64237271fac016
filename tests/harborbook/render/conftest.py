"""Fixtures: the two params files, one set of generated secrets (RSA 4096, drawn once per
session) and credentials constructed here (the sandbox's secret files do not exist)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harborbook import params as params_mod
from harborbook.render import Credentials, generate, render

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
PARAMS_FILES = {"sandbox": ROOT / "params" / "sandbox.yaml",
                "reference": ROOT / "params" / "example-reference.yaml"}


@pytest.fixture(scope="session")
def generated():
    return generate(NOW)


@pytest.fixture(scope="session")
def credentials():
    return Credentials(db_password="db-Pw-7731", admin_password="Harbor-Admin-9931",
                       redis_password="redis-Pw-4471", email_password="mail-Pw-5521")


@pytest.fixture(scope="session", params=sorted(PARAMS_FILES), ids=sorted(PARAMS_FILES))
def params(request):
    return params_mod.load(PARAMS_FILES[request.param])


@pytest.fixture(scope="session")
def sandbox():
    return params_mod.load(PARAMS_FILES["sandbox"])


@pytest.fixture(scope="session")
def manifests(sandbox, generated, credentials):
    return render(sandbox, generated, credentials)


def secret_values(generated, credentials) -> list[str]:
    """Every secret value the render was given, for leak checks."""
    return [credentials.db_password, credentials.admin_password, credentials.redis_password,
            credentials.email_password, generated.ui_secret, generated.jobservice_secret,
            generated.secret_key, generated.registry_http_secret,
            *generated.token_key_pem.strip().splitlines()[1:-1]]
