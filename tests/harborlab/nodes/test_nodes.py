"""Node roots: the scenario's arithmetic (pure), Go durations for configz, and the component's
idempotent up/down on real loop mounts."""

from __future__ import annotations

import subprocess

import pytest

from harborlab.kubelet.configz import go_duration
from harborlab.lab import LabError
from harborlab.nodes import NodeRoots, mounts
from harborlab.scenario import bytes_to_fill, parse_used, plan

from tests.support.labnodes import needs_root


@pytest.mark.parametrize("used, avail, target, expected", [
    (100, 900, 50, 400 + 1),      # 50% of 1000 -> 500 used
    (920, 80, 92, 0 + 1),         # already there: one block of slack only
    (950, 50, 92, 0),             # past the target: nothing to write
    (0, 1001, 10, 101 + 1),       # rounds up like df
], ids=["half", "at-target", "past-target", "rounds-up"])
def test_bytes_to_fill(used, avail, target, expected):
    assert bytes_to_fill(used, avail, target, block=1) == expected


@pytest.mark.parametrize("shared, kinds", [(False, {"log", "journal"}), (True, {"log", "journal", "image"})],
                         ids=["separate-imagefs", "shared-imagefs"])
def test_plan_places_image_layers_only_on_a_shared_store(shared, kinds):
    pieces = plan(100 * 4096 * 64, shared, "/var/lib/containerd", "containerd", "m" * 32, 4096)
    assert {p.kind for p in pieces} == kinds
    assert all(p.size % 4096 == 0 and p.size > 0 for p in pieces)


@pytest.mark.parametrize("text", ["0%", "100%", "abc", "150"], ids=["zero", "hundred", "word", "over"])
def test_parse_used_rejects(text):
    with pytest.raises(LabError):
        parse_used(text)


@pytest.mark.parametrize("seconds, text", [(300, "5m0s"), (2, "2s"), (0, "0s"), (0.5, "500ms"), (3600, "1h0m0s"),
                                           (90, "1m30s")], ids=["5m", "2s", "zero", "ms", "hour", "mixed"])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


@pytest.mark.lab
def test_up_is_idempotent_and_down_unmounts_everything(tmp_path):
    needs_root()
    from harborlab.lab import Lab
    lab = Lab(tmp_path, "modern", components=[NodeRoots(("lab-node-3",))], node_root_mib=64, node_data_mib=64)
    component = NodeRoots(("lab-node-3",))
    try:
        assert component.up(lab) == "started"
        assert component.up(lab) == "running"
        root = tmp_path / "nodes" / "lab-node-3" / "root"
        df = subprocess.run(["/usr/sbin/chroot", str(root), "df", "-P", "/", "/data"], capture_output=True, text=True)
        assert df.returncode == 0 and " /data" in df.stdout
        assert (root / "var/lib/kubelet/config.yaml").exists()
        mounts.unmount(root / "proc")
        assert component.up(lab) == "repaired"
        assert [r.health for r in component.status(lab)] == ["ok"]
    finally:
        component.down(lab)
    assert not [p for p in mounts.mounts() if p.startswith(str(tmp_path))]
    assert [r.health for r in component.status(lab)] == ["down"]
