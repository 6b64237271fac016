"""A cluster past in-tree CephFS: preflight refuses the in-tree backend and names the CSI fix."""

from __future__ import annotations

import pytest

from .conftest import harborbook, sandbox_lab, slot_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SLOT = slot_of(__file__)


def failure(result) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_in_tree_cephfs_on_1_31_fails_preflight_with_the_csi_hint(tmp_path):
    with sandbox_lab("modern", SLOT, kube_version="v1.31.0"):
        stderr = failure(harborbook("run", "00", "--params", str(SLOT.params), "--out", str(tmp_path)))
        assert "removed in Kubernetes 1.31" in stderr and "storage.backend: cephfs-csi" in stderr
