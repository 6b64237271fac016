"""00-preflight's database checks on their pass paths, against a private MariaDB (root needed):
the source's Harbor 1.2 schema found (and another version refused), the target answering as a
plain server (an ok row for the endpoint, a warning that a single server is no HA). The fail paths
without a server are in tests/harborbook/steps/test_preflight_checks.py."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harborbook import params as params_mod
from harborbook.params.models import ServerSource
from harborbook.runbook import Status
from harborbook.steps import preflight

from .mariadb import ADMIN_USER

pytestmark = pytest.mark.lab
SANDBOX = params_mod.load(Path(__file__).resolve().parents[3] / "params" / "sandbox.yaml")


def rows(result) -> dict[str, dict]:
    return {row["check"]: row for row in result.data["checks"]}


@pytest.fixture
def source_db(mariadb, monkeypatch):
    """A database holding alembic_version, as Harbor 1.2's; its name."""
    name = f"src_{uuid.uuid4().hex[:8]}"
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"CREATE TABLE {name}.alembic_version (version_num varchar(32) NOT NULL)")
            cur.execute(f"INSERT INTO {name}.alembic_version VALUES ('1.2.0')")
        monkeypatch.setenv("HB_TEST_DB_ADMIN", mariadb.password)
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def with_source(mariadb, database: str):
    source = ServerSource(kind="server", host="127.0.0.1", port=mariadb.port, user=ADMIN_USER,
                          password="env:HB_TEST_DB_ADMIN", database=database)
    return SANDBOX.model_copy(update={"database": SANDBOX.database.model_copy(update={"source": source})})


def test_source_with_the_harbor_1_2_schema_passes(mariadb, source_db):
    result = preflight.source_database(with_source(mariadb, source_db))
    assert result.status is Status.OK
    assert rows(result)["source schema"]["detail"].endswith(f"/{source_db}: alembic_version 1.2.0")


def test_source_of_another_harbor_version_fails(mariadb, source_db):
    conn = mariadb.connect(source_db)
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE alembic_version SET version_num = '1.5.0'")
    finally:
        conn.close()
    result = preflight.source_database(with_source(mariadb, source_db))
    assert result.failed and rows(result)["source schema"]["detail"] == "alembic_version is ['1.5.0'], not 1.2.0"
    assert "Harbor 1.2" in result.hint


def test_target_plain_server_answers_and_warns_about_ha(mariadb, monkeypatch):
    monkeypatch.setenv("HB_TEST_DB_ADMIN", mariadb.password)
    target = SANDBOX.database.target.model_validate({
        **SANDBOX.database.target.model_dump(), "admin_user": ADMIN_USER, "admin_password": "env:HB_TEST_DB_ADMIN",
        "endpoints": [{"host": "127.0.0.1", "port": mariadb.port}]})
    result = preflight.target_database(SANDBOX.model_copy(update={"database": SANDBOX.database.model_copy(
        update={"target": target})}))
    found = rows(result)
    assert found[f"target 127.0.0.1:{mariadb.port}"]["status"] == "ok"
    assert found["target cluster"]["status"] == "warning" and "no database HA" in found["target cluster"]["detail"]
    assert result.status is Status.WARNING and mariadb.password not in str(result.data)
