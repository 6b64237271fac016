"""The SSH source's tests share a private sshd per module (see sshd.py)."""

from __future__ import annotations

import pytest

from .sshd import Sshd, sshd


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Sshd:
    with sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running
