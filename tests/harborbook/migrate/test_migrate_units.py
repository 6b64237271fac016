"""The migration's domain on small trees: inventory, copy with verification, resume, corruption,
links, delta, the rows comparison, and the tag check through a registry client."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.migrate import layout
from harborbook.migrate.copy import TMP_PREFIX

from .trees import blob_path, files, push, put_blob

SHARED = os.urandom(300_000)  # one layer shared by two images, as base layers are


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "old" / "data" / "registry"
    push(root, "library/alpine", "3.6", "a", SHARED)
    push(root, "library/alpine", "latest", "a", SHARED)  # same image, second tag
    push(root, "project1/app", "v1", "b", SHARED)
    push(root, "project1/app", "v2", "c", os.urandom(2_000_000))
    push(root, "project1/team/nested", "1.0", "d")
    return root


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "cephfs" / "apps" / "harbor-k8s" / "registry"
    root.mkdir(parents=True)
    return root


def copy_all(source: Path, target: Path, parallel: int = 3, **kw) -> tuple[migrate.CopyReport, migrate.LinkReport]:
    inv = migrate.scan(source)
    journal = migrate.Journal(target)
    report = migrate.copy_blobs(source, target, inv.blobs, parallel=parallel, journal=journal, **kw)
    links = migrate.link_repositories(inv, target, report.good())
    return report, links


# ---------------------------------------------------------------- inventory
def test_inventory_counts_repositories_tags_manifests_blobs_and_bytes(source: Path) -> None:
    inv = migrate.scan(source)
    assert sorted(inv.repositories) == ["library/alpine", "project1/app", "project1/team/nested"]
    assert [t.ref for t in inv.tags()] == ["library/alpine:3.6", "library/alpine:latest", "project1/app:v1",
                                           "project1/app:v2", "project1/team/nested:1.0"]
    counts = inv.counts()
    assert counts["manifests"] == 4  # 3.6 and latest share one
    # 4 manifests, 4 configs (markers a, b, c, d), 4 distinct layers + the shared one + c's big one
    assert counts["blobs"] == 4 + 4 + 4 + 2
    assert counts["bytes"] == sum(p.stat().st_size for p in (source / "docker").rglob("data"))
    shared = "sha256:" + __import__("hashlib").sha256(SHARED).hexdigest()
    assert sorted(inv.users(shared)) == ["library/alpine:3.6", "library/alpine:latest", "project1/app:v1"]
    assert inv.problems == []


def test_inventory_names_a_tag_whose_blob_is_missing_and_a_bad_link(source: Path) -> None:
    inv = migrate.scan(source)
    tag = next(t for t in inv.tags() if t.ref == "project1/app:v2")
    layer = sorted(inv.closure(tag.digest) - {tag.digest})[0]
    os.unlink(blob_path(source, layer))
    bad = source / "docker/registry/v2/repositories/library/alpine/_manifests/tags/3.6/current/link"
    bad.write_text("not a digest")
    inv = migrate.scan(source)
    assert any("project1/app:v2 needs " + layer in p for p in inv.problems)
    assert any("3.6/current/link" in p and "not a digest" in p for p in inv.problems)
    assert "3.6" not in inv.repositories["library/alpine"].tags


def test_inventory_of_a_path_without_a_registry_tree_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(migrate.LayoutError, match="holds no docker/registry/v2 tree"):
        migrate.scan(tmp_path)
    with pytest.raises(migrate.LayoutError, match="is not a directory"):
        migrate.scan(tmp_path / "nope")


# ---------------------------------------------------------------- copy
def test_copy_gives_an_identical_tree_and_a_second_run_changes_nothing(source: Path, target: Path) -> None:
    report, links = copy_all(source, target)
    assert report.counts() == {"copied": 14}
    assert not report.interrupted and report.bad() == []
    assert files(target) == files(source)
    assert len(links.tags_linked) == 5 and links.tags_skipped == {}
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.is_file()}
    again, links2 = copy_all(source, target)
    assert again.counts() == {"present": 14} and not again.changed
    assert links2.written == 0 and not links2.changed
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.is_file()} == before


def test_present_blobs_are_verified_before_they_are_trusted(source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    digest = max(inv.blobs, key=inv.blobs.get)
    wrong = blob_path(target, digest)
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"x" * inv.blobs[digest])  # same size, other bytes: not in the journal
    good = [d for d in inv.blobs if d != digest][0]
    put_blob(target, blob_path(source, good).read_bytes())  # right bytes, not in the journal
    report, _ = copy_all(source, target)
    actions = {o.digest: o.action for o in report.outcomes}
    assert actions[digest] == "replaced" and actions[good] == "present"
    assert blob_path(target, digest).read_bytes() == blob_path(source, digest).read_bytes()


def test_a_corrupt_source_blob_is_named_with_its_tags_and_not_copied(source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    tag = next(t for t in inv.tags() if t.ref == "project1/app:v2")
    layer = max(inv.closure(tag.digest), key=lambda d: inv.blobs[d])
    path = blob_path(source, layer)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # one flipped bit somewhere in the middle, size unchanged
    path.write_bytes(bytes(data))
    report, links = copy_all(source, target)
    bad = report.bad()
    assert [(b.digest, b.action) for b in bad] == [(layer, "corrupt")]
    assert "hash to sha256:" in bad[0].detail
    assert inv.users(layer) == ["project1/app:v2"]
    assert not blob_path(target, layer).exists()
    assert list(blob_path(target, layer).parent.glob(TMP_PREFIX + "*")) == []
    assert links.tags_skipped == {"project1/app:v2": [layer]}
    assert not layout.tag_current_link(target, "project1/app", "v2").exists()
    assert layout.tag_current_link(target, "project1/app", "v1").read_text() == inv.repositories["project1/app"].tags["v1"]


def test_an_interrupted_copy_publishes_nothing_partial_and_resumes(source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    stop = threading.Event()
    seen = [0]

    def progress(n: int) -> None:
        seen[0] += n
        if seen[0] > 1_000_000:  # inside the 2 MB layer (copied first: largest first)
            stop.set()

    journal = migrate.Journal(target)
    first = migrate.copy_blobs(source, target, inv.blobs, parallel=1, journal=journal, progress=progress, stop=stop)
    assert first.interrupted
    assert first.counts().get("stopped", 0) >= 1
    published = [p for p in target.rglob("data")]
    for p in published:  # whatever has a real name is complete and right
        assert p.read_bytes() == (source / p.relative_to(target)).read_bytes()
    assert [p for p in target.rglob(TMP_PREFIX + "*")] == []
    resumed = migrate.copy_blobs(source, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    counts = resumed.counts()
    assert counts.get("present", 0) == len(published)
    assert counts.get("copied", 0) == len(inv.blobs) - len(published) and counts["copied"] >= 1
    assert not resumed.interrupted


def test_a_worker_error_stops_the_copy_and_is_raised(source: Path, target: Path, monkeypatch) -> None:
    inv = migrate.scan(source)
    real = os.replace
    calls = [0]

    def failing(a, b):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        migrate.copy_blobs(source, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    monkeypatch.setattr(os, "replace", real)
    assert [p for p in target.rglob(TMP_PREFIX + "*")] == []
    report = migrate.copy_blobs(source, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    assert set(report.counts()) <= {"present", "copied"} and len(report.good()) == len(inv.blobs)


def test_progress_counts_every_byte_once(source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    total = [0]
    migrate.copy_blobs(source, target, inv.blobs, parallel=3, journal=migrate.Journal(target),
                       progress=lambda n: total.__setitem__(0, total[0] + n))
    assert total[0] == inv.bytes
    total[0] = 0
    migrate.copy_blobs(source, target, inv.blobs, parallel=3, journal=migrate.Journal(target),
                       progress=lambda n: total.__setitem__(0, total[0] + n))
    assert total[0] == inv.bytes


# ---------------------------------------------------------------- delta
def test_delta_after_the_bulk_copy_is_the_new_tag_only(source: Path, target: Path) -> None:
    copy_all(source, target)
    inv = migrate.scan(source)
    assert migrate.delta(inv, target, migrate.Journal(target)).empty
    pushed = push(source, "project1/app", "v3", "e", os.urandom(50_000))
    inv = migrate.scan(source)
    d = migrate.delta(inv, target, migrate.Journal(target))
    assert set(d.copy) == {pushed["manifest"], *pushed["blobs"]}
    assert d.tags == ["project1/app:v3"] and d.links > 0 and d.verify == {}
    assert d.estimate(None) is None and d.estimate(10_000_000) == pytest.approx(d.copy_bytes / 1e7 + d.links * 0.002)
    report, links = copy_all(source, target)
    assert report.counts() == {"present": 14, "copied": len(d.copy)}
    assert "project1/app:v3" in links.tags_linked
    assert migrate.delta(migrate.scan(source), target, migrate.Journal(target)).empty


def test_a_moved_tag_is_rewritten(source: Path, target: Path) -> None:
    copy_all(source, target)
    moved = push(source, "library/alpine", "latest", "z")
    d = migrate.delta(migrate.scan(source), target, migrate.Journal(target))
    assert d.tags == ["library/alpine:latest"]
    copy_all(source, target)
    assert layout.tag_current_link(target, "library/alpine", "latest").read_text() == moved["manifest"]


# ---------------------------------------------------------------- rows
def test_rows_and_trees_disagreements_are_named() -> None:
    rows = migrate.SourceRows(projects={"library": 1, "project1": 2},
                              repositories={"library/alpine": 1, "library/ghost": 1, "project1/app": 2},
                              users={})
    agreement = migrate.compare(["library/alpine", "project1/app", "project1/team/nested", "orphan/x"], rows)
    assert agreement.rows_without_tree == ["library/ghost"]
    assert agreement.trees_without_row == ["orphan/x", "project1/team/nested"]
    assert agreement.trees_without_project == ["orphan/x"]
    assert not agreement.agrees
    assert migrate.compare(["library/alpine", "library/ghost", "project1/app"], rows).agrees


def test_row_differences_name_missing_and_changed_users_and_repositories() -> None:
    a = migrate.SourceRows({"library": 1}, {"library/a": 1, "library/b": 1},
                           {"admin": ("h", "", 0), "u": ("h2", "s2", 0), "v": ("h3", "s3", 0)})
    b = migrate.SourceRows({"library": 1}, {"library/a": 2},
                           {"admin": ("set", "salt", 0), "u": ("other", "s2", 0), "v": ("h3", "s3", 0)})
    assert migrate.differences(a, b) == {"repositories missing": ["library/b"], "repositories moved": ["library/a"],
                                         "users missing": [], "users changed": ["u"], "users reset": ["admin"]}
    assert not any(migrate.differences(a, a).values())


def test_only_flushed_blobs_enter_the_journal(source: Path, target: Path) -> None:
    from harborbook.migrate.copy import settle

    inv = migrate.scan(source)
    digest = max(inv.blobs, key=inv.blobs.get)
    journal = migrate.Journal(target)
    outcome = migrate.copy_blob(source, target, digest, inv.blobs[digest], journal=journal, durable=False)
    assert outcome.action == "copied" and outcome.settle
    assert blob_path(target, digest).read_bytes() == blob_path(source, digest).read_bytes()
    st = blob_path(target, digest).stat()
    assert not migrate.Journal(target).verified(digest, st)  # a crash now: the next run hashes it again
    settle(target, [outcome], journal)
    assert migrate.Journal(target).verified(digest, st)
    again = migrate.copy_blob(source, target, digest, inv.blobs[digest], journal=migrate.Journal(target))
    assert (again.action, again.detail) == ("present", "verified by an earlier run")


def test_an_interrupted_copy_journals_what_it_published(source: Path, target: Path) -> None:
    inv = migrate.scan(source)
    stop = threading.Event()
    seen = [0]
    largest = max(inv.blobs.values())

    def progress(n: int) -> None:
        seen[0] += n
        if seen[0] > largest:  # the largest blob (copied first) is done; the next one is cut
            stop.set()

    first = migrate.copy_blobs(source, target, inv.blobs, parallel=1, journal=migrate.Journal(target),
                               progress=progress, stop=stop)
    assert first.interrupted
    done = [o for o in first.outcomes if o.action == "copied"]
    assert len(done) >= 1
    journal = migrate.Journal(target)
    for o in done:
        assert journal.verified(o.digest, blob_path(target, o.digest).stat())
