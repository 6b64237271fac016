"""The registry tree through a backup and back, on plain directories: blobs checked against their
digests on the way in, every file against backup.json on the way out, and a damaged blob named
with the tags it breaks. Also the drill's scratch names, which must never be the live ones."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harborbook import params as params_mod
from harborbook.backup import crypto, store
from harborbook.backup.capture import copy_tree, tag_refs
from harborbook.backup.manifest import Manifest, blob_path
from harborbook.backup.restore import restore_tree
from harborbook.backup.target import DirectoryTarget
from harborbook.errors import RunbookError

ROOT = Path(__file__).resolve().parents[3]


def put_blob(tree: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = tree / blob_path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def registry_tree(tree: Path) -> tuple[str, str, str]:
    """One image library/app:1 (config, layer, manifest), distribution's layout; its digests."""
    config = put_blob(tree, b'{"architecture":"amd64"}')
    layer = put_blob(tree, b"layer bytes " * 1000)
    manifest = put_blob(tree, json.dumps({"schemaVersion": 2, "config": {"digest": config},
                                          "layers": [{"digest": layer}]}).encode())
    link = tree / "docker/registry/v2/repositories/library/app/_manifests/tags/1/current/link"
    link.parent.mkdir(parents=True)
    link.write_text(manifest)
    upload = tree / "docker/registry/v2/repositories/library/app/_uploads/x/data"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"half an upload")
    return config, layer, manifest


def backed_up(tmp_path: Path) -> tuple[DirectoryTarget, crypto.Keyring, Manifest, str]:
    tree = tmp_path / "tree"
    _, layer, digest = registry_tree(tree)
    target, ring = DirectoryTarget(tmp_path / "target"), crypto.Keyring("k", log2_n=10)
    m = Manifest("harbor-20260101T000000Z", "2026-01-01T00:00:00+00:00")
    m.tags = tag_refs(tree)
    m.files = copy_tree(tree, target, f"{m.name}/registry/", ring)
    assert [(t.repository, t.tag, t.digest) for t in m.tags] == [("library/app", "1", digest)]
    return target, ring, m, layer


def test_tree_round_trip_skips_uploads(tmp_path):
    target, ring, m, _ = backed_up(tmp_path)
    assert not [n for n in m.files if "_uploads" in n]
    restored, problems = restore_tree(target, m, ring, tmp_path / "back", uid=-1, gid=-1)
    assert problems == [] and restored == len(m.files) == 4
    for name in m.files:
        relative = name.split("/registry/", 1)[1]
        assert (tmp_path / "back" / relative).read_bytes() == (tmp_path / "tree" / relative).read_bytes()


def test_a_damaged_blob_is_named_with_its_tag_and_the_rest_restored(tmp_path):
    target, ring, m, layer = backed_up(tmp_path)
    stored = tmp_path / "target" / m.name / "registry" / blob_path(layer)
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0x01
    stored.write_bytes(bytes(data))
    restored, problems = restore_tree(target, m, ring, tmp_path / "back", uid=-1, gid=-1)
    assert restored == 3
    assert [(p.blob, p.tags) for p in problems] == [(layer, ("library/app:1",))]
    assert "failed authentication" in problems[0].problem
    assert not (tmp_path / "back" / blob_path(layer)).exists()  # nothing half-written left in place


def test_a_blob_that_does_not_match_its_digest_is_not_backed_up(tmp_path):
    tree = tmp_path / "tree"
    registry_tree(tree)
    fake = "sha256:" + "ab" * 32
    path = tree / blob_path(fake)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not what the digest says")
    with pytest.raises(store.DigestMismatch, match="hash to"):
        copy_tree(tree, DirectoryTarget(tmp_path / "t"), "b/registry/", crypto.Keyring("k", log2_n=10))


def sandbox_with_backup(tmp_path: Path, drill: str = "") -> params_mod.Params:
    text = (ROOT / "params" / "example-backup.yaml").read_text().replace("../.lab/", f"{ROOT}/.lab/")
    if drill:
        text = text.replace("    root: /apps/harbor-drill", drill)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return params_mod.load(path)


def test_scratch_params_change_only_the_names(tmp_path):
    from harborbook.steps.backup import scratch_params

    live = sandbox_with_backup(tmp_path)
    scratch = scratch_params(live)
    assert scratch.cluster.namespace == "harbor-drill" and scratch.harbor.node_port == 31778
    assert scratch.harbor.hostname == "127.0.0.1:31778"
    assert scratch.database.target.database == "registry_drill" and scratch.storage.root == "/apps/harbor-drill"
    assert scratch.database.target.endpoints == live.database.target.endpoints
    assert scratch.redis == live.redis and scratch.harbor.admin_password == live.harbor.admin_password


@pytest.mark.parametrize("drill", ["    root: /apps/harbor-k8s", "    root: /apps/harbor-k8s/drill", "    root: /apps",
                                   "    root: /"])
def test_scratch_params_refuse_the_live_names(tmp_path, drill):
    from harborbook.steps.backup import scratch_params

    with pytest.raises(RunbookError, match="backup.drill uses the live deployment's root"):
        scratch_params(sandbox_with_backup(tmp_path, drill))
