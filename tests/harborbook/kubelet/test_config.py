"""Effective eviction settings with their sources; the replace-the-defaults rule; validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harborbook.eviction import default_hard
from harborbook.kubelet.config import (KubeletConfigError, containerd_root, docker_data_root, effective_eviction,
                                      eviction_from_configz, kubelet_root_dir, parse_duration, parse_flags)

CONFIG = "/var/lib/kubelet/config.yaml"


def settings(argv, version, files=None, dirs=None):
    files = files or {}
    return effective_eviction(["/usr/bin/kubelet", *argv], version, files.get, (dirs or {}).get)


@pytest.mark.parametrize("version,expected", [
    ("1.6", {"memory.available": "100Mi"}),
    ("1.7", {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"}),
    ("1.9", {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
             "imagefs.available": "15%"}),
    ("1.30", {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
              "imagefs.available": "15%", "imagefs.inodesFree": "5%"}),
], ids=["1.6", "1.7", "1.9", "1.30"])
def test_defaults_by_version(version, expected):
    result = settings([], version)
    assert result.hard == expected
    assert set(result.hard_sources.values()) == {f"default (v{version})"}
    assert result.transition_period == timedelta(minutes=5)


def test_flag_replaces_the_whole_default_map():
    result = settings(["--eviction-hard=nodefs.available<5%"], "1.7")
    assert result.hard == {"nodefs.available": "5%"}
    assert result.hard_replaced_defaults == ["memory.available", "nodefs.inodesFree"]
    assert result.hard_sources == {"nodefs.available": "flag --eviction-hard"}


def test_flag_with_space_separated_value():
    assert settings(["--eviction-hard", "memory.available<1Gi", "--v", "2"], "1.7").hard == {"memory.available": "1Gi"}


@pytest.mark.parametrize("version,expected", [
    ("1.7", {"nodefs.available": "5%"}),
    ("1.20", {"memory.available": "1Gi", "nodefs.available": "5%"}),
], ids=["string-flag-last-wins", "map-flag-accumulates"])
def test_repeated_flags(version, expected):
    argv = ["--eviction-hard=memory.available<1Gi", "--eviction-hard=nodefs.available<5%"]
    assert settings(argv, version).hard == expected


def test_config_file_map_replaces_defaults_and_flags_override_file():
    files = {CONFIG: "kind: KubeletConfiguration\nevictionHard:\n  nodefs.available: '5%'\n"
                     "evictionPressureTransitionPeriod: 30s\n"}
    from_file = settings([f"--config={CONFIG}"], "1.30", files)
    assert from_file.hard == {"nodefs.available": "5%"}
    assert from_file.sources["evictionHard"] == f"config file {CONFIG}"
    assert from_file.transition_period == timedelta(seconds=30)
    flagged = settings([f"--config={CONFIG}", "--eviction-hard=memory.available<200Mi"], "1.30", files)
    assert flagged.hard == {"memory.available": "200Mi"}


@pytest.mark.parametrize("version,merged", [("1.32", False), ("1.33", True)], ids=["1.32-ignored", "1.33-merges"])
def test_merge_default_eviction_settings(version, merged):
    files = {CONFIG: "mergeDefaultEvictionSettings: true\nevictionHard:\n  nodefs.available: 5%\n"}
    result = settings([f"--config={CONFIG}"], version, files)
    expected = {**default_hard(version), "nodefs.available": "5%"} if merged else {"nodefs.available": "5%"}
    assert result.hard == expected
    assert result.hard_sources["nodefs.available"] == f"config file {CONFIG}"
    if merged:
        assert result.hard_sources["memory.available"].startswith("default")
        flagged = settings([f"--config={CONFIG}", "--eviction-hard=nodefs.available<7%"], version, files)
        assert flagged.hard == {"nodefs.available": "7%"}  # a flag still replaces the map
    else:
        assert result.warnings


def test_config_dir_drop_ins_merge_in_name_order():
    files = {CONFIG: "evictionHard:\n  nodefs.available: 10%\n  memory.available: 100Mi\n",
             "/etc/kubelet.d/20-b.conf": "evictionHard:\n  nodefs.available: 4%\n",
             "/etc/kubelet.d/10-a.conf": "evictionHard:\n  nodefs.available: 6%\n  imagefs.available: 9%\n",
             "/etc/kubelet.d/ignored.yaml": "evictionHard:\n  nodefs.available: 1%\n"}
    dirs = {"/etc/kubelet.d": ["20-b.conf", "ignored.yaml", "10-a.conf"]}
    argv = [f"--config={CONFIG}", "--config-dir=/etc/kubelet.d"]
    result = settings(argv, "1.30", files, dirs)
    assert result.hard == {"nodefs.available": "4%", "memory.available": "100Mi", "imagefs.available": "9%"}
    assert result.hard_sources["nodefs.available"] == "drop-in /etc/kubelet.d/20-b.conf"
    assert settings(argv, "1.29", files, dirs).hard == {"nodefs.available": "10%", "memory.available": "100Mi"}


INVALID = [
    ("unknown-signal", ["--eviction-hard=disk.available<5%"], "unsupported eviction signal disk.available"),
    ("greater-than", ["--eviction-hard=nodefs.available>5%"], "malformed pair, expect string<string"),
    ("over-100", ["--eviction-hard=nodefs.available<150%"], "must be <= 100%"),
    ("soft-without-grace", ["--eviction-soft=memory.available<1Gi"],
     "grace period must be specified for the soft eviction threshold memory.available"),
    ("bad-grace", ["--eviction-soft=memory.available<1Gi", "--eviction-soft-grace-period=memory.available=soon"],
     'time: invalid duration "soon"'),
    ("negative-min-reclaim", ["--eviction-minimum-reclaim=nodefs.available=-1Gi"], "negative eviction minimum reclaim"),
    ("containerfs-before-1.29", ["--eviction-hard=containerfs.available<5%"], "unsupported eviction signal"),
]


@pytest.mark.parametrize("case,argv,message", INVALID, ids=[i[0] for i in INVALID])
def test_kubelet_refuses_to_start(case, argv, message):
    with pytest.raises(KubeletConfigError) as caught:
        settings(argv, "1.28")
    assert message in caught.value.message
    assert caught.value.message.startswith(("failed to run Kubelet: ", "failed to parse kubelet flag: "))


def test_soft_with_grace_is_accepted():
    result = settings(["--eviction-soft=memory.available<1Gi", "--eviction-soft-grace-period=memory.available=1m30s",
                       "--eviction-minimum-reclaim=nodefs.available=500Mi"], "1.28")
    assert result.soft == {"memory.available": "1Gi"} and result.soft_grace == {"memory.available": "1m30s"}
    assert result.min_reclaim == {"nodefs.available": "500Mi"}


def test_missing_config_file_fails_like_the_kubelet():
    with pytest.raises(KubeletConfigError) as caught:
        settings([f"--config={CONFIG}"], "1.30")
    assert "no such file or directory" in caught.value.message


@pytest.mark.parametrize("text,seconds", [("5m", 300), ("1m30s", 90), ("300ms", 0.3), ("0", 0), ("1h", 3600),
                                          ("5m0s", 300)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5", "soon", "5 m", ""])
def test_parse_duration_refuses(text):
    with pytest.raises(KubeletConfigError):
        parse_duration(text)


def test_parse_flags_forms():
    argv = ["/usr/bin/kubelet", "--a=1", "--b", "2", "--allow-privileged", "--c", "--d=x=y", "positional"]
    assert parse_flags(argv) == [("a", "1"), ("b", "2"), ("allow-privileged", "true"), ("c", "true"), ("d", "x=y")]
    assert kubelet_root_dir(["/k", "--root-dir", "/data/kubelet"]) == "/data/kubelet"
    assert kubelet_root_dir(["/k"]) == "/var/lib/kubelet"


@pytest.mark.parametrize("text,expected", [
    (None, "/var/lib/docker"), ('{"graph": "/data/docker"}', "/data/docker"),
    ('{"data-root": "/mnt/docker"}', "/mnt/docker"), ("{}", "/var/lib/docker"),
], ids=["absent", "graph", "data-root", "empty"])
def test_docker_data_root(text, expected):
    assert docker_data_root(text) == expected


def test_docker_both_keys_refused():
    with pytest.raises(KubeletConfigError):
        docker_data_root('{"graph": "/a", "data-root": "/b"}')


@pytest.mark.parametrize("text,expected", [(None, "/var/lib/containerd"), ('root = "/data/containerd"\n', "/data/containerd"),
                                           ("version = 2\n", "/var/lib/containerd")])
def test_containerd_root(text, expected):
    assert containerd_root(text) == expected


def test_configz():
    result = eviction_from_configz({"kubeletconfig": {"evictionHard": {"nodefs.available": "5%"},
                                                      "evictionPressureTransitionPeriod": "5m0s"}}, "1.30")
    assert result.hard == {"nodefs.available": "5%"} and result.hard_sources == {"nodefs.available": "configz"}
    assert result.transition_period == timedelta(minutes=5)
