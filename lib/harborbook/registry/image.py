"""A small generated image: one layer, a config and a manifest, with their digests.

A registry identifies everything by ``sha256:<hex>`` of the exact bytes it stores, so the
bytes must be produced once and kept: the manifest digest is the digest of the manifest
bytes we send, not of some re-serialisation. We serialise JSON canonically (sorted keys, no
whitespace) and build the layer deterministically (gzip and tar with fixed times), so the same
inputs give the same digests and a test can predict them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# Media types per manifest flavour: (manifest, config, layer).
FLAVOURS: dict[str, tuple[str, str, str]] = {
    "docker": (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER),
    "oci": (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER),
}

# What a pull asks for: every single-image manifest type we can read.
ACCEPT_MANIFESTS = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST))


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>``, the registry's content address of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> bytes:
    """Canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def is_digest(text: str) -> bool:
    algo, _, hexpart = text.partition(":")
    return algo == "sha256" and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class Image:
    """What a push sends and a pull must give back, byte for byte."""

    manifest_type: str
    manifest: bytes
    config: Blob
    layer: Blob
    diff_id: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, Blob]:
        return (self.layer, self.config)


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (path -> content), deterministic (mtime 0, root owner)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[path]))
    return out.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a zero timestamp, so the compressed digest depends only on ``data``."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def image_config(diff_id: str, created: str, architecture: str = "amd64") -> dict[str, object]:
    return {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["/harborbook-probe"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }


def manifest_document(flavour: str, config: Blob, layer: Blob) -> dict[str, object]:
    manifest_type = FLAVOURS[flavour][0]
    return {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }


def build_image(marker: str, created: str, flavour: str = "docker") -> Image:
    """A one-layer image whose single file holds ``marker`` (make it unique per run).

    ``created`` is the RFC 3339 creation time written into the config; it is an input so that
    the digests are a pure function of the arguments.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown manifest flavour {flavour!r} (one of {sorted(FLAVOURS)})")
    manifest_type, config_type, layer_type = FLAVOURS[flavour]
    tar = layer_tar({"harborbook-probe.txt": f"harborbook probe {marker}\n".encode("utf-8")})
    diff_id = sha256_digest(tar)
    layer = Blob(layer_type, gzip_bytes(tar))
    config = Blob(config_type, canonical_json(image_config(diff_id, created)))
    manifest = canonical_json(manifest_document(flavour, config, layer))
    return Image(manifest_type, manifest, config, layer, diff_id)


def manifest_blob_digests(manifest: bytes) -> list[str]:
    """The config and layer digests a manifest references (config first)."""
    doc = json.loads(manifest)
    digests = [doc["config"]["digest"]] if "config" in doc else []
    return digests + [layer["digest"] for layer in doc.get("layers", [])]
