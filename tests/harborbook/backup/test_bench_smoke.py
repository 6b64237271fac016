"""bench/backup_tree.py keeps working: a run with a tiny tree."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import backup_tree  # noqa: E402


def test_backup_tree_bench_smoke(tmp_path, capsys):
    assert backup_tree.main(["--blobs", "3", "--blob-kib", "4", "--runs", "1", "--tree-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| ours |" in out and "| tar |" in out and "ratio ours/tar" in out
    assert list(tmp_path.iterdir()) == []  # the generated tree is removed
