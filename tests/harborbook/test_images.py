"""The image catalog: lookups with Docker's reference normalisation."""

from __future__ import annotations

import pytest

from harborbook import images


@pytest.mark.parametrize("ref,repository", [
    ("vmware/registry:2.6.2-photon", "vmware/registry"),
    ("docker.io/vmware/nginx-photon:1.11.13", "vmware/nginx-photon"),
    ("busybox", "busybox"),
    ("docker.io/library/busybox:1.36", "busybox"),
    ("vmware/harbor-ui:v1.2.0", "vmware/harbor-ui"),
], ids=["registry", "docker-io-prefix", "implicit-latest", "library-prefix", "ui"])
def test_known_images(ref, repository):
    assert images.lookup(ref).repository == repository


@pytest.mark.parametrize("ref", ["vmware/registry:2.6.1", "nginx:1.25", "registry.example.com/busybox",
                                 "vmware/harbor-ui"], ids=["other-tag", "other-repo", "other-registry",
                                                           "ui-latest"])
def test_unknown_images(ref):
    assert images.lookup(ref) is None


def test_registry_reads_etc_registry_config():
    assert images.lookup("vmware/registry:2.6.2-photon").config_path == "/etc/registry/config.yml"
    assert images.lookup("vmware/nginx-photon:1.11.13").config_path == "/etc/nginx/nginx.conf"
