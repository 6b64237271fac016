import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from harborbook.db import Endpoint, Login

from .mariadb import ADMIN_USER, PrivateMariaDB

FIXTURES = Path(__file__).parents[1] / "sqldump" / "fixtures"


def _can_run_mariadb() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mariadbd runs as user mysql)"
    for tool in ("mariadbd", "mariadb-install-db", "mariadb-dump"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="session")
def mariadb():
    reason = _can_run_mariadb()
    if reason:
        pytest.skip(reason)
    # Not under pytest's tmp dir: that one is 0700 root, and mariadbd runs as mysql.
    root = Path(tempfile.mkdtemp(prefix="harborbook-db-test-"))
    os.chmod(root, 0o755)
    server = PrivateMariaDB(root / "server", secrets.token_hex(12))
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def admin(mariadb) -> Login:
    return Login(ADMIN_USER, mariadb.password, "database.target.admin_password")


@pytest.fixture
def endpoint(mariadb) -> Endpoint:
    return Endpoint("127.0.0.1", mariadb.port)
