"""Digests, canonical bytes and the generated image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from harborbook.registry import DOCKER_MANIFEST, OCI_MANIFEST, Pulled, build_image, canonical_json, compare_pull
from harborbook.registry import is_digest, sha256_digest
from harborbook.registry.image import manifest_blob_digests

CREATED = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 10], ids=["empty", "abc", "binary"])
def test_sha256_digest_is_hashlib(data):
    assert sha256_digest(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert is_digest(sha256_digest(data))


@pytest.mark.parametrize(
    "text", ["sha256:abc", "md5:" + "0" * 64, "sha256:" + "G" * 64, "sha256:" + "A" * 64, ""],
    ids=["short", "other-algo", "not-hex", "upper-case", "empty"],
)
def test_is_digest_rejects(text):
    assert not is_digest(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"b": 1, "a": [1, 2]}, b'{"a":[1,2],"b":1}'),
     ({"x": {"z": 1, "y": "é"}}, '{"x":{"y":"é","z":1}}'.encode("utf-8"))],
    ids=["sorted-compact", "nested-utf8"],
)
def test_canonical_json(value, expected):
    assert canonical_json(value) == expected


def test_canonical_json_ignores_insertion_order():
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


@pytest.mark.parametrize(("flavour", "media_type"), [("docker", DOCKER_MANIFEST), ("oci", OCI_MANIFEST)])
def test_build_image_is_consistent(flavour, media_type):
    image = build_image("run-1", CREATED, flavour)
    doc = json.loads(image.manifest)
    assert image.manifest_type == media_type == doc["mediaType"]
    assert image.manifest == canonical_json(doc)  # the bytes we send are the canonical ones
    assert doc["config"] == {"mediaType": image.config.media_type, "size": len(image.config.data),
                             "digest": sha256_digest(image.config.data)}
    assert doc["layers"] == [{"mediaType": image.layer.media_type, "size": len(image.layer.data),
                              "digest": sha256_digest(image.layer.data)}]
    assert manifest_blob_digests(image.manifest) == [image.config.digest, image.layer.digest]
    # The config's diff_id is the digest of the uncompressed layer, as a runtime checks it.
    tar = gzip.decompress(image.layer.data)
    assert json.loads(image.config.data)["rootfs"]["diff_ids"] == [sha256_digest(tar)] == [image.diff_id]
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        assert archive.extractfile("harborbook-probe.txt").read() == b"harborbook probe run-1\n"


def test_build_image_is_deterministic_and_unique_per_marker():
    assert build_image("a", CREATED).digest == build_image("a", CREATED).digest
    assert build_image("a", CREATED).layer.digest != build_image("b", CREATED).layer.digest
    assert build_image("a", CREATED).digest != build_image("a", "2026-01-02T00:00:00Z").digest


def test_build_image_rejects_unknown_flavour():
    with pytest.raises(ValueError, match="flavour"):
        build_image("a", CREATED, "schema1")


def _pulled(image, **changes):
    blobs = {b.digest: b.data for b in image.blobs}
    blobs.update(changes.pop("blobs", {}))
    fields = {"manifest": image.manifest, "content_type": image.manifest_type,
              "header_digest": image.digest, "blobs": blobs}
    fields.update(changes)
    return Pulled(**fields)


def test_compare_pull_identical():
    image = build_image("same", CREATED)
    assert compare_pull(image, _pulled(image)) == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"manifest": b"{}"}, "manifest digest"),
        ({"header_digest": "sha256:" + "0" * 64}, "Docker-Content-Digest"),
        ("layer-bytes", "differ"),
        ("layer-missing", "was not pulled"),
    ],
    ids=["manifest-bytes", "header-digest", "layer-bytes", "layer-missing"],
)
def test_compare_pull_reports_each_difference(change, needle):
    image = build_image("diff", CREATED)
    if change == "layer-bytes":
        pulled = _pulled(image, blobs={image.layer.digest: b"tampered"})
    elif change == "layer-missing":
        pulled = _pulled(image)
        del pulled.blobs[image.layer.digest]
    else:
        pulled = _pulled(image, **change)
    problems = compare_pull(image, pulled)
    assert len(problems) == 1 and needle in problems[0]
