"""The same contract for every node-shell transport: run, read, write (atomic, with backups)."""

from __future__ import annotations

import pytest

from harborbook.nodeshell import NodeShellError, backup_path

pytestmark = pytest.mark.lab


def test_run_returns_rc_and_streams(shell):
    sh, _ = shell
    assert sh.run(["sh", "-c", "echo out; echo err >&2"]) == (0, "out\n", "err\n")
    rc, _, err = sh.run(["sh", "-c", "echo bad >&2; exit 3"], check=False)
    assert (rc, err) == (3, "bad\n")
    with pytest.raises(NodeShellError, match="exit status 3: bad"):
        sh.run(["sh", "-c", "echo bad >&2; exit 3"])


def test_write_read_backup_mode(shell):
    sh, scratch = shell
    path = f"{scratch}/kubelet.conf"
    assert sh.write(path, "first\n", mode=0o640) is None
    assert sh.read(path) == "first\n"
    saved = sh.write(path, "second with 5% and 'quotes'\n")
    assert saved and saved.startswith(path + ".harborbook-")
    assert sh.read(saved) == "first\n"
    assert sh.read(path) == "second with 5% and 'quotes'\n"
    assert sh.run(["stat", "-c", "%a", path])[1].strip() == "640"
    assert sh.run(["sh", "-c", f"ls -a {scratch} | grep -c harborbook-tmp || true"])[1].strip() == "0"


def test_write_failing_half_way_leaves_the_original(shell, monkeypatch):
    sh, scratch = shell
    path = f"{scratch}/keep.conf"
    sh.write(path, "original\n", backup=False)
    real_run = sh.run

    def failing(argv, check=True):
        if argv[:2] == ["mv", "-f"]:
            raise NodeShellError("simulated failure before the rename")
        return real_run(argv, check)
    monkeypatch.setattr(sh, "run", failing)
    with pytest.raises(NodeShellError):
        sh.write(path, "half-written\n")
    monkeypatch.undo()
    assert sh.read(path) == "original\n"
    assert sh.run(["sh", "-c", f"ls -a {scratch} | grep -c harborbook-tmp || true"])[1].strip() == "0"


def test_read_missing_file_is_an_error(shell):
    sh, scratch = shell
    with pytest.raises(NodeShellError, match="cannot read"):
        sh.read(f"{scratch}/missing")


@pytest.mark.parametrize("now, expected", [(0, ".harborbook-19700101T000000"),
                                           (1700000000, ".harborbook-20231114T221320")], ids=["epoch", "2023"])
def test_backup_path(now, expected):
    assert backup_path("/etc/x.conf", now) == "/etc/x.conf" + expected
