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


pytest_plugins = ["pytester", "tests.no_silent_skips"]
