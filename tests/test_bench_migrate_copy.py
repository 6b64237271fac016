"""bench/migrate_copy.py keeps working: a tiny run reports its table and an identical copy."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import migrate_copy  # noqa: E402


def test_a_tiny_run_reports_every_side_and_an_identical_copy(tmp_path: Path) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed (Debian package rsync)")
    out = migrate_copy.main(["--mb", "2", "--images", "4", "--runs", "1", "--parallel", "2",
                             "--target-dir", str(tmp_path)])
    assert "the copy equals the source: True" in out
    for side in ("| ours |", "| rsync |", "| rsync+sync |", "ratio ours/rsync (time)", "1 % delta"):
        assert side in out


def test_the_generated_tree_is_a_registry_tree_with_its_tags(tmp_path: Path) -> None:
    from harborbook import migrate

    size = migrate_copy.generate(tmp_path / "r", 1.0, 5, "t")
    inv = migrate.scan(tmp_path / "r")
    assert len(inv.tags()) == 5 and inv.problems == []
    assert inv.bytes == size
