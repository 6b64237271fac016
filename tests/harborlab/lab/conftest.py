"""One real lab per pytest session (Ceph, Galera, source harbor_db, Redis), torn down at the end.

The lab lives in a fresh temp state dir (0755: mariadbd runs as mysql and must
traverse it; pytest's own tmp dirs are 0700) on ports shifted by PORT_SHIFT so a
developer's `.lab` on the default ports can keep running. Tests named
``test_down_*`` run last: they stop the shared lab.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harborlab.lab import Lab, shifted_ports, why_unavailable

PORT_SHIFT = int(os.environ.get("HARBORLAB_TEST_PORT_SHIFT", "1000"))
ACCESS_LOG_ROWS = 500


def pytest_collection_modifyitems(items):
    # Stable sort: everything else keeps its order, the lab's down tests go last.
    items.sort(key=lambda item: item.name.startswith("test_down_") and "tests/harborlab/lab/" in item.nodeid)


@pytest.fixture(scope="session")
def lab_state() -> Path:
    state = Path(tempfile.mkdtemp(prefix="harborlab-test-"))
    os.chmod(state, 0o755)
    yield state
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(lab_state: Path) -> Lab:
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    the_lab = Lab(lab_state, "article", ports=shifted_ports(PORT_SHIFT), access_log_rows=ACCESS_LOG_ROWS)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def fresh_lab(lab: Lab) -> Lab:
    """A new Lab object on the shared state (what a second `lab up` command sees)."""
    return Lab(lab.state, lab.profile, ports=lab.ports, **lab.options)
