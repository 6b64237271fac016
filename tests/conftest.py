"""Shared fixtures: paths of the repository, fresh params files written per test, and the lab nodes
(node roots with kubelet simulators behind an API emulator; root needed) used by
tests/harborlab/kubelet, tests/harborbook/nodeshell and tests/harborbook/steps/nodepressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import labnodes

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



@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`make test` runs -n 2 --dist loadgroup) every lab test runs on one
    worker, in collection order: they share the lab's state directories, ports and session labs.
    The tests that need no root spread over both workers, a module's tests together and in order
    (as without xdist: its module fixtures start once, and no test meets another's leftovers on
    a second emulator)."""
    for item in items:
        group = "lab" if item.get_closest_marker("lab") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


pytest_plugins = ["pytester", "tests.no_silent_skips"]
