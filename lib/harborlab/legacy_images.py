"""The generated images of the lab's legacy Harbor: which repositories and tags, and their bytes.

Everything is a pure function of names, so the same N gives the same tree on every machine
and a larger N only adds images (the first N tags of the plan never change):

- a repository's images share a *runtime* layer, and every image starts from one of three
  *base* layers, so blobs are shared between tags and between repositories, as real ones are;
- each version adds its own *app* layer; sizes run from a few KiB to a few MiB;
- a repository with several tags has ``latest`` pointing at its newest version (two tags,
  one manifest), as operators do.

Layers are real ``tar.gz`` files holding one file of seeded random bytes: a client that pulls
them can unpack them. The bytes are incompressible, so gzip stores them (level 0: valid gzip,
no wasted CPU). Manifests are Docker's image manifest v2, schema 2 (distribution
``docs/spec/manifest-v2-2.md``), and the config follows the image spec's JSON (rootfs.diff_ids
are the sha256 of the uncompressed tars).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TGZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"

KIB = 1024
MIB = 1024 * KIB

# Harbor's default public project, then the legacy install's own project (created with the lab's
# legacy users). The source database's sample repositories (sourcedb.SAMPLE_REPOSITORIES) come
# first so that every repository row of the source has its images.
NEW_PROJECT = "legacy-apps"
SAMPLE_REPOSITORIES = (
    "library/busybox",
    "library/nginx",
    "harbor-k8s/registry",
    "harbor-k8s/ui",
    "team-web/frontend",
    "team-web/api",
    "team-data/etl",
)
MORE_REPOSITORIES = (
    "library/alpine",
    f"{NEW_PROJECT}/billing",
    "library/redis",
    f"{NEW_PROJECT}/web",
    "library/postgres",
    f"{NEW_PROJECT}/worker",
    "library/python",
    f"{NEW_PROJECT}/reports",
)
# Tags per repository, cycled: most have one, some several.
TAGS_PER_REPOSITORY = (1, 3, 1, 2, 1, 4, 1, 1, 2)
BASES = 3


def repository_name(index: int) -> str:
    names = SAMPLE_REPOSITORIES + MORE_REPOSITORIES
    if index < len(names):
        return names[index]
    return f"{NEW_PROJECT}/service-{index - len(names) + 1:04d}"


def tag_names(count: int) -> list[str]:
    """``1.0``, ``1.1``, ... and, from two tags on, ``latest`` as the last one."""
    if count == 1:
        return ["1.0"]
    return [f"1.{i}" for i in range(count - 1)] + ["latest"]


@dataclass(frozen=True)
class Blob:
    digest: str
    data: bytes = field(repr=False)
    media_type: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Image:
    """One manifest with its config and layers."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (*self.layers, self.config)


@dataclass(frozen=True)
class PlannedTag:
    repository: str
    tag: str
    version: str  # the version whose image the tag names ("latest" names the newest)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plan(count: int) -> list[PlannedTag]:
    """The first ``count`` tags of the legacy install, repository by repository."""
    out: list[PlannedTag] = []
    index = 0
    while len(out) < count:
        repo = repository_name(index)
        names = tag_names(TAGS_PER_REPOSITORY[index % len(TAGS_PER_REPOSITORY)])
        newest = names[-2] if len(names) > 1 else names[0]
        for name in names:
            if len(out) == count:
                break
            out.append(PlannedTag(repo, name, newest if name == "latest" else name))
        index += 1
    return out


def _rng(key: str) -> random.Random:
    # Seeded by a string: random.Random hashes it with SHA-512, stable across runs and Pythons.
    return random.Random(f"harborlab-legacy:{key}")


def _size(key: str, low: int, high: int) -> int:
    # Log-uniform: as many small layers as large ones.
    rng = _rng(f"size:{key}")
    return int(low * (high / low) ** rng.random())


def layer_tar(key: str, size: int) -> tuple[bytes, bytes]:
    """(the gzipped tar, the tar): one file of ``size`` seeded random bytes named after ``key``."""
    payload = _rng(f"bytes:{key}").randbytes(size)
    info = tarfile.TarInfo(name=f"opt/legacy/{key.replace('/', '_').replace(':', '_')}.bin")
    info.size = size
    info.mtime = 1506816000  # 2017-10-01, fixed for reproducible bytes
    info.mode = 0o644
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=0, mtime=0), tar_bytes


def _layer(key: str, low: int, high: int) -> tuple[Blob, str]:
    """A layer blob and its diff_id."""
    gz, tar_bytes = layer_tar(key, _size(key, low, high))
    return Blob(sha256_digest(gz), gz, LAYER_TGZ), sha256_digest(tar_bytes)


# Shared layers are cached (three bases; runtimes are used repository by repository).
@lru_cache(maxsize=BASES)
def _base(which: int) -> tuple[Blob, str]:
    return _layer(f"base-{which}", 512 * KIB, 3 * MIB)


def base_layer(index: int) -> tuple[Blob, str]:
    return _base(index % BASES)


@lru_cache(maxsize=16)
def runtime_layer(repository: str) -> tuple[Blob, str]:
    return _layer(f"runtime:{repository}", 16 * KIB, 1 * MIB)


def app_layer(key: str, low: int = 4 * KIB, high: int = 384 * KIB) -> tuple[Blob, str]:
    return _layer(f"app:{key}", low, high)


def assemble(repository: str, version: str, layers: list[tuple[Blob, str]]) -> Image:
    """The config and schema 2 manifest of an image made of ``layers`` (blob, diff_id)."""
    created = "2017-10-01T00:00:00Z"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {"org.harborlab.legacy": f"{repository}:{version}"},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
        "history": [{"created": created, "created_by": f"harborlab legacy layer {i}"} for i in range(len(layers))],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_blob = Blob(sha256_digest(config_bytes), config_bytes, CONFIG_V1)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": config_blob.size, "digest": config_blob.digest},
        "layers": [{"mediaType": blob.media_type, "size": blob.size, "digest": blob.digest} for blob, _ in layers],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    return Image(config_blob, tuple(blob for blob, _ in layers), manifest_bytes)


def image_for(repository: str, version: str) -> Image:
    """The image of ``repository`` at ``version`` in the planned install."""
    index = sum(ord(c) for c in repository)  # which base: stable, spread over the three
    return assemble(
        repository,
        version,
        [base_layer(index), runtime_layer(repository), app_layer(f"{repository}:{version}")],
    )


def pushed_image(repository: str, tag: str, size: int, seed: str | None = None) -> Image:
    """An image pushed later (``lab legacy push``): a shared base plus one new layer of ``size``
    bytes of payload, seeded by ``seed`` (default: the reference), so the same command gives the
    same digest and another seed moves the tag."""
    key = seed if seed is not None else f"{repository}:{tag}"
    payload, tar_bytes = layer_tar(f"pushed:{key}", size)
    layer = (Blob(sha256_digest(payload), payload, LAYER_TGZ), sha256_digest(tar_bytes))
    return assemble(repository, tag, [base_layer(0), layer])


__all__ = [
    "Blob",
    "Image",
    "MANIFEST_V2",
    "NEW_PROJECT",
    "PlannedTag",
    "image_for",
    "plan",
    "pushed_image",
    "repository_name",
    "sha256_digest",
]
