"""Shared fixtures: paths of the repository, fresh params files written per test, and the lab nodes
(node roots with kubelet simulators behind an API emulator; root needed) used by
tests/harborlab/kubelet, tests/harborbook/nodeshell and tests/harborbook/steps/nodepressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import labnodes
from tests.support.slots import slot_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def sandbox_text() -> str:
    return (ROOT / "params" / "sandbox.yaml").read_text()



@pytest.fixture(scope="module")
def article_nodes(tmp_path_factory) -> labnodes.LabNodes:
    """The article profile's three nodes (kubelet 1.7-era files, Docker on a separate disk),
    one set per test module; a module that changes a node puts it back (or uses it last)."""
    with labnodes.running(tmp_path_factory.mktemp("lab"), "article") as nodes:
        yield nodes


@pytest.fixture(scope="module")
def modern_nodes(tmp_path_factory) -> labnodes.LabNodes:
    """The modern profile's nodes (config.yaml, configz, containerd on the root filesystem)."""
    with labnodes.running(tmp_path_factory.mktemp("lab"), "modern") as nodes:
        yield nodes


pytest_plugins = ["pytester", "tests.no_silent_skips"]


def pytest_itemcollected(item):
    """Four streams for `make test` (pytest-xdist, --dist loadgroup, one worker each): the
    procedure modules on sandbox slot A, those on slot B, every other `lab` test (each on ports
    of its own), and the rest (no root, no fixed port). A stream runs in collection order on one
    worker, so module fixtures and the procedure's shared lab behave as in a plain `pytest`.
    Marked as each item is collected: xdist reads the group in its own collection hook."""
    if item.path.parent == ROOT / "tests" / "procedure":
        stream = f"sandbox-{slot_of(str(item.path)).name}"
    else:
        stream = "lab" if item.get_closest_marker("lab") else "unit"
    item.add_marker(pytest.mark.xdist_group(stream))
