"""Small registry trees written the way distribution's filesystem driver lays them out."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harborbook.registry.image import Blob, DOCKER_LAYER, build_image, canonical_json

V2 = ("docker", "registry", "v2")


def _v2(root: Path) -> Path:
    return root.joinpath(*V2)


def put_blob(root: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    hexpart = digest[7:]
    path = _v2(root) / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _link(path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest)


def push(root: Path, repo: str, tag: str, marker: str, extra_layer: bytes | None = None) -> dict:
    """Write an image as a registry would after a push; returns its digests."""
    image = build_image(marker, "2017-10-01T00:00:00Z")
    layers = [image.layer] + ([Blob(DOCKER_LAYER, extra_layer)] if extra_layer is not None else [])
    doc = {"schemaVersion": 2, "mediaType": image.manifest_type, "config": image.config.descriptor(),
           "layers": [b.descriptor() for b in layers]}
    manifest = canonical_json(doc)
    blobs = [put_blob(root, b.data) for b in (image.config, *layers)]
    mdigest = put_blob(root, manifest)
    base = _v2(root) / "repositories" / repo
    for d in blobs:
        _link(base / "_layers" / "sha256" / d[7:] / "link", d)
    _link(base / "_manifests" / "revisions" / "sha256" / mdigest[7:] / "link", mdigest)
    _link(base / "_manifests" / "tags" / tag / "index" / "sha256" / mdigest[7:] / "link", mdigest)
    _link(base / "_manifests" / "tags" / tag / "current" / "link", mdigest)
    return {"manifest": mdigest, "blobs": blobs, "layers": blobs[1:], "config": blobs[0]}


def blob_path(root: Path, digest: str) -> Path:
    return _v2(root) / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data"


def files(root: Path) -> dict[str, bytes]:
    """Every file below the v2 tree (relative path -> bytes), for comparing trees."""
    base = _v2(root)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}
