"""The bulk copy into a file system that fills up (a 3 MiB tmpfs standing for a full CephFS): the
step fails with what happened, where, and what to do, leaves no temporary file, and after room
is made a re-run keeps what was verified and copies the rest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harborbook.errors import HarborbookError
from harborbook.migrate.copy import TMP_PREFIX
from harborbook.runbook import Status
from harborbook.steps import migrate as steps

from .test_steps_migrate import make_params
from .trees import push

pytestmark = pytest.mark.lab  # mounts a tmpfs: needs root


@pytest.fixture
def small_target(tmp_path: Path):
    """The registry directory 01 would have made, on a 3 MiB tmpfs."""
    target = tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry"
    target.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_a_full_target_stops_the_copy_with_what_to_do_and_a_rerun_resumes(tmp_path: Path, small_target: Path) -> None:
    old = tmp_path / "old"
    push(old, "project1/app", "v1", "b", os.urandom(2_000_000))  # largest, copied first: fits
    push(old, "library/alpine", "3.6", "a", os.urandom(1_500_000))  # does not fit beside it
    p = make_params(tmp_path, parallel=1)
    found = steps.inventory(p)

    with pytest.raises(HarborbookError) as caught:
        steps.bulk_copy(found.value, p.storage, False)
    error = caught.value
    assert str(small_target) in error.message and "No space left on device" in error.message, error.message
    assert "make room on the CephFS" in (error.hint or "") and "run the step again" in (error.hint or "")
    assert "setfattr -n ceph.quota.max_bytes" in (error.hint or ""), error.hint
    assert list(small_target.rglob(TMP_PREFIX + "*")) == []

    # Room made (the tmpfs grown), the same step again: what was verified stays, the rest arrives.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_target)], check=True)
    again = steps.bulk_copy(found.value, p.storage, False)
    assert again.status is Status.CHANGED, again.summary
    counts = again.data["counts"]
    assert counts.get("present") == 1 and counts.get("copied", 0) >= 1, counts  # the 2 MB layer was kept
    assert sum(counts.values()) == len(found.value.inventory.blobs)
    assert again.data["tags_linked"] == 2
