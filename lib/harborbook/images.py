"""The lab's image catalog, as data: one entry per container image the runbooks deploy.

Both sides need it: the runbooks' lints check that a manifest mounts its config where the image
reads it (the 2017 registry mountPath bug), and the lab decides from it which pods get a real
process and which image pulls fail (an image missing here is ``ErrImagePull`` in the lab).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    repository: str                 # "vmware/registry"
    tags: tuple[str, ...]           # tags the lab can "pull"
    config_path: str | None         # the file the program reads at start, inside the container
    ports: tuple[int, ...]          # container ports it listens on
    health_path: str | None         # HTTP path that answers 200 when it is healthy
    real_process: bool              # the lab runs a real program for its pods
    program: str                    # what runs it in the lab (documentation for operators)

    def refs(self) -> tuple[str, ...]:
        return tuple(f"{self.repository}:{tag}" for tag in self.tags)


CATALOG: tuple[Image, ...] = (
    Image("vmware/harbor-adminserver", ("v1.2.0",), None, (80,), "/api/ping", False, "simulated"),
    Image("vmware/harbor-ui", ("v1.2.0",), "/etc/ui/app.conf", (80,), "/api/ping", True,
          "harborlab ui stand-in (aiohttp)"),
    Image("vmware/harbor-jobservice", ("v1.2.0",), "/etc/jobservice/app.conf", (80,), None, False,
          "simulated"),
    Image("vmware/registry", ("2.6.2-photon",), "/etc/registry/config.yml", (5000,), "/", True,
          "docker-registry serve (Debian)"),
    Image("vmware/nginx-photon", ("1.11.13",), "/etc/nginx/nginx.conf", (80, 443), "/", True,
          "nginx (Debian)"),
    Image("busybox", ("latest", "1.36", "1.36.1"), None, (), None, False, "simulated"),
)

_DEFAULT_REGISTRY_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/library/",
                              "index.docker.io/", "library/")


def normalize(ref: str) -> str:
    """``docker.io/library/busybox`` -> ``busybox:latest``; digests are kept as they are."""
    ref = ref.strip()
    for prefix in _DEFAULT_REGISTRY_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        ref += ":latest"
    return ref


_BY_REF = {ref: image for image in CATALOG for ref in image.refs()}


def lookup(ref: str) -> Image | None:
    """The catalog entry for an image reference, or None when the lab does not have it."""
    return _BY_REF.get(normalize(ref))


__all__ = ["CATALOG", "Image", "lookup", "normalize"]
