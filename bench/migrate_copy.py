"""Runbook 08's bulk copy (every blob verified by sha256 before it is published) against `rsync -a`.

    .venv/bin/python bench/migrate_copy.py --mb 128 --parallel 4 --runs 3 [--lab-state .lab]

The source is a registry tree in distribution's layout, generated: ``--images`` images of three
to five layers (sizes log-uniform between 4 KiB and 16 MiB, one base layer shared by every
image), config and schema-2 manifest each, linked into repositories and tagged, scaled to about
``--mb`` megabytes. Ours is what the bulk copy step runs: ``migrate.copy_tree``, blobs with
``--parallel`` workers (stream, hash, fsync, rename), each blob's links written as soon as it is
published, the tags' links once every blob is on disk. The
baseline is ``rsync -a SOURCE/ TARGET/`` of the same tree: it verifies nothing against the
digests and leaves its writes in the page cache; a second baseline adds ``sync -f TARGET`` so
that, like ours, the copy is on disk when it ends. Each side copies into an empty target (removed, untimed, before
every run), alternately; both read a source the page cache already holds.

With ``--lab-state`` (a running lab with its legacy host), the same comparison onto the lab's
CephFS mount (the real target), and over SSH from the lab's sshd to local disk: ours reading
an ``ssh://`` source (connection, listing and copy) against ``rsync -a -e ssh`` with the same key;
then again with the old host (the lab's sshd and what it runs) on one core and the copying side
on the other, as two machines would be.

Then the cut-over: 1 % more data is pushed into the source (new images) and the delta copy is
timed — what the old registry's write-unavailability window spends copying.
Goal: ratio ours/rsync <= 1.0 with parallel workers.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, alternate, env_note, median, table, timed  # noqa: E402

sys.path.insert(0, str(ROOT / "lib"))

from harborbook import migrate  # noqa: E402
from harborbook.params.sshurl import parse_url  # noqa: E402
from harborbook.secrets import SecretRef  # noqa: E402

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


def ours(source: "Path | migrate.Source", target: Path, parallel: int) -> migrate.CopyReport:
    inv = migrate.scan(source)
    report, _ = migrate.copy_tree(source, target, inv, parallel=parallel, journal=migrate.Journal(target))
    assert not report.bad(), report.bad()
    return report


def ours_ssh(ssh: dict, source: Path, target: Path, parallel: int) -> migrate.CopyReport:
    """Ours reading the tree over SSH: connection, listing, copy and links, all timed."""
    location = parse_url(f"ssh://{ssh['user']}@{ssh['host']}:{ssh['port']}{source}")
    with migrate.SshSource(location, SecretRef(f"file:{ssh['key_file']}"), Path(ssh["known_hosts"])) as src:
        return ours(src, target, parallel)


def rsync(source: Path, target: Path) -> None:
    subprocess.run(["rsync", "-a", f"{source}/", f"{target}/"], check=True)


def rsync_synced(source: Path, target: Path) -> None:
    """rsync, then the target's filesystem flushed (``sync -f``): on disk, as ours is when it returns."""
    rsync(source, target)
    subprocess.run(["sync", "-f", str(target)], check=True)


def rsync_ssh(ssh: dict, source: Path, target: Path, cipher: str | None = None) -> None:
    """``rsync -a -e ssh`` from the same host, with the same key and host key checking as ours."""
    shell = (f"ssh -p {ssh['port']} -i {ssh['key_file']} -o BatchMode=yes -o StrictHostKeyChecking=yes "
             f"-o UserKnownHostsFile={ssh['known_hosts']} -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
             + (f" -c {cipher}" if cipher else ""))
    subprocess.run(["rsync", "-a", "-e", shell, f"{ssh['user']}@{ssh['host']}:{source}/", f"{target}/"], check=True)


def rsync_ssh_synced(ssh: dict, source: Path, target: Path) -> None:
    rsync_ssh(ssh, source, target)
    subprocess.run(["sync", "-f", str(target)], check=True)


def lab_details(state: Path) -> tuple[Path, dict]:
    """The lab's CephFS mount and its legacy host's SSH access (lab.json)."""
    details = json.loads((state / "lab.json").read_text())
    mount = state / "cephfs"
    if not os.path.ismount(mount):
        raise SystemExit(f"{mount} is not mounted: is the lab at {state} up?")
    ssh = details.get("legacy-harbor", {}).get("ssh")
    if not ssh:
        raise SystemExit(f"the lab at {state} has no legacy host (lab up --legacy-images N)")
    return mount, ssh


@contextlib.contextmanager
def separate_cores(sshd: int) -> Iterator[None]:
    """The lab's legacy host on the first core, this process (ours, rsync, ssh) on another: two
    hosts, as a real migration has, instead of the old host's tar and sshd competing with the copy
    for the same cores. The sshd forks a process per connection, which inherits the setting."""
    mine, theirs = os.sched_getaffinity(0), os.sched_getaffinity(sshd)
    first = min(mine)
    os.sched_setaffinity(sshd, {first})
    os.sched_setaffinity(0, mine - {first})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)
        os.sched_setaffinity(sshd, theirs)


def empty(target: Path) -> None:
    """An empty target, and the removal of the last run's copy on disk: a deletion still being
    written back (on a disk mounted with ``discard``, still being trimmed) would be charged to
    whichever side flushes next."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    os.sync()


def scenario(where: str, runs: int, size: int, sides: dict[str, tuple[Path, Callable[[Path], object]]]) -> list[dict]:
    """Each side copies into its own target, emptied (untimed) before each of its runs."""
    times = alternate(runs, before=lambda name: empty(sides[name][0]),
                      **{name: (lambda t=target, f=fn: f(t)) for name, (target, fn) in sides.items()})
    names = list(sides)
    rows = [{"side": name, "where": where, "runs": len(t), "median s": f"{median(t):.2f}",
             "MB/s": f"{size / 1e6 / median(t):.1f}"} for name, t in times.items()]
    for base in names[1:]:
        rows.append({"side": f"ratio {names[0]}/{base} (time)", "where": where, "runs": "",
                     "median s": f"{median(times[names[0]]) / median(times[base]):.2f}", "MB/s": ""})
    return rows


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=256.0, help="size of the generated tree")
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target-dir", type=Path, default=None, help="where the local copies go (default: /tmp)")
    ap.add_argument("--lab-state", type=Path, default=None,
                    help="a running lab (with a legacy host): also onto its CephFS mount, and over its sshd")
    args = ap.parse_args(argv)
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed (Debian package rsync)")
    lab = lab_details(args.lab_state.resolve()) if args.lab_state else None
    with contextlib.ExitStack() as stack:
        src_tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hb-bench-src-"))
        dst_tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hb-bench-dst-", dir=args.target_dir))
        source = Path(src_tmp) / "registry"
        size = generate(source, args.mb, args.images, "bulk")

        local = Path(dst_tmp)
        rows = scenario("local disk", args.runs, size, {
            "ours": (local / "ours", lambda t: ours(source, t, args.parallel)),
            "rsync": (local / "rsync", lambda t: rsync(source, t)),
            "rsync+sync": (local / "rsync+sync", lambda t: rsync_synced(source, t))})
        if lab is not None:
            mount, ssh = lab
            ceph = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hb-bench-", dir=mount)))
            rows += scenario("CephFS (ceph-fuse)", args.runs, size, {
                "ours": (ceph / "ours", lambda t: ours(source, t, args.parallel)),
                "rsync": (ceph / "rsync", lambda t: rsync(source, t)),
                "rsync+sync": (ceph / "rsync+sync", lambda t: rsync_synced(source, t))})
            over_ssh = {
                "ours over ssh": (local / "ssh-ours", lambda t: ours_ssh(ssh, source, t, args.parallel)),
                "rsync -e ssh": (local / "ssh-rsync", lambda t: rsync_ssh(ssh, source, t)),
                "rsync -e ssh + sync": (local / "ssh-rsync-sync", lambda t: rsync_ssh_synced(ssh, source, t)),
                "rsync -e 'ssh -c aes128-gcm'": (local / "ssh-rsync-gcm",
                                                 lambda t: rsync_ssh(ssh, source, t, "aes128-gcm@openssh.com"))}
            rows += scenario("over ssh, to local disk", args.runs, size, over_ssh)
            if len(os.sched_getaffinity(0)) >= 2:
                with separate_cores(ssh["pid"]):
                    rows += scenario("over ssh, old host and target on a core each", args.runs, size, over_ssh)
        # The cut-over: 1 % more data in new images, then the delta alone.
        delta_size = generate(source, args.mb / 100, max(1, args.images // 100), "delta")
        delta_ours = timed(lambda: ours(source, local / "ours", args.parallel))
        delta_rsync = timed(lambda: rsync(source, local / "rsync"))
        same = migrate.scan(local / "ours").counts() == migrate.scan(source).counts()
        if lab is not None:
            same = same and migrate.scan(ceph / "ours").counts() == migrate.scan(local / "ssh-ours").counts()
    rows.append({"side": f"1 % delta ({delta_size / 1e6:.1f} MB): ours", "where": "local disk", "runs": 1,
                 "median s": f"{delta_ours:.2f}", "MB/s": ""})
    rows.append({"side": "1 % delta: rsync -a", "where": "local disk", "runs": 1, "median s": f"{delta_rsync:.2f}",
                 "MB/s": ""})
    out = (f"tree {size / 1e6:.0f} MB, {args.images} images, parallel {args.parallel}, {env_note()}; "
           f"the copy equals the source: {same}\n\n" + table(rows))
    print(out)
    return out


if __name__ == "__main__":
    main()
