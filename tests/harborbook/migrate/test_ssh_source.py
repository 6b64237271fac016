"""The SSH source against a real OpenSSH sshd (a private one, see sshd.py): the same inventory and
copy as from a local path, the same corrupt and missing blobs, and clear errors for the host,
the key and the path."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.errors import HarborbookError
from harborbook.migrate import layout
from harborbook.migrate.copy import TMP_PREFIX
from harborbook.migrate.sshsource import SshError, SshSource
from harborbook.params.sshurl import parse_url
from harborbook.secrets import SecretRef

from .sshd import Sshd, connect, keygen
from .trees import blob_path, files, push

pytestmark = pytest.mark.lab  # needs root and Debian's openssh-server


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "old" / "data" / "registry"
    shared = os.urandom(300_000)
    push(root, "library/alpine", "3.6", "a", shared)
    push(root, "project1/app", "v1", "b", shared)
    push(root, "project1/app", "v2", "c", os.urandom(3_000_000))
    push(root, "project1/team/nested", "1.0", "d")
    # An upload in progress is never listed nor copied.
    upload = root / "docker/registry/v2/repositories/project1/app/_uploads/0a1b/data"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"partial")
    return root


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "cephfs" / "registry"
    root.mkdir(parents=True)
    return root


def test_the_inventory_over_ssh_is_the_local_one(server: Sshd, source: Path) -> None:
    local = migrate.scan(source)
    with connect(server, source) as src:
        remote = migrate.scan(src)
    assert remote.counts() == local.counts() == {"repositories": 3, "tags": 4, "manifests": 4, "blobs": 14,
                                                 "bytes": local.bytes}
    assert remote.repositories == local.repositories and remote.references == local.references
    assert remote.blobs == local.blobs and remote.problems == [] == local.problems


def test_a_manifest_missing_from_the_store_is_a_problem_over_ssh_as_locally(server: Sshd, source: Path) -> None:
    manifest = migrate.scan(source).repositories["project1/team/nested"].tags["1.0"]
    blob_path(source, manifest).unlink()  # tar is asked for it and says "Cannot stat" (exit status 2)
    local = migrate.scan(source)
    with connect(server, source) as src:
        remote = migrate.scan(src)
    assert remote.problems == local.problems
    assert f"project1/team/nested:1.0 needs {manifest}, which is not in the blob store" in remote.problems


def test_the_listing_brings_the_manifests_along(server: Sshd, source: Path) -> None:
    local = migrate.scan(source)
    with connect(server, source) as src:
        listing = src.listing()
    assert set(listing.manifests) == local.manifests
    assert all(listing.manifests[d] == blob_path(source, d).read_bytes() for d in local.manifests)
    assert not any("_uploads" in rel for rel in listing.dirs | set(listing.links))


def test_an_empty_tree_lists_nothing(server: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    layout.v2(empty).mkdir(parents=True)
    with connect(server, empty) as src:
        inv = migrate.scan(src)
    assert inv.counts() == {"repositories": 0, "tags": 0, "manifests": 0, "blobs": 0, "bytes": 0}


def test_problems_over_ssh_name_the_host_and_file(server: Sshd, source: Path) -> None:
    link = layout.tag_current_link(source, "library/alpine", "3.6")
    link.write_text("garbage")
    with connect(server, source) as src:
        inv = migrate.scan(src)
    assert inv.problems == [f"root@127.0.0.1:{link}: a link file should hold a sha256 digest, holds 'garbage'"]


def test_copy_over_ssh_gives_the_identical_tree_then_nothing_to_do(server: Sshd, source: Path, target: Path) -> None:
    with connect(server, source) as src:
        inv = migrate.scan(src)
        seen = [0]
        report = migrate.copy_blobs(src, target, inv.blobs, parallel=3, journal=migrate.Journal(target),
                                    progress=lambda n: seen.__setitem__(0, seen[0] + n))
        links = migrate.link_repositories(inv, target, report.good())
        assert report.counts() == {"copied": 14} and not report.interrupted and seen[0] == inv.bytes
        assert len(links.tags_linked) == 4
        wanted = {k: v for k, v in files(source).items() if "_uploads" not in k}
        assert files(target) == wanted
        again = migrate.copy_blobs(src, target, inv.blobs, parallel=3, journal=migrate.Journal(target))
        assert again.counts() == {"present": 14} and not again.changed


def test_several_blobs_travel_in_one_stream(server: Sshd, source: Path) -> None:
    with connect(server, source) as src:
        inv = migrate.scan(src)
        jobs = migrate.copy.jobs(src, inv.blobs, parallel=2)
    assert sum(len(j) for j in jobs) == 14 and len(jobs) < 14
    assert jobs[0][0][1] == max(inv.blobs.values())  # largest first


def test_a_corrupt_blob_over_ssh_is_named_and_not_published(server: Sshd, source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    tag = next(t for t in inv.tags() if t.ref == "project1/app:v2")
    layer = max(inv.closure(tag.digest), key=lambda d: inv.blobs[d])
    path = blob_path(source, layer)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with connect(server, source) as src:
        report = migrate.copy_blobs(src, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    bad = report.bad()
    assert [(b.digest, b.action) for b in bad] == [(layer, "corrupt")]
    assert "hash to sha256:" in bad[0].detail and inv.users(layer) == ["project1/app:v2"]
    assert not blob_path(target, layer).exists()
    assert list(blob_path(target, layer).parent.glob(TMP_PREFIX + "*")) == []
    assert report.counts() == {"copied": 13, "corrupt": 1}


def test_a_blob_deleted_after_the_inventory_is_missing_with_what_tar_said(server: Sshd, source: Path,
                                                                           target: Path) -> None:
    inv = migrate.scan(source)
    gone = min(inv.blobs, key=lambda d: inv.blobs[d])
    blob_path(source, gone).unlink()
    with connect(server, source) as src:
        report = migrate.copy_blobs(src, target, inv.blobs, parallel=1, journal=migrate.Journal(target))
    assert [(b.digest, b.action) for b in report.bad()] == [(gone, "missing")]
    assert "No such file" in report.bad()[0].detail and str(blob_path(source, gone)) in report.bad()[0].detail
    assert report.counts() == {"copied": 13, "missing": 1}


def test_an_interrupted_copy_over_ssh_publishes_nothing_partial_and_resumes(server: Sshd, source: Path,
                                                                             target: Path) -> None:
    inv = migrate.scan(source)
    stop = threading.Event()
    seen = [0]

    def progress(n: int) -> None:
        seen[0] += n
        if seen[0] > 1_500_000:  # inside the 3 MB layer, copied first
            stop.set()

    with connect(server, source) as src:
        first = migrate.copy_blobs(src, target, inv.blobs, parallel=1, journal=migrate.Journal(target),
                                   progress=progress, stop=stop)
        assert first.interrupted and first.counts().get("stopped", 0) >= 1
        assert len(_ssh_processes(src._dir)) == 1  # the stream stopped half-way is gone; the master stays
        assert list(target.rglob(TMP_PREFIX + "*")) == []
        for p in target.rglob("data"):
            assert p.read_bytes() == (source / p.relative_to(target)).read_bytes()
        resumed = migrate.copy_blobs(src, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    assert len(resumed.good()) == 14 and not resumed.interrupted


def _ssh_processes(folder: Path) -> list[str]:
    """ssh processes whose command line names ``folder`` (the source's private directory)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(folder) in line and "ps -eo" not in line]


def test_the_key_is_on_disk_only_while_connecting_and_nothing_stays_behind(server: Sshd, source: Path) -> None:
    src = connect(server, source)
    private = src._dir
    assert oct(private.stat().st_mode & 0o777) == "0o700"
    assert not (private / "key").exists()  # authenticated: the key file is gone already
    assert _ssh_processes(private)  # the master connection
    with src:
        migrate.scan(src)
    assert not private.exists()
    assert _ssh_processes(private) == []


# ---------------------------------------------------------------- errors
def _error(fn) -> HarborbookError:
    with pytest.raises(HarborbookError) as caught:
        fn()
    return caught.value


def test_a_refused_key_is_named(server: Sshd, source: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-key"
    keygen(other)
    err = _error(lambda: connect(server, source, key=other))
    assert isinstance(err, SshError)
    assert f"root@127.0.0.1 port {server.port} refused the key file:{other}" in err.message
    assert "authorized_keys" in err.hint
    assert other.read_text().strip().splitlines()[1] not in err.render()  # never a line of the key itself


def test_an_unknown_host_key_fails_with_how_to_add_it(server: Sshd, source: Path, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    err = _error(lambda: connect(server, source, known_hosts=empty))
    assert f"the host key of root@127.0.0.1 port {server.port} is unknown" in err.message
    assert f"{empty} has no key for [127.0.0.1]:{server.port}" in err.message
    assert f"ssh-keyscan -p {server.port} 127.0.0.1 >> {empty}" in err.hint


def test_a_changed_host_key_is_refused(server: Sshd, source: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} " + " ".join((tmp_path / "impostor.pub").read_text().split()[:2]) + "\n")
    err = _error(lambda: connect(server, source, known_hosts=known))
    assert "is not the one" in err.message and "ssh-keygen -R" in err.hint


def test_a_missing_known_hosts_file_is_named(server: Sshd, source: Path, tmp_path: Path) -> None:
    err = _error(lambda: connect(server, source, known_hosts=tmp_path / "nope"))
    assert f"the known_hosts file {tmp_path / 'nope'} does not exist" in err.message


def test_an_unreachable_host_is_named_with_the_key(server: Sshd, source: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    location = parse_url(f"ssh://root@127.0.0.1:{port}{source}")
    err = _error(lambda: SshSource(location, SecretRef(f"file:{server.key}"), server.known_hosts))
    assert f"cannot reach root@127.0.0.1 port {port} (with the key file:{server.key})" in err.message
    assert "Connection refused" in err.message


def test_a_missing_key_reference_is_named(server: Sshd, source: Path, monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    err = _error(lambda: SshSource(parse_url(server.url(source)), SecretRef("env:NO_SUCH_KEY"), server.known_hosts))
    assert "env:NO_SUCH_KEY" in err.message


def _scan(server: Sshd, path: Path) -> None:
    with connect(server, path) as src:
        migrate.scan(src)


def test_a_missing_path_and_a_path_without_a_tree_are_named(server: Sshd, source: Path) -> None:
    err = _error(lambda: _scan(server, source.parent / "nope"))
    assert isinstance(err, migrate.LayoutError)
    assert f"{source.parent / 'nope'} does not exist on root@127.0.0.1" in err.message
    err = _error(lambda: _scan(server, source.parent))
    assert f"{source.parent} on root@127.0.0.1 holds no docker/registry/v2 tree" in err.message
    assert "/data/registry" in err.hint


# ---------------------------------------------------------------- 08's steps on an ssh:// source
def test_08s_steps_read_an_ssh_source_like_a_local_one(server: Sshd, source: Path, tmp_path: Path) -> None:
    import yaml

    from harborbook import params as params_mod
    from harborbook.runbook import Status
    from harborbook.steps import migrate as steps

    from .test_steps_migrate import make_params

    make_params(tmp_path, parallel=2)
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    doc["migrate"]["source"].update(registry=server.url(source), ssh_key=f"file:{server.key}",
                                    known_hosts=str(server.known_hosts))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry").mkdir(parents=True)
    p = params_mod.load(tmp_path / "params.yaml")
    found = steps.inventory(p)
    assert found.status is Status.OK and found.data["tags"] == 4 and server.url(source) in found.summary
    first = steps.bulk_copy(found.value, p.storage, False)
    assert first.status is Status.CHANGED and first.data["counts"] == {"copied": 14}
    plan = steps.cutover(found.value, p.storage, False)
    assert plan.status is Status.OK and "nothing to copy" in plan.summary
    target = tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry"
    assert files(target) == {k: v for k, v in files(source).items() if "_uploads" not in k}
