"""Shared fixtures: paths of the repository, and fresh params files written per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def sandbox_text() -> str:
    return (ROOT / "params" / "sandbox.yaml").read_text()


pytest_plugins = ["pytester", "tests.no_silent_skips"]
