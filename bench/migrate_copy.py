"""Runbook 08's bulk copy (every blob verified by sha256 before it is published) against `rsync -a`.

    .venv/bin/python bench/migrate_copy.py --mb 512 --parallel 4 --runs 3 [--target-dir /mnt/cephfs/x]

The source is a registry tree in distribution's layout, generated: ``--images`` images of three
to five layers (sizes log-uniform between 4 KiB and 16 MiB, one base layer shared by every
image), config and schema-2 manifest each, linked into repositories and tagged, scaled to about
``--mb`` megabytes. Ours is what the bulk copy step runs: ``migrate.copy_blobs`` with
``--parallel`` workers (stream, hash, fsync, rename) then ``migrate.link_repositories``. The
baseline is ``rsync -a SOURCE/ TARGET/`` of the same tree: it verifies nothing against the
digests and leaves its writes in the page cache; a second baseline adds ``sync -f TARGET`` so
that, like ours, the copy is on disk when it ends. Each side copies into an empty target (removed, untimed, before
every run), alternately; both read a source the page cache already holds.

Then the cut-over: 1 % more data is pushed into the source (new images) and the delta copy is
timed — what the old registry's write-unavailability window spends copying.
Goal: ratio ours/rsync <= 1.0 with parallel workers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, alternate, median, table, timed  # noqa: E402

sys.path.insert(0, str(ROOT / "lib"))

from harborbook import migrate  # noqa: E402

V2 = ("docker", "registry", "v2")


def _put(root: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = root.joinpath(*V2, "blobs", "sha256", digest[7:9], digest[7:], "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _link(path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest)


def generate(root: Path, total_mb: float, images: int, seed: str) -> int:
    """Write ``images`` images of about ``total_mb`` MB in all; returns the bytes of distinct blobs."""
    rnd = random.Random(seed)
    sizes = [[int(math.exp(rnd.uniform(math.log(4096), math.log(16 << 20)))) for _ in range(rnd.randint(2, 4))]
             for _ in range(images)]
    scale = total_mb * 1e6 / max(1, sum(map(sum, sizes)))
    base = rnd.randbytes(int(2e6 * min(1.0, scale)) or 1)
    written: dict[str, int] = {}
    for i, layer_sizes in enumerate(sizes):
        layers = [base] + [rnd.randbytes(max(1, int(s * scale))) for s in layer_sizes]
        config = json.dumps({"architecture": "amd64", "os": "linux", "created": f"bench-{seed}-{i}"}).encode()
        descs = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(b),
                  "digest": _put(root, b)} for b in layers]
        cdesc = {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                 "digest": _put(root, config)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": cdesc, "layers": descs}, sort_keys=True).encode()
        mdigest = _put(root, manifest)
        repo = root.joinpath(*V2, "repositories", f"bench/app{i % 10}")
        for d in [cdesc["digest"]] + [x["digest"] for x in descs]:
            _link(repo / "_layers" / "sha256" / d[7:] / "link", d)
        _link(repo / "_manifests" / "revisions" / "sha256" / mdigest[7:] / "link", mdigest)
        tag = f"{seed}-{i}"
        _link(repo / "_manifests" / "tags" / tag / "index" / "sha256" / mdigest[7:] / "link", mdigest)
        _link(repo / "_manifests" / "tags" / tag / "current" / "link", mdigest)
        for d in descs + [cdesc]:
            written[d["digest"]] = d["size"]
        written[mdigest] = len(manifest)
    return sum(written.values())


def ours(source: Path, target: Path, parallel: int) -> migrate.CopyReport:
    inv = migrate.scan(source)
    report = migrate.copy_blobs(source, target, inv.blobs, parallel=parallel, journal=migrate.Journal(target))
    migrate.link_repositories(inv, target, report.good())
    assert not report.bad(), report.bad()
    return report


def rsync(source: Path, target: Path) -> None:
    subprocess.run(["rsync", "-a", f"{source}/", f"{target}/"], check=True)


def rsync_synced(source: Path, target: Path) -> None:
    """rsync, then the target's filesystem flushed (``sync -f``): on disk, as ours is when it returns."""
    rsync(source, target)
    subprocess.run(["sync", "-f", str(target)], check=True)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=256.0, help="size of the generated tree")
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target-dir", type=Path, default=None, help="where the copies go (e.g. on the CephFS mount)")
    args = ap.parse_args(argv)
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed (Debian package rsync)")
    with tempfile.TemporaryDirectory(prefix="hb-bench-src-") as src_tmp, \
            tempfile.TemporaryDirectory(prefix="hb-bench-dst-", dir=args.target_dir) as dst_tmp:
        source = Path(src_tmp) / "registry"
        size = generate(source, args.mb, args.images, "bulk")
        targets = {name: Path(dst_tmp) / name for name in ("ours", "rsync", "rsync+sync")}

        def fresh(name: str) -> Path:
            shutil.rmtree(targets[name], ignore_errors=True)
            targets[name].mkdir(parents=True)
            return targets[name]

        times = alternate(args.runs,
                          ours=lambda: (lambda t: ours(source, t, args.parallel))(fresh("ours")),
                          rsync=lambda: (lambda t: rsync(source, t))(fresh("rsync")),
                          **{"rsync+sync": lambda: (lambda t: rsync_synced(source, t))(fresh("rsync+sync"))})
        # The cut-over: 1 % more data in new images, then the delta alone.
        delta_size = generate(source, args.mb / 100, max(1, args.images // 100), "delta")
        delta_ours = timed(lambda: ours(source, targets["ours"], args.parallel))
        delta_rsync = timed(lambda: rsync(source, targets["rsync"]))
        same = migrate.scan(targets["ours"]).counts() == migrate.scan(source).counts()
    rows = [{"side": name, "runs": len(t), "median s": f"{median(t):.2f}", "MB/s": f"{size / 1e6 / median(t):.1f}"}
            for name, t in times.items()]
    for base in ("rsync", "rsync+sync"):
        rows.append({"side": f"ratio ours/{base} (time)", "runs": "",
                     "median s": f"{median(times['ours']) / median(times[base]):.2f}", "MB/s": ""})
    rows.append({"side": f"1 % delta ({delta_size / 1e6:.1f} MB): ours", "runs": 1, "median s": f"{delta_ours:.2f}",
                 "MB/s": ""})
    rows.append({"side": "1 % delta: rsync -a", "runs": 1, "median s": f"{delta_rsync:.2f}", "MB/s": ""})
    out = (f"tree {size / 1e6:.0f} MB, {args.images} images, parallel {args.parallel}; the copy equals the source: "
           f"{same}\n\n" + table(rows))
    print(out)
    return out


if __name__ == "__main__":
    main()
