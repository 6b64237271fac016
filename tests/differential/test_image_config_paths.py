"""Differential: does each rendered container read the config file it is given?

Product side: ``harborbook.render`` with generated params variations (the registry's config mount
path, the 2017 ``/etc/docker/registry`` included; image references spelled several ways), judged
by the product's lint ``config_mounts`` (which uses the product's image catalog).
Lab side: the lab's own image table (``harborlab.images``, from Harbor 1.2's Dockerfiles and
entrypoints) says which file the container's program opens, given its command, args and env; the
lab's volume resolution (``harborlab.podrunner.volumes``) says which files the container sees,
with Linux path semantics. The lint passes a workload exactly when its program finds its config.
"""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import posixpath
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from harborbook import params as params_mod
from harborbook.render import Credentials, generate, render
from harborbook.render.lints import config_mounts
from harborlab import images
from harborlab.podrunner.environment import container_env
from harborlab.podrunner.volumes import Backing, plan_volumes
from harborlab.programs import CATALOG as LAB_PROGRAMS

from .masking import product_masking_untouched

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
NOWHERE = Path("/nonexistent/harborlab-differential")


@functools.cache
def world():
    # Not a fixture: a falsifying example must not print the generated token key.
    with product_masking_untouched():
        params = params_mod.load(ROOT / "params" / "sandbox.yaml")
        creds = Credentials(db_password="db-pw", admin_password="admin-pw", redis_password="redis-pw")
        return params, generate(NOW), creds


# -- the lab's view ---------------------------------------------------------------------------------------
def linux_path(path: str) -> str:
    """How the kernel (and runc, mounting into the rootfs) resolves an absolute path: repeated
    slashes are one, '.' is nothing. ('..' never gets here: the API server refuses it.)"""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def files_seen(pod: dict, container: dict, objects: dict) -> set[str]:
    """Every ConfigMap/Secret file ``container`` sees, by its path inside the container."""
    plan = plan_volumes(pod, lambda kind, ns, name: objects.get((kind, ns, name)), Backing(None, NOWHERE, NOWHERE))
    seen = set()
    for mount in container.get("volumeMounts") or []:
        files = plan.files.get(mount.get("name", ""), {})
        base, sub = mount.get("mountPath", ""), mount.get("subPath")
        for rel in files:
            if not sub:
                seen.add(linux_path(f"{base}/{rel}"))
            elif rel == sub:
                seen.add(linux_path(base))
            elif rel.startswith(sub.rstrip("/") + "/"):
                seen.add(linux_path(f"{base}/{rel[len(sub.rstrip('/')) + 1:]}"))
    return seen


def lab_verdicts(manifests: list[dict]) -> dict[str, bool]:
    """Deployment name -> its program finds its config (True also when it reads none)."""
    objects = {(o["kind"], o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in manifests}
    out = {}
    for obj in manifests:
        if obj["kind"] != "Deployment":
            continue
        pod = {"metadata": {"namespace": obj["metadata"].get("namespace", "default"), "name": "p"},
               "spec": obj["spec"]["template"]["spec"]}
        ok = True
        for container in pod["spec"]["containers"]:
            env = container_env(pod, container, lambda k, ns, n: objects.get((k, ns, n))).env
            path = images.config_path(container, env)
            ok = ok and (path is None or linux_path(path) in files_seen(pod, container, objects))
        out[obj["metadata"]["name"]] = ok
    return out


def product_verdicts(manifests: list[dict], allow_known_bugs: bool) -> dict[str, bool]:
    flagged = {f.object for f in config_mounts(manifests, None, allow_known_bugs)}
    return {o["metadata"]["name"]: f"Deployment/{o['metadata']['name']}" not in flagged
            for o in manifests if o["kind"] == "Deployment"}


# -- the property -----------------------------------------------------------------------------------------
MOUNT_PATHS = st.one_of(
    st.sampled_from(["/etc/registry", "/etc/docker/registry", "/etc/registry/", "//etc/registry",
                     "/etc//registry", "/etc/./registry", "///etc/registry", "/"]),
    st.from_regex(r"/[a-z]{1,8}(/[a-z]{1,8}){0,2}", fullmatch=True),
)


def spellings(ref: str, *others: str):
    return st.sampled_from([ref, f"docker.io/{ref}", f"index.docker.io/{ref}", *others])


IMAGES = st.fixed_dictionaries({
    "registry": spellings("vmware/registry:2.6.2-photon", "vmware/registry:2.6.1",
                          "vmware/registry-photon:v2.6.2-v1.4.0"),
    "nginx": spellings("vmware/nginx-photon:1.11.13", "nginx:1.25"),
    "ui": spellings("vmware/harbor-ui:v1.2.0", "vmware/harbor-ui:v1.3.0"),
    "jobservice": spellings("vmware/harbor-jobservice:v1.2.0"),
})


def rendered(mount: str, image_refs: dict, allow_known_bugs: bool) -> list[dict]:
    params, generated, creds = world()
    harbor = params.harbor.model_dump()
    harbor.update(registry_config_mount_path=mount, allow_known_bugs=allow_known_bugs,
                  images={**harbor["images"], **image_refs})
    with product_masking_untouched():
        new = params.model_copy(update={"harbor": type(params.harbor).model_validate(harbor)})
        return render(new, generated, creds)


@settings(max_examples=40, deadline=None)
@given(mount=MOUNT_PATHS, image_refs=IMAGES, allow_known_bugs=st.booleans())
@example(mount="/etc/registry", image_refs={}, allow_known_bugs=False)
@example(mount="/etc/docker/registry", image_refs={}, allow_known_bugs=True)    # the 2017 layout
@example(mount="//etc/registry", image_refs={}, allow_known_bugs=False)         # was a product false alarm
@example(mount="/etc/registry", image_refs={"registry": "docker.io/vmware/registry:2.6.2-photon"},
         allow_known_bugs=False)
def test_lint_passes_exactly_the_containers_that_find_their_config(mount, image_refs, allow_known_bugs):
    manifests = rendered(mount, image_refs, allow_known_bugs)
    assert product_verdicts(manifests, allow_known_bugs) == lab_verdicts(manifests)


def test_the_2017_layout_is_caught_by_both():
    manifests = rendered("/etc/docker/registry", {}, True)
    assert lab_verdicts(manifests)["registry"] is False
    assert product_verdicts(manifests, True)["registry"] is False


@pytest.mark.xfail(strict=True, reason="disagreement left open: the product's lint takes the image's "
                   "default command for granted; a container that passes its own config path (as Harbor's "
                   "docker-compose.tpl does: serve /etc/registry/config.yml) is judged by the image alone")
def test_a_container_naming_its_own_config_path():
    manifests = rendered("/etc/docker/registry", {}, True)
    registry = next(o for o in manifests if o["kind"] == "Deployment" and o["metadata"]["name"] == "registry")
    registry["spec"]["template"]["spec"]["containers"][0]["args"] = ["serve", "/etc/docker/registry/config.yml"]
    assert lab_verdicts(manifests)["registry"] is True
    assert product_verdicts(manifests, True) == lab_verdicts(manifests)


# -- the lab's table on its own: pass and fail paths -----------------------------------------------------
@pytest.mark.parametrize(("container", "expected"), [
    ({"image": "vmware/registry:2.6.2-photon"}, "/etc/registry/config.yml"),
    ({"image": "vmware/registry:2.6.2-photon", "args": ["serve", "/etc/docker/registry/config.yml"]},
     "/etc/docker/registry/config.yml"),
    ({"image": "vmware/registry:2.6.2-photon", "args": ["/x/config.yaml"]}, "/x/config.yaml"),
    ({"image": "vmware/registry:2.6.2-photon", "args": ["garbage-collect", "/c.yml"]}, None),
    ({"image": "vmware/registry:2.6.2-photon", "command": ["registry", "serve"],
      "env": [{"name": "REGISTRY_CONFIGURATION_PATH", "value": "/env/config.yml"}]}, "/env/config.yml"),
    ({"image": "vmware/nginx-photon:1.11.13"}, "/etc/nginx/nginx.conf"),
    ({"image": "vmware/nginx-photon:1.11.13", "args": ["nginx", "-c", "conf/other.conf"]}, "/etc/nginx/conf/other.conf"),
    ({"image": "vmware/harbor-ui:v1.2.0", "env": [{"name": "CONFIG_PATH", "value": "/etc/ui/app.conf"}]},
     "/etc/ui/app.conf"),
    ({"image": "vmware/harbor-ui:v1.2.0"}, "/harbor/conf/app.conf"),
    ({"image": "vmware/harbor-adminserver:v1.2.0"}, None),
    ({"image": "vmware/registry:2.6.1"}, None),
], ids=["registry-default", "registry-args", "registry-yaml-arg", "registry-gc", "registry-env", "nginx-default",
        "nginx-relative-c", "ui-config-path", "ui-beego-default", "adminserver", "unknown-tag"])
def test_lab_table(container, expected):
    assert images.config_path(container) == expected


@pytest.mark.parametrize(("ref", "expected"), [
    ("docker.io/library/busybox", "busybox:latest"), ("index.docker.io/vmware/registry:2.6.2-photon",
                                                      "vmware/registry:2.6.2-photon"),
    ("vmware/harbor-ui", "vmware/harbor-ui:latest"), ("busybox@sha256:" + "0" * 64, "busybox@sha256:" + "0" * 64),
])
def test_lab_normalize(ref, expected):
    assert images.normalize(ref) == expected


def test_lab_programs_run_what_the_table_says():
    # The lab's launchers (harborlab.programs) feed each program the file the image's command reads.
    for ref, program in LAB_PROGRAMS.items():
        if images.lookup(ref).repository == "vmware/harbor-ui":
            continue  # CONFIG_PATH decides, and harborlab.programs.ui reads it from the pod's env
        assert images.config_path({"image": ref}) == program.config_path, ref


# -- the tests' own test: a wrong lab table makes the property fail --------------------------------------
def test_a_lab_with_the_v1_2_0_build_of_the_registry_image_fails_the_property(monkeypatch):
    # Harbor v1.2.0's Dockerfile (before the 2017-11 rebuild of the tag): CMD /etc/docker/registry/config.yml.
    ref = "vmware/registry:2.6.2-photon"
    old = dataclasses.replace(images.lookup(ref), cmd=("/etc/docker/registry/config.yml",))
    monkeypatch.setitem(images._BY_REF, ref, old)
    with pytest.raises(AssertionError):
        test_lint_passes_exactly_the_containers_that_find_their_config.hypothesis.inner_test(
            mount="/etc/registry", image_refs={}, allow_known_bugs=False)


def test_a_lab_ignoring_args_fails_the_table_test(monkeypatch):
    monkeypatch.setattr(images, "container_argv", lambda image, container: [*image.entrypoint, *image.cmd])
    with pytest.raises(AssertionError):
        test_lab_table({"image": "vmware/registry:2.6.2-photon", "args": ["serve", "/etc/docker/registry/config.yml"]},
                       "/etc/docker/registry/config.yml")
