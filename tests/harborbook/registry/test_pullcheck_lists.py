"""verify_tag on a tag that is a manifest list, against a real distribution registry (docker-registry):
each image the list names is checked, and a bad one is named."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harborbook.registry import RegistryClient
from harborbook.registry.image import build_image, canonical_json
from harborbook.registry.pullcheck import DOCKER_LIST, verify_tag
from tests.harborbook.migrate.test_registry_probe import registry
from tests.harborbook.migrate.trees import blob_path

pytestmark = pytest.mark.lab  # needs the Debian package docker-registry

REPO = "library/multi"


def _push_list(url: str) -> dict:
    """Two images pushed by digest, then a list of both under the tag ``multi``."""
    client = RegistryClient(url)
    images = {arch: build_image(f"list-{arch}", "2017-10-01T00:00:00Z") for arch in ("amd64", "arm64")}
    for image in images.values():
        client.push(REPO, image.digest, image)
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": image.manifest_type, "size": len(image.manifest), "digest": image.digest,
         "platform": {"architecture": arch, "os": "linux"}} for arch, image in images.items()]}
    listed = canonical_json(doc)
    client.put_manifest(REPO, "multi", listed, DOCKER_LIST)
    return {"list": "sha256:" + hashlib.sha256(listed).hexdigest(), "images": images, "bytes": listed}


def test_a_manifest_list_is_checked_image_by_image(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    with registry(root, tmp_path) as url:
        pushed = _push_list(url)
        check = verify_tag(RegistryClient(url), REPO, "multi", pushed["list"])
    assert check.ok, check.problems
    assert check.served == pushed["list"]  # the list itself, not one platform's image
    assert check.blobs == 4  # config and layer of each image
    images = pushed["images"].values()
    assert check.bytes == len(pushed["bytes"]) + sum(len(i.manifest) + i.config.size + i.layer.size for i in images)


def test_a_bad_layer_of_one_image_in_a_list_is_named_with_its_platform(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    with registry(root, tmp_path) as url:
        pushed = _push_list(url)
        arm = pushed["images"]["arm64"]
        path = blob_path(root, arm.layer.digest)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
        check = verify_tag(RegistryClient(url), REPO, "multi", pushed["list"])
    assert not check.ok
    assert check.bad_blobs == (arm.layer.digest,)
    assert any("(linux/arm64)" in p and arm.layer.digest in p and "hash to" in p for p in check.problems), check.problems


def test_an_image_missing_from_a_list_is_named(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    with registry(root, tmp_path) as url:
        pushed = _push_list(url)
        amd = pushed["images"]["amd64"]
        blob_path(root, amd.digest).unlink()  # the image's manifest is gone from the store
        check = verify_tag(RegistryClient(url), REPO, "multi", pushed["list"])
    assert not check.ok
    assert any(p.startswith(amd.digest[:19]) and "(linux/amd64)" in p and "pull failed" in p for p in check.problems), \
        check.problems
