"""Remedies: the full-map rule, minimal thresholds, exact diffs, idempotent edits."""

from __future__ import annotations

import pytest

from harborbook.eviction import (FsUsage, default_hard, edit_config_yaml, edit_dropin, edit_env_file,
                                 is_met, minimal_threshold, observations_from_df, plan_threshold, threshold_bytes)
from harborbook.kubelet.systemd import load_unit, service_argv

CAP, AVAIL = 5_800_000_000, 448_000_000
OBS = observations_from_df(FsUsage(AVAIL, CAP, 300_000, 380_000), FsUsage(93 * 10**9, 99 * 10**9, 10**6, 10**6))
DROPIN = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
DROPIN_TEXT = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf"
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_EXTRA_ARGS
"""


def test_target_keeps_unnamed_signals_full_map_rule():
    plan = plan_threshold(default_hard("1.7"), OBS, target={"nodefs.available": "5%"})
    assert plan.after == {"memory.available": "100Mi", "nodefs.available": "5%", "nodefs.inodesFree": "5%"}
    assert plan.changed == {"nodefs.available": ("10%", "5%")}
    assert plan.ends_pressure
    assert plan.buys_bytes["nodefs.available"] == threshold_bytes("10%", CAP) - threshold_bytes("5%", CAP)
    assert any("memory.available" in w and "full map" in w for w in plan.warnings)
    assert any("only buys time" in w for w in plan.warnings)


def test_target_that_does_not_end_pressure_says_so():
    plan = plan_threshold(default_hard("1.7"), OBS, target={"nodefs.available": "9%"})
    assert not plan.ends_pressure and any("headroom" in w for w in plan.warnings)


@pytest.mark.parametrize("headroom", [0, 50_000_000, 200_000_000], ids=["none", "50MB", "200MB"])
def test_minimal_threshold_is_the_largest_that_ends_pressure(headroom):
    value = minimal_threshold(AVAIL, CAP, headroom, "10%")
    assert AVAIL - threshold_bytes(value, CAP) >= headroom and not is_met(AVAIL, CAP, value)
    next_up = f"{int(value[:-1].split('.')[0]) + 1}%"
    assert AVAIL - threshold_bytes(next_up, CAP) < headroom or is_met(AVAIL, CAP, next_up)


def test_minimal_threshold_for_a_quantity_and_the_impossible_case():
    assert minimal_threshold(300 * 2**20, 10**10, 100 * 2**20, "500Mi") == "200Mi"
    with pytest.raises(ValueError):
        minimal_threshold(10, 10**9, 100, "10%")


def test_plan_without_target_changes_only_met_signals():
    plan = plan_threshold(default_hard("1.7"), OBS, headroom="100Mi", met=("nodefs.available",))
    assert set(plan.changed) == {"nodefs.available"} and plan.ends_pressure
    assert plan.after["memory.available"] == "100Mi"


FULL = {"memory.available": "100Mi", "nodefs.available": "5%", "nodefs.inodesFree": "5%"}
EXPECTED_DROPIN = f"""--- a{DROPIN}
+++ b{DROPIN}
@@ -1,4 +1,5 @@
 [Service]
 Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf"
+Environment="KUBELET_EVICTION_POLICY_ARGS=--eviction-hard=memory.available<100Mi,nodefs.available<5%%,nodefs.inodesFree<5%%"
 ExecStart=
-ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_EXTRA_ARGS
+ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_EXTRA_ARGS $KUBELET_EVICTION_POLICY_ARGS
"""


def test_dropin_edit_exact_diff_idempotent_and_read_back():
    first = edit_dropin(DROPIN, DROPIN_TEXT, FULL)
    assert first.diff == EXPECTED_DROPIN
    again = edit_dropin(DROPIN, first.after, FULL)
    assert not again.changed and again.diff == ""
    argv = service_argv(load_unit("kubelet.service", {DROPIN: first.after}), lambda p: None)
    assert argv[-1] == "--eviction-hard=memory.available<100Mi,nodefs.available<5%,nodefs.inodesFree<5%"


def test_dropin_edit_replaces_an_earlier_eviction_line():
    first = edit_dropin(DROPIN, DROPIN_TEXT, FULL).after
    second = edit_dropin(DROPIN, first, {**FULL, "nodefs.available": "4%"})
    assert second.diff.count("\n+Environment=") == 1 and "nodefs.available<4%%" in second.after
    assert second.after.count("$KUBELET_EVICTION_POLICY_ARGS") == 1


ENV_CASES = [
    ("existing-quoted", 'KUBELET_EXTRA_ARGS="--v=2"\n', 'KUBELET_EXTRA_ARGS="--v=2 --eviction-hard=@FLAG@"\n'),
    ("replaces-old-flag", "KUBELET_EXTRA_ARGS=--eviction-hard=nodefs.available<10% --v=2\n",
     'KUBELET_EXTRA_ARGS="--v=2 --eviction-hard=@FLAG@"\n'),
    ("absent", "# defaults\n", '# defaults\nKUBELET_EXTRA_ARGS="--eviction-hard=@FLAG@"\n'),
]


@pytest.mark.parametrize("case,before,after", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_env_file_edit(case, before, after):
    flag = "memory.available<100Mi,nodefs.available<5%,nodefs.inodesFree<5%"
    result = edit_env_file("/etc/default/kubelet", before, FULL)
    assert result.after == after.replace("@FLAG@", flag)
    assert not edit_env_file("/etc/default/kubelet", result.after, FULL).changed


CONFIG_TEXT = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# eviction: tuned for small disks
evictionHard:
  memory.available: "100Mi"  # keep memory eviction on
  nodefs.available: "10%"
clusterDNS:
- 10.96.0.10
"""


def test_config_yaml_edit_preserves_comments_and_is_idempotent():
    target = {"memory.available": "100Mi", "nodefs.available": "5%", "imagefs.available": "15%"}
    first = edit_config_yaml("/var/lib/kubelet/config.yaml", CONFIG_TEXT, target)
    assert first.diff.splitlines()[2:] == [
        "@@ -3,6 +3,7 @@",
        " # eviction: tuned for small disks",
        " evictionHard:",
        '   memory.available: "100Mi"  # keep memory eviction on',
        '-  nodefs.available: "10%"',
        '+  nodefs.available: "5%"',
        "+  imagefs.available: 15%",
        " clusterDNS:",
        " - 10.96.0.10",
    ]
    assert not edit_config_yaml("/var/lib/kubelet/config.yaml", first.after, target).changed


def test_config_yaml_without_eviction_hard_gets_the_full_map():
    result = edit_config_yaml("/c.yaml", "kind: KubeletConfiguration\n", FULL)
    assert result.after == ("kind: KubeletConfiguration\nevictionHard:\n  memory.available: 100Mi\n"
                            "  nodefs.available: 5%\n  nodefs.inodesFree: 5%\n")
