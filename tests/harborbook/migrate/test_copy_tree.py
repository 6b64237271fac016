"""copy_tree: a blob's links are written while the copy goes on, a tag's only once all is there."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.migrate import layout
from harborbook.migrate.source import LocalSource

from .trees import blob_path, files, push, put_blob


class Watching(LocalSource):
    """A local source that notes, each time the copy asks for blobs, which link files the target holds."""

    def __init__(self, root: Path, target: Path):
        super().__init__(root)
        self.target = target
        self.seen: list[tuple[list[str], set[str]]] = []  # (digests asked for, link files there then)

    @contextlib.contextmanager
    def blobs(self, items):
        there = {str(p.relative_to(self.target)) for p in self.target.rglob("link")}
        self.seen.append(([d for d, _ in items], there))
        with super().blobs(items) as stream:
            yield stream


def tree(tmp_path: Path) -> tuple[Path, Path, dict]:
    old = tmp_path / "old"
    base = os.urandom(400_000)
    push(old, "library/alpine", "3.6", "a", base)
    image = push(old, "project1/app", "v1", "b", os.urandom(200_000))
    target = tmp_path / "target"
    target.mkdir()
    return old, target, image


def links(target: Path) -> dict[str, bytes]:
    return {k: v for k, v in files(target).items() if k.endswith("/link")}


def test_a_blobs_links_come_during_the_copy_and_the_tags_after_it(tmp_path: Path) -> None:
    old, target, _ = tree(tmp_path)
    src = Watching(old, target)
    inv = migrate.scan(src)
    report, linked = migrate.copy_tree(src, target, inv, parallel=1, journal=migrate.Journal(target))
    assert report.counts() == {"copied": len(inv.blobs)} and sorted(linked.tags_linked) == [
        "library/alpine:3.6", "project1/app:v1"]
    # One blob at a time, largest first: by the last request the links of the earlier blobs are there.
    asked_last, there = src.seen[-1]
    assert any("/_layers/" in p for p in there), "no layer link was written while blobs were still copied"
    assert not any(p.endswith("/current/link") for p in there), "a tag appeared before all its blobs"
    # The same link files, with the same bytes, as the source's; each counted once.
    expected = {k: v for k, v in links(old).items() if "_uploads" not in k}
    assert links(target) == expected and linked.written == len(expected) and linked.unchanged == 0


def test_a_second_copy_writes_nothing(tmp_path: Path) -> None:
    old, target, _ = tree(tmp_path)
    inv = migrate.scan(old)
    migrate.copy_tree(old, target, inv, parallel=4, journal=migrate.Journal(target))
    report, linked = migrate.copy_tree(old, target, inv, parallel=4, journal=migrate.Journal(target))
    assert set(report.counts()) == {"present"} and linked.written == 0 and linked.unchanged == len(links(target))


def test_a_corrupt_blob_gets_no_link_and_its_tag_none(tmp_path: Path) -> None:
    old, target, image = tree(tmp_path)
    bad = image["layers"][-1]
    blob_path(old, bad).write_bytes(b"not what the digest says")
    inv = migrate.scan(old)
    report, linked = migrate.copy_tree(old, target, inv, parallel=2, journal=migrate.Journal(target))
    assert [b.digest for b in report.bad()] == [bad]
    assert not layout.layer_link(target, "project1/app", bad).exists()
    assert not layout.tag_current_link(target, "project1/app", "v1").exists()
    assert linked.tags_linked == ["library/alpine:3.6"] and linked.tags_skipped == {"project1/app:v1": [bad]}


def test_a_flush_that_fails_while_the_copy_goes_on_stops_it_with_that_error(tmp_path: Path, monkeypatch) -> None:
    from harborbook.migrate import copy as copy_mod

    old, target, _ = tree(tmp_path)
    inv = migrate.scan(old)
    monkeypatch.setattr(copy_mod, "SETTLE_BYTES", 1)  # every published blob is a batch for the settler

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(copy_mod, "settle", full)
    with pytest.raises(OSError, match="No space left"):
        migrate.copy_blobs(old, target, inv.blobs, parallel=2, journal=migrate.Journal(target))
    assert not migrate.Journal(target).path.exists() or migrate.Journal(target).path.read_text() == ""


class FailingAt(LocalSource):
    """A local source whose stream breaks at one blob (as a lost disk or connection would); notes what was asked."""

    def __init__(self, root: Path, broken: str):
        super().__init__(root)
        self.broken = broken
        self.asked: list[str] = []

    @contextlib.contextmanager
    def blobs(self, items):
        self.asked += [d for d, _ in items]
        if self.broken in self.asked:
            raise OSError(5, "Input/output error")
        with super().blobs(items) as stream:
            yield stream


@pytest.mark.parametrize("parallel", [1, 2])
def test_the_first_error_stops_the_copy_no_blob_starts_after_it(tmp_path: Path, parallel: int) -> None:
    old, target, _ = tree(tmp_path)
    for n in range(40):  # many small blobs after the failing one, each quick to copy
        put_blob(old, os.urandom(100) + bytes([n]))
    inv = migrate.scan(old)
    largest_first = sorted(inv.blobs, key=lambda d: (-inv.blobs[d], d))
    src = FailingAt(old, broken=largest_first[1])
    with pytest.raises(OSError, match="Input/output error"):
        migrate.copy_blobs(src, target, inv.blobs, parallel=parallel, journal=migrate.Journal(target))
    # The workers already busy may finish their blob; none takes a new one once the error is raised.
    assert len(src.asked) <= 1 + parallel, f"{len(src.asked)} blobs asked for after the failure at the second"


def test_a_job_stopped_on_request_or_cancelled_is_no_failure_an_error_is() -> None:
    from concurrent.futures import Future

    from harborbook.migrate.copy import Stopped, _failure

    ok, stopped, cancelled, broken = Future(), Future(), Future(), Future()
    ok.set_result(None)
    stopped.set_exception(Stopped())
    cancelled.cancel()
    error = OSError(28, "No space left on device")
    broken.set_exception(error)
    assert _failure([ok, stopped, cancelled]) is None
    assert _failure([ok, stopped, cancelled, broken]) is error
