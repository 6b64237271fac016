"""Generic workloads (issue 15 item 7), the pure parts: the image table (any tag), command and args
against the image's ENTRYPOINT/CMD, which host program plays an image's file, nginx's default
files. test_generic_images_lab.py runs the pods for real."""

from __future__ import annotations

import os
import shutil

import pytest

from harborlab import images
from harborlab.programs import generic
from harborlab.programs.layout import LaunchError, PodLayout
from harborlab.programs.nginxconf import Rules, translate


# -- the image table: any tag of a generic image ---------------------------------------------------
@pytest.mark.parametrize("ref,repository", [
    ("busybox", "busybox"), ("busybox:1.28", "busybox"), ("docker.io/library/busybox:1.36.1", "busybox"),
    ("busybox@sha256:" + "a" * 64, "busybox"), ("nginx:1.25-alpine", "nginx"), ("python:3.12-slim", "python"),
    ("ubuntu:22.04", "ubuntu"), ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause"),
    ("k8s.gcr.io/pause:3.2", "k8s.gcr.io/pause"),
])
def test_every_tag_of_a_generic_image_is_known(ref, repository):
    row = images.lookup(ref)
    assert row is not None and row.repository == repository and images.is_generic(row)


@pytest.mark.parametrize("ref", ["quay.io/busybox", "example.com/nosuch:1", "localhost:5000/nginx:1", "alpine:3",
                                 "vmware/registry:2.6.1"])
def test_other_images_stay_unknown(ref):
    assert images.lookup(ref) is None


def test_harbor_images_are_not_generic():
    assert not images.is_generic(images.lookup("vmware/nginx-photon:1.11.13"))


# kubernetes.io "Define a Command and Arguments for a Container": the four cases.
NGINX = images.lookup("nginx")


@pytest.mark.parametrize("container,argv", [
    ({}, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    ({"command": ["sh"]}, ["sh"]),                                             # command alone drops CMD
    ({"args": ["nginx", "-T"]}, ["/docker-entrypoint.sh", "nginx", "-T"]),     # args replace CMD only
    ({"command": ["printenv"], "args": ["HOSTNAME"]}, ["printenv", "HOSTNAME"]),
    ({"command": [], "args": []}, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
], ids=["neither", "command", "args", "both", "empty-lists"])
def test_command_and_args_against_entrypoint_and_cmd(container, argv):
    assert images.container_argv(NGINX, container) == argv


# -- which host program plays the image's file -----------------------------------------------------
@pytest.fixture
def applets(tmp_path):
    if not os.path.exists(generic.BUSYBOX):
        pytest.fail(f"{generic.BUSYBOX} is missing: install the lab's Debian packages "
                    "(scripts/install-debs lib/harborlab/data/debian-packages.txt)")
    return generic.applet_dir(tmp_path)


@pytest.mark.lab    # Debian's busybox (the lab's packages)
def test_busybox_runs_its_applets_and_nothing_else(applets):
    bb = images.lookup("busybox")
    assert generic.resolve(bb, ["sh", "-c", "true"], {}, applets) == [str(applets / "sh"), "-c", "true"]
    assert generic.resolve(bb, ["/bin/sleep", "1"], {}, applets) == [str(applets / "sleep"), "1"]
    with pytest.raises(LaunchError, match='exec: "bash": executable file not found in \\$PATH'):
        generic.resolve(bb, ["bash"], {}, applets)
    with pytest.raises(LaunchError, match='exec: "/app/run": stat /app/run: no such file or directory'):
        generic.resolve(bb, ["/app/run"], {}, applets)


@pytest.mark.lab    # Debian's busybox (the lab's packages)
def test_python_pause_and_ubuntu_programs(applets):
    assert generic.resolve(images.lookup("python:3"), ["python"], {}, applets) == [generic.PYTHON]
    assert generic.resolve(images.lookup("python:3"), ["python3.12", "-V"], {}, applets) == [generic.PYTHON, "-V"]
    assert generic.resolve(images.lookup("registry.k8s.io/pause:3.9"), ["/pause"], {}, applets)[0] == generic.PYTHON
    with pytest.raises(LaunchError):
        generic.resolve(images.lookup("registry.k8s.io/pause:3.9"), ["sh"], {}, applets)
    ubuntu = images.lookup("ubuntu")
    assert generic.resolve(ubuntu, ["sleep", "1"], {}, applets) == [shutil.which("sleep", path=generic.IMAGE_PATH), "1"]
    with pytest.raises(LaunchError, match="no-such-program"):
        generic.resolve(ubuntu, ["no-such-program"], {}, applets)


def test_arguments_under_a_volume_mount_become_host_paths(tmp_path):
    pod = PodLayout("p", "127.77.0.9", tmp_path / "root", {"/config": tmp_path / "vol"})
    assert generic.translate_paths(["cat", "/config/a.txt", "/etc/hosts", "/configx"], pod) == \
        ["cat", str(tmp_path / "vol" / "a.txt"), "/etc/hosts", "/configx"]


@pytest.mark.lab    # Debian's busybox (the lab's packages)
def test_the_nginx_images_default_site_and_a_mounted_conf_d(tmp_path, applets):
    pod = PodLayout("web", "127.77.0.9", tmp_path / "root")
    launch = generic.generic_launch(NGINX, images.container_argv(NGINX, {}), pod, applets, worker_user="root")
    conf = next(iter(launch.files.values()))
    assert f"listen {pod.ip}:80;" in conf and "[::]" not in conf      # default.conf inlined, IPv6 dropped
    assert str(tmp_path / "root" / "usr/share/nginx/html") in conf
    assert launch.health_url == ""                                     # no probe: Ready once started
    # A ConfigMap mounted over conf.d replaces the image's default.conf.
    mounted = tmp_path / "vol"
    mounted.mkdir()
    (mounted / "site.conf").write_text("server { listen 8080; location / { return 200 'mine'; } }\n")
    pod2 = PodLayout("web2", "127.77.0.10", tmp_path / "root2", {"/etc/nginx/conf.d": mounted})
    conf2 = next(iter(generic.generic_launch(NGINX, images.container_argv(NGINX, {}), pod2, applets).files.values()))
    assert f"listen {pod2.ip}:8080;" in conf2 and ":80;" not in conf2


def test_nginx_templates_are_rendered_with_the_environment(tmp_path):
    templates = tmp_path / "t"
    templates.mkdir()
    (templates / "default.conf.template").write_text("server { listen ${PORT}; set $x ${UNSET}; }\n")
    pod = PodLayout("web", "127.77.0.9", tmp_path / "root", {"/etc/nginx/templates": templates}, {"PORT": "81"})
    generic.render_templates(pod)
    assert (tmp_path / "root/etc/nginx/conf.d/default.conf").read_text() == "server { listen 81; set $x ${UNSET}; }\n"


def test_includes_are_inlined_only_when_asked(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("server { listen 80; }\n")
    text = "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n"
    host = lambda p: str(tmp_path / p.removeprefix("/etc/nginx/"))  # noqa: E731
    rules = dict(pod_ip="127.77.0.9", conf_dir="/etc/nginx", host_path=host, endpoints={}, runtime=str(tmp_path / "rt"))
    inlined, _ = translate(text, Rules(**rules, inline_includes=True))
    assert "listen 127.77.0.9:80;" in inlined
    assert not [line for line in inlined.splitlines() if line.strip().startswith("include ")]
    kept, _ = translate(text, Rules(**rules))
    assert "listen" not in kept and f"include {tmp_path}/conf.d/*.conf;" in kept


