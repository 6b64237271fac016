"""Fault injection on the sandbox lab: each ends with a clear message and nothing lost.

Run in order on one article lab (the module fixture): deploy once, then break one thing at a
time, watch the right runbook fail with the right hint, repair with `lab up`, move on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harborlab import procs

from .conftest import ROOT, STATE, harborbook, run_dir_of, sandbox_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.fixture(scope="module")
def deployed(article_lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = harborbook("run", "00", "01", "02", "03", "04", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return article_lab, out


def test_wrong_api_token_fails_preflight_with_a_401_hint(deployed, tmp_path):
    lab, out = deployed
    text = (STATE / "kubeconfig").read_text()
    token = (STATE / "secrets" / "kube-token").read_text().strip()
    bad = tmp_path / "kubeconfig"
    bad.write_text(text.replace(token, "not-the-token"))
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params" / "sandbox.yaml").read_text()
                      .replace("../.lab/kubeconfig", str(bad)).replace("../.lab/", f"{STATE}/"))
    result = harborbook("run", "00", "--params", str(params), "--out", str(out))
    stderr = failure(result)
    assert "401" in stderr and "hint: the API refused the credentials" in stderr


def test_redis_stopped_fails_the_session_check_naming_redis(deployed):
    lab, out = deployed
    lab.stop("redis")
    try:
        stderr = failure(harborbook("run", "05", "--out", str(out)))
        assert "redis" in stderr.lower() and "_REDIS_URL" in stderr
    finally:
        lab.up()


def test_a_killed_registry_process_is_survived_by_the_other_replicas(deployed):
    lab, out = deployed
    from harborlab.podrunner.podfs import recorded

    registry = [(path, pid, ticks) for path, pid, ticks in recorded(lab.state) if "registry" in str(path)]
    assert registry, "the pod runner records its processes"
    _path, pid, ticks = registry[0]
    assert procs.is_ours(pid, ticks)
    os.kill(pid, signal.SIGKILL)  # by PID: a process the lab started
    result = harborbook("run", "05", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cephfs_unmounted_fails_00_and_01_and_writes_nothing_underneath(deployed):
    lab, out = deployed
    mount = STATE / "cephfs"
    subprocess.run(["umount", "-l", str(mount)], check=True)
    try:
        assert not any(mount.iterdir()), "the bare mount point is empty"
        stderr = failure(harborbook("run", "00", "--out", str(out)))
        assert "CephFS" in stderr and "mount" in stderr
        stderr = failure(harborbook("run", "01", "--out", str(out)))
        assert "CephFS is not mounted" in stderr
        assert not any(mount.iterdir()), "nothing was written to the local directory under the mount point"
    finally:
        lab.up()
    assert any(mount.iterdir())


def test_sigint_mid_run_then_resume_completes(deployed):
    lab, out = deployed
    proc = subprocess.Popen([sys.executable, "-m", "harborbook.cli", "run", "00", "01", "02", "03", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # inside the first or second runbook
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0
    resume = next(l for l in stderr.splitlines() if l.startswith("resume with: "))
    run_dir = resume.split("--resume ", 1)[1].split()[0]
    again = harborbook("run", "00", "01", "02", "03", "--out", str(out), "--resume", run_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    results = json.loads((Path(run_dir) / "results.json").read_text())
    assert all(r["status"] == "ok" for r in results["runner"].values()), results["runner"]


def test_in_tree_cephfs_on_1_31_fails_preflight_with_the_csi_hint(tmp_path):
    with sandbox_lab("modern", kube_version="v1.31.0"):
        stderr = failure(harborbook("run", "00", "--out", str(tmp_path)))
        assert "removed in Kubernetes 1.31" in stderr and "storage.backend: cephfs-csi" in stderr
