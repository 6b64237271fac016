"""Runbook 06's steps on lab nodes that really run out of disk (root needed: loop mounts, chroot).

The reference incident on lab-node-3 (root 92% used, Docker on a separate, nearly empty disk):
diagnosed through the chroot shell with the thresholds from the kubelet log (article era: no
configz), fixed with the full map in the drop-in, verified through the new start-up line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harborbook.steps import nodepressure
from harborbook.errors import RunbookError
from harborbook.eviction.remedy import edit
from harborbook.kube import Kube
from harborbook.nodeshell import ChrootShell
from harborbook.params.models import NodePressure
from harborlab import scenario
from tests.support.labnodes import LabNodes, wait_until

pytestmark = pytest.mark.lab
NODE = "lab-node-3"


def pressured(kube: Kube) -> bool:
    node = kube.get("v1", "Node", NODE)
    return any(c["type"] == "DiskPressure" and c["status"] == "True" for c in node["status"]["conditions"])


def as_provisioned(nodes: LabNodes) -> LabNodes:
    """NODE put back as provisioned instead of new nodes per test: the scenario's files removed,
    the kubelet's unit, drop-ins and config rewritten and the kubelet restarted if a test changed
    them (what `lab scenario disk-pressure --reset` does), then Ready without DiskPressure."""
    scenario.clear(nodes.state, NODE)
    scenario.reset_kubelet(nodes.state, NODE)
    kube = Kube(nodes.kubeconfig)

    def settled() -> bool:
        conditions = {c["type"]: c["status"] for c in kube.get("v1", "Node", NODE)["status"]["conditions"]}
        return conditions.get("Ready") == "True" and conditions.get("DiskPressure") == "False"
    assert wait_until(settled, 30), f"{NODE} did not settle after the reset"
    return nodes


@pytest.fixture
def article(article_nodes):
    return as_provisioned(article_nodes)


@pytest.fixture
def modern(modern_nodes):
    return as_provisioned(modern_nodes)


def diagnose(nodes):
    kube = Kube(nodes.kubeconfig)
    shell = ChrootShell(NODE, str(nodes.root(NODE)))
    state = nodepressure.thresholds_in_force(kube, NODE, shell).value
    observed = nodepressure.observe(kube, NODE, state, shell).value
    return kube, shell, state, observed, nodepressure.diagnose(state, observed)


def test_reference_incident_fixed_by_the_full_map_in_the_dropin(article):
    scenario.disk_pressure(article.state, NODE, "92%")
    kube = Kube(article.kubeconfig)
    assert wait_until(lambda: pressured(kube), 10)
    kube, shell, state, observed, verdict = diagnose(article)
    assert state.source == "kubelet log"  # the article profile's node proxy answers 403
    assert state.thresholds == {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"}
    assert observed.imagefs_separate and observed.filesystems[1].mount == "/data"
    assert verdict.value.met == ("nodefs.available",)
    assert "must evict pods" in verdict.summary
    settings = NodePressure(node=NODE, remedy="threshold", target={"nodefs.available": "5%"}, apply=True, headroom="1%")
    plan = nodepressure.plan_remedy(settings, state=state, observed=observed, verdict=verdict.value, shell=shell)
    [(path, diff)] = plan.data["diffs"].items()
    assert path == "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
    assert ('+Environment="KUBELET_EVICTION_POLICY_ARGS=--eviction-hard=memory.available<100Mi,'
            'nodefs.available<5%%,nodefs.inodesFree<5%%"') in diff
    applied = nodepressure.apply_plan(kube, settings, state=state, remedy=plan.value, shell=shell, timeout=30)
    assert applied.status.value == "changed"
    backup = Path(str(article.root(NODE)) + applied.data["backups"][0])
    assert backup.read_text() == plan.value.edits[0].before
    after = nodepressure.verify_fix(kube, settings, remedy=plan.value, shell=shell, wait=True)
    assert after.status.value == "ok", after.summary
    assert "nodefs.available<5%" in after.summary and "DiskPressure: False" in after.summary
    # Idempotent: a second plan finds the file already right.
    state2 = nodepressure.thresholds_in_force(kube, NODE, shell).value
    again = nodepressure.plan_remedy(settings, state=state2, observed=observed, verdict=verdict.value, shell=shell)
    assert again.status.value == "unchanged" and again.value.edits == []


def test_a_kubelet_that_refuses_the_new_value_is_rolled_back(article):
    kube, shell, state, observed, verdict = diagnose(article)
    path = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
    before = shell.read(path)
    # The article's 1.7 kubelet refuses 0% ("must be positive"); it would have taken 150%.
    bad = before.replace("ExecStart=/usr/bin/kubelet ", "ExecStart=/usr/bin/kubelet --eviction-hard=nodefs.available<0%% ")
    remedy = nodepressure.fix.Remedy("threshold", [edit(path, before, bad)], {"nodefs.available": "0%"})
    settings = NodePressure(node=NODE, remedy="threshold", apply=True)
    with pytest.raises(RunbookError) as info:
        nodepressure.apply_plan(kube, settings, state=state, remedy=remedy, shell=shell, timeout=20)  # 8 s was too short on a loaded machine: the refusal was not yet in the log
    assert "backups were restored" in str(info.value) and "must be positive: 0%" in str(info.value)
    assert shell.read(path) == before
    assert wait_until(lambda: any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in kube.get("v1", "Node", NODE)["status"]["conditions"]), 15)


def test_cleanup_frees_the_space_instead(article):
    scenario.disk_pressure(article.state, NODE, "92%")
    kube, shell, state, observed, verdict = diagnose(article)
    settings = NodePressure(node=NODE, remedy="cleanup", apply=True, headroom="1%")
    plan = nodepressure.plan_remedy(settings, state=state, observed=observed, verdict=verdict.value, shell=shell)
    assert plan.value.to_free > 0 and plan.value.commands
    assert plan.status.value == "ok", plan.summary
    nodepressure.apply_plan(kube, settings, state=state, remedy=plan.value, shell=shell)
    after = nodepressure.verify_fix(kube, settings, remedy=plan.value, shell=shell, wait=True)
    assert "no threshold met" in after.summary, after.summary


def test_modern_node_reads_configz_and_writes_config_yaml(modern):
    kube, shell, state, observed, verdict = diagnose(modern)
    assert state.source == "configz" and state.config_path == "/var/lib/kubelet/config.yaml"
    assert observed.source == "stats/summary"
    assert state.thresholds["imagefs.available"] == "15%"
    settings = NodePressure(node=NODE, remedy="threshold", target={"nodefs.available": "5%"}, apply=True)
    plan = nodepressure.plan_remedy(settings, state=state, observed=observed, verdict=verdict.value, shell=shell)
    [(path, diff)] = plan.data["diffs"].items()
    assert path == "/var/lib/kubelet/config.yaml"
    assert "kubeadm upgrade" in plan.summary
    nodepressure.apply_plan(kube, settings, state=state, remedy=plan.value, shell=shell, timeout=30)
    state2 = nodepressure.thresholds_in_force(kube, NODE, shell).value
    assert state2.source == "configz" and state2.thresholds["nodefs.available"] == "5%"
    assert state2.thresholds["memory.available"] == "100Mi"  # the full map: memory eviction stays on
