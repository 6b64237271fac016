"""The tag check and the write probe against a real distribution registry serving a tree we wrote.

``docker-registry`` (Debian's distribution) serves the tree from its filesystem driver, exactly
as the old Harbor's registry container does; read-only mode is distribution's own
``storage.maintenance.readonly``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from harborbook import migrate
from harborbook.registry import RegistryClient
from harborbook.registry.pullcheck import verify_tag

from .trees import blob_path, push

pytestmark = pytest.mark.lab  # needs the Debian package docker-registry

BINARY = shutil.which("docker-registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def registry(root: Path, tmp: Path, readonly: bool = False) -> Iterator[str]:
    if BINARY is None:
        pytest.skip("docker-registry is not installed (Debian package docker-registry)")
    port = _free_port()
    config = tmp / f"config-{port}.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage:\n  filesystem: {{rootdirectory: {root}}}\n  delete: {{enabled: true}}\n"
        f"  maintenance: {{readonly: {{enabled: {str(readonly).lower()}}}, uploadpurging: {{enabled: false}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n")
    proc = subprocess.Popen([BINARY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"docker-registry did not start: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "data" / "registry"
    pushed = push(root, "library/app", "v1", "probe", b"layer bytes " * 5000)
    return root, pushed


def test_verify_tag_passes_on_the_same_content(tree, tmp_path: Path) -> None:
    root, pushed = tree
    with registry(root, tmp_path) as url:
        check = verify_tag(RegistryClient(url), "library/app", "v1", pushed["manifest"])
    assert check.ok, check.problems
    assert check.served == pushed["manifest"] and check.blobs == 3
    assert check.bytes > 60_000


def test_verify_tag_names_a_wrong_digest_and_a_missing_tag(tree, tmp_path: Path) -> None:
    root, pushed = tree
    other = "sha256:" + "0" * 64
    with registry(root, tmp_path) as url:
        wrong = verify_tag(RegistryClient(url), "library/app", "v1", other)
        missing = verify_tag(RegistryClient(url), "library/app", "v9", pushed["manifest"])
    assert not wrong.ok and f"!= {other}" in wrong.problems[0]
    assert not missing.ok and "pull failed" in missing.problems[0] and "404" in missing.problems[0]


def test_verify_tag_names_a_blob_served_with_other_bytes(tree, tmp_path: Path) -> None:
    root, pushed = tree
    layer = pushed["layers"][-1]
    path = blob_path(root, layer)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with registry(root, tmp_path) as url:
        check = verify_tag(RegistryClient(url), "library/app", "v1", pushed["manifest"])
    assert not check.ok
    assert any(layer in p and "hash to" in p for p in check.problems), check.problems


def test_the_write_probe_tells_writable_read_only_and_stopped(tree, tmp_path: Path) -> None:
    root, _ = tree
    with registry(root, tmp_path) as url:
        writable = migrate.probe_writes(RegistryClient(url), "library/app")
    assert writable.refused is False and writable.status == 202
    # Cancelled: distribution's DELETE removes the upload's data and startedat (it leaves the
    # empty hash state directory to its upload purging).
    left = [p.name for p in (root / "docker/registry/v2/repositories/library/app/_uploads").rglob("*") if p.is_file()]
    assert "data" not in left and "startedat" not in left, left
    with registry(root, tmp_path, readonly=True) as url:
        frozen = migrate.probe_writes(RegistryClient(url), "library/app")
        still_pulls = verify_tag(RegistryClient(url), "library/app", "v1", tree[1]["manifest"])
    assert frozen.refused is True and frozen.status not in (202, None), frozen
    assert still_pulls.ok
    stopped = migrate.probe_writes(RegistryClient(url), "library/app")
    assert stopped.refused is True and stopped.status is None and "does not answer" in stopped.detail
