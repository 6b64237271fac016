"""07's registry-tree copy against `tar` of the same tree to the same target directory.

    .venv/bin/python bench/backup_tree.py --tree-root .lab/cephfs/bench --blobs 200 --blob-kib 1024 --runs 3

A registry tree of ``--blobs`` random blobs (distribution's layout, each blob's data file under its
sha256 path, plus a repository with a tag and layer links) is generated under ``--tree-root``
(on the lab's CephFS mount to measure what a backup reads; any directory otherwise). Ours is
``harborbook.backup.capture.copy_tree``: each blob hashed against its digest, compressed when it is
not a blob, encrypted (AES-256-GCM chunks), fsynced, renamed into place and read back and verified.
The baseline is ``tar -cf`` of the same tree into the same target folder: no digest check, no
encryption, no verification. Both run alternately; the target is emptied (untimed) before each run.
Throughput is the tree's plaintext bytes over the median time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, env_note, median, table  # noqa: E402

from harborbook.backup.capture import copy_tree  # noqa: E402
from harborbook.backup.crypto import Keyring  # noqa: E402
from harborbook.backup.target import DirectoryTarget  # noqa: E402


def make_tree(root: Path, blobs: int, size: int) -> int:
    """A distribution-shaped tree with ``blobs`` random blobs; its total bytes."""
    total = 0
    repo = root / "docker/registry/v2/repositories/library/bench"
    for i in range(blobs):
        data = os.urandom(size)
        hexa = hashlib.sha256(data).hexdigest()
        path = root / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        link = repo / "_layers/sha256" / hexa / "link"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.write_text("sha256:" + hexa)
        total += size + len(hexa) + 7
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree-root", type=Path, default=None, help="where the tree is generated (default: a temp dir)")
    ap.add_argument("--target", type=Path, default=None, help="the backup target directory (default: a temp dir)")
    ap.add_argument("--blobs", type=int, default=100)
    ap.add_argument("--blob-kib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hb-bench-backup-") as tmp:
        tree = Path(tempfile.mkdtemp(prefix="tree-", dir=args.tree_root or tmp))
        target = Path(tempfile.mkdtemp(prefix="target-", dir=args.target or tmp))
        try:
            total = make_tree(tree, args.blobs, args.blob_kib * 1024)
            keyring = Keyring("bench passphrase")
            keyring.for_writing()  # scrypt once, outside the timing (once per backup in 07)

            def empty() -> None:
                shutil.rmtree(target)
                target.mkdir()

            def ours() -> None:
                empty()
                copy_tree(tree, DirectoryTarget(target), "bench/registry/", keyring)

            def tar() -> None:
                empty()
                # Exit 1 is "a file changed as we read it": ceph-fuse moves directories' ctime on reads.
                done = subprocess.run(["tar", "--warning=no-file-changed", "-cf", str(target / "tree.tar"), "-C",
                                       str(tree), "."])
                if done.returncode not in (0, 1):
                    raise RuntimeError(f"tar failed (exit {done.returncode})")
                with open(target / "tree.tar", "rb") as fh:
                    os.fsync(fh.fileno())

            times = alternate(args.runs, ours=ours, tar=tar)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)
    rows = []
    for name in ("ours", "tar"):
        m = median(times[name])
        rows.append({"side": name, "median s": f"{m:.2f}", "MB/s": f"{total / m / 1e6:.1f}",
                     "runs": ", ".join(f"{t:.2f}" for t in times[name])})
    rows.append({"side": "ratio ours/tar", "median s": f"{median(times['ours']) / median(times['tar']):.2f}",
                 "MB/s": "", "runs": ""})
    print(f"registry tree: {args.blobs} blobs x {args.blob_kib} KiB = {total / 1e6:.1f} MB; {env_note()}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
