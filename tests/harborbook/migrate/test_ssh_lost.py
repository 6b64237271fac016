"""A connection to the old host lost in the middle of the bulk copy (the ssh process killed, as a
network drop ends it): the copy fails with an error that says so and what to do, publishes
nothing partial, keeps every blob it verified (flushed and journaled), and a re-run over a new
connection copies only the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harborbook import migrate
from harborbook.migrate.copy import TMP_PREFIX
from harborbook.migrate.sshsource import SshError

from .sshd import Sshd, connect
from .trees import push

pytestmark = pytest.mark.lab  # needs root and Debian's openssh-server


def test_a_connection_lost_mid_copy_says_so_keeps_what_was_verified_and_resumes(server: Sshd,
                                                                               tmp_path: Path) -> None:
    source = tmp_path / "old"
    push(source, "library/small", "1", "a", os.urandom(200_000))
    push(source, "project1/big", "1", "b", os.urandom(8_000_000))  # largest first: streamed first
    push(source, "project1/mid", "1", "c", os.urandom(3_000_000))
    target = tmp_path / "target"
    target.mkdir()
    inv = migrate.scan(source)
    seen = [0]
    src = connect(server, source)

    def progress(n: int) -> None:
        seen[0] += n
        if seen[0] > 9_000_000 and src._master is not None and src._master.poll() is None:
            src._master.kill()  # the 8 MB layer is published; the connection drops in the 3 MB one

    with src, pytest.raises(SshError) as lost:
        migrate.copy_blobs(src, target, inv.blobs, parallel=1, journal=migrate.Journal(target), progress=progress)
    message = str(lost.value) + " " + (lost.value.hint or "")
    assert "broke" in message or "lost" in message, message
    assert "run the step again" in message, message

    # Nothing partial under a real name, no temporary file left, and what was verified is journaled.
    assert list(target.rglob(TMP_PREFIX + "*")) == []
    published = {p.parent.name for p in target.rglob("data")}
    for p in target.rglob("data"):
        assert p.read_bytes() == (source / p.relative_to(target)).read_bytes()
    journal = migrate.Journal(target)
    journaled = {line.split()[0].removeprefix("sha256:") for line in journal.path.read_text().splitlines()}
    assert published and published == journaled
    assert len(published) < len(inv.blobs), "the connection was lost only after the whole copy"

    with connect(server, source) as again:
        resumed = migrate.copy_blobs(again, target, inv.blobs, parallel=1, journal=migrate.Journal(target))
    counts = resumed.counts()
    assert counts == {"present": len(published), "copied": len(inv.blobs) - len(published)}, counts
    assert all(o.detail == "verified by an earlier run" for o in resumed.outcomes if o.action == "present")
