"""The registry launcher: which config runs, and the REGISTRY_* translations."""

from __future__ import annotations

import dataclasses

import pytest

from harborlab.programs import REGISTRY_EXAMPLE_CONFIG, LaunchError, PodLayout, registry_launch, split_hostport
from harborlab.programs.registry import load_yaml, registry_overrides

HARBOR_CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: /storage
http:
  addr: :5000
  secret: same-everywhere
  debug:
    addr: localhost:5001
auth:
  token:
    issuer: harbor-token-issuer
    realm: http://harbor.example.com/service/token
    rootcertbundle: /etc/registry/root.crt
    service: harbor-registry
notifications:
  endpoints:
  - name: harbor
    url: http://ui/service/notifications
    timeout: 3000ms
"""


@pytest.fixture
def pod(tmp_path) -> PodLayout:
    return PodLayout("registry-0", "127.77.0.5", tmp_path / "pod", volumes={"/storage": tmp_path / "ceph"})


@pytest.mark.parametrize(
    ("container", "relative"),
    [("/storage", "ceph"), ("/storage/docker/registry", "ceph/docker/registry"),
     ("/etc/registry/root.crt", "pod/etc/registry/root.crt"), ("/storagex/a", "pod/storagex/a"),
     ("/var/lib/registry", "pod/var/lib/registry")],
    ids=["mount-itself", "under-mount", "configmap-file", "prefix-is-not-parent", "container-fs"],
)
def test_host_path(pod, tmp_path, container, relative):
    assert pod.host_path(container) == tmp_path / relative


def test_host_path_prefers_the_deepest_mount(tmp_path):
    pod = PodLayout("p", "127.77.0.1", tmp_path, volumes={"/a": tmp_path / "x", "/a/b": tmp_path / "y"})
    assert pod.host_path("/a/b/c") == tmp_path / "y" / "c"


def test_host_path_rejects_relative(pod):
    with pytest.raises(LaunchError):
        pod.host_path("etc/x")


@pytest.mark.parametrize(("text", "expected"), [(":5000", ("", 5000)), ("localhost:5001", ("localhost", 5001)),
                                                ("[::1]:80", ("::1", 80))], ids=["port-only", "host", "v6"])
def test_split_hostport(text, expected):
    assert split_hostport(text) == expected


def test_split_hostport_rejects():
    with pytest.raises(LaunchError):
        split_hostport("5000")


def test_overrides_translate_addresses_paths_and_services(pod, tmp_path):
    env, notes = registry_overrides(load_yaml(HARBOR_CONFIG, "c"), pod, {"ui:80": ["127.77.0.9:80"]})
    assert env["REGISTRY_HTTP_ADDR"] == "127.77.0.5:5000"
    assert env["REGISTRY_HTTP_DEBUG_ADDR"] == "127.77.0.5:5001"
    assert env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] == str(tmp_path / "ceph")
    assert env["REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE"] == str(tmp_path / "pod/etc/registry/root.crt")
    hooks = load_yaml("x: " + env["REGISTRY_NOTIFICATIONS_ENDPOINTS"], "env")["x"]
    assert hooks == [{"name": "harbor", "url": "http://127.77.0.9:80/service/notifications", "timeout": "3000ms"}]
    # Nothing but addresses and paths: secret, realm, issuer and service are not overridden.
    assert not any(k.startswith(("REGISTRY_HTTP_SECRET", "REGISTRY_AUTH_TOKEN_REALM")) for k in env)
    assert len(notes) == len(env)


def test_overrides_leave_unknown_services(pod):
    env, _notes = registry_overrides(load_yaml(HARBOR_CONFIG, "c"), pod, {})
    hooks = load_yaml("x: " + env["REGISTRY_NOTIFICATIONS_ENDPOINTS"], "env")["x"]
    assert hooks[0]["url"] == "http://ui/service/notifications"


def _write(pod: PodLayout, container: str, text: str) -> None:
    path = pod.host_path(container)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mounted_config_is_used_as_applied(pod, tmp_path):
    _write(pod, "/etc/registry/config.yml", HARBOR_CONFIG)
    launch = registry_launch(pod)
    assert launch.argv == ["docker-registry", "serve", str(pod.root / "etc/registry/config.yml")]
    assert launch.files == {}
    assert launch.env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] == str(tmp_path / "ceph")
    assert launch.health_url == "http://127.77.0.5:5000/v2/" and 401 in launch.ready_statuses


def test_config_at_the_stock_2017_path_is_ignored(pod, tmp_path):
    _write(pod, "/etc/docker/registry/config.yml", HARBOR_CONFIG)
    launch = registry_launch(pod)
    (config_path, text), = launch.files.items()
    assert launch.argv[-1] == str(config_path) and text == REGISTRY_EXAMPLE_CONFIG
    # The example config: pod-private storage, no auth, nothing on the shared volume.
    assert launch.env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] == str(pod.root / "var/lib/registry")
    assert not any(k.startswith("REGISTRY_AUTH") for k in launch.env)
    assert any("built-in example config" in n for n in launch.notes)


def test_a_container_naming_its_config_is_run_with_it(pod, tmp_path):
    # args: [serve, /etc/docker/registry/config.yml] (harborlab.images.config_path) -> that file.
    _write(pod, "/etc/docker/registry/config.yml", HARBOR_CONFIG)
    named = dataclasses.replace(pod, config_path="/etc/docker/registry/config.yml")
    launch = registry_launch(named)
    assert launch.argv[-1] == str(pod.root / "etc/docker/registry/config.yml") and launch.files == {}


def test_a_named_config_that_is_missing_stops_the_container(pod):
    with pytest.raises(LaunchError, match="open /etc/docker/registry/config.yml"):
        registry_launch(dataclasses.replace(pod, config_path="/etc/docker/registry/config.yml"))


def test_invalid_yaml_is_a_launch_error(pod):
    _write(pod, "/etc/registry/config.yml", "http: [unclosed")
    with pytest.raises(LaunchError, match="YAML"):
        registry_launch(pod)


def test_launch_repr_hides_env(pod):
    _write(pod, "/etc/registry/config.yml", HARBOR_CONFIG)
    launch = registry_launch(PodLayout("r", "127.77.0.5", pod.root, env={"SECRET": "abc-def"}))
    assert "abc-def" not in repr(launch)
