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

import pymysql
import pytest

from harborlab import procs

from .conftest import ROOT, STATE, harborbook, mark_deployed, run_dir_of, shared_deployed, shared_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """An article lab with Harbor deployed: the golden notebooks' deployment when they ran just
    before on the shared lab (conftest.py), else a fresh lab and 00-04."""
    lab = shared_lab("article")
    out = tmp_path_factory.mktemp("runs")
    if not shared_deployed():
        mark_deployed()
        result = harborbook("run", "00", "01", "02", "03", "04", "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        mark_deployed(succeeded=True)
    return lab, out


def test_wrong_api_token_fails_preflight_with_a_401_hint(deployed, tmp_path):
    lab, out = deployed
    text = (STATE / "kubeconfig").read_text()
    # Every user's token: the sandbox runs as harborbook-operator, not as the lab's admin.
    for secret in ("kube-token", "kube-token-harborbook-operator"):
        token = (STATE / "secrets" / secret).read_text().strip()
        assert token in text, secret
        text = text.replace(token, "not-the-token")
    bad = tmp_path / "kubeconfig"
    bad.write_text(text)
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
    # Ctrl-C as a terminal delivers it: SIGINT at its default disposition in the child, even when
    # this suite itself runs in the background (where a shell starts jobs with SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler).
    proc = subprocess.Popen([sys.executable, "-m", "harborbook.cli", "run", "00", "01", "02", "03", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Interrupt inside 01, whatever the machine's speed: wait for its "running" line (a fixed
    # sleep let a fast machine finish all four first).
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "01-cephfs-storage" in line and "running" in line:
            break
    assert proc.poll() is None, "".join(seen)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0
    resume = next(l for l in stderr.splitlines() if l.startswith("resume with: "))
    run_dir = resume.split("--resume ", 1)[1].split()[0]
    again = harborbook("run", "00", "01", "02", "03", "--out", str(out), "--resume", run_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    results = json.loads((Path(run_dir) / "results.json").read_text())
    assert all(r["status"] == "ok" for r in results["runner"].values()), results["runner"]


def params_copy(tmp_path: Path, **replace: str) -> Path:
    """params/sandbox.yaml with absolute lab paths, and some text replaced."""
    text = (ROOT / "params" / "sandbox.yaml").read_text().replace("../.lab/", f"{STATE}/")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_dry_run_changes_nothing(deployed):
    lab, out = deployed
    result = harborbook("run", "--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((run_dir_of(result.stdout) / "results.json").read_text())
    changed = [(n, s["name"]) for n, rb in results["runbooks"].items() for s in rb["steps"] if s["status"] == "changed"]
    assert changed == []


def test_wrong_database_password_fails_00_and_02_with_hints(deployed, tmp_path):
    lab, out = deployed
    wrong = tmp_path / "wrong-password"
    wrong.write_text("definitely-not-the-password\n")
    params = params_copy(tmp_path, **{f"admin_password: file:{STATE}/secrets/galera-admin-password":
                                      f"admin_password: file:{wrong}"})
    for runbook in ("00", "02"):
        stderr = failure(harborbook("run", runbook, "--params", str(params), "--out", str(out)))
        assert "access denied" in stderr and "database.target.admin_password" in stderr, stderr
        assert "definitely-not-the-password" not in stderr


def test_the_2017_mount_path_is_caught_by_the_lint_and_by_verification(deployed, tmp_path):
    lab, out = deployed
    forced = params_copy(tmp_path, **{"  replicas: {adminserver: 3": "  registry_config_mount_path: /etc/docker/registry\n"
                                                                      "  replicas: {adminserver: 3"})
    stderr = failure(harborbook("run", "03", "--params", str(forced), "--out", str(out)))
    assert "reads /etc/registry/config.yml" in stderr and "/etc/docker/registry" in stderr
    allowed = params_copy(tmp_path, **{"  replicas: {adminserver: 3": "  registry_config_mount_path: /etc/docker/registry\n"
                                                                       "  allow_known_bugs: true\n  replicas: {adminserver: 3"})
    try:
        result = harborbook("run", "03", "04", "--params", str(allowed), "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        stderr = failure(harborbook("run", "05", "--params", str(allowed), "--out", str(out)))
        run_dir = Path(next(l for l in stderr.splitlines() if l.startswith("resume with: ")).split("--resume ")[1].split()[0])
        checks = {s["name"]: s for s in json.loads((run_dir / "results.json").read_text())["runbooks"]["05-verify"]["steps"]}
        failed = [row for step in checks.values() for row in step.get("data", {}).get("checks", [])
                  if row["status"] == "failed"]
        assert failed, "the bug must fail verification"
        assert any("/etc/docker/registry" in (row["hint"] or "") for row in failed), failed
    finally:
        # Applying the right layout over the 2017 one moves the mount back (server-side apply).
        repaired = harborbook("run", "03", "04", "05", "--out", str(out))
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr


# ---------------------------------------------------------------- a Galera node killed mid-import
FAULT_DB = "registry_fault"
BIG = 400_000  # access_log rows: an import of several seconds, so the kill lands inside it


def galera_sql(lab, node, sql: str, args=()) -> list[tuple]:
    from harborlab import galera

    conn = galera.connect(lab.host, node.port, galera.ADMIN_USER, lab.secret_value(galera.SECRET), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def importing(lab, node) -> bool:
    """True once ``node`` executes an INSERT into the staging copy of the fault database."""
    try:
        return bool(galera_sql(lab, node, "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                                          " WHERE DB = %s AND INFO LIKE 'INSERT%%'", (f"{FAULT_DB}__staging",))[0][0])
    except pymysql.err.MySQLError:  # the node may be busy starting the import: ask again
        return False


@pytest.fixture
def big_source(deployed):
    from harborlab.sourcedb import SourceDb

    lab, _ = deployed
    SourceDb().set_access_log_rows(lab, BIG)
    try:
        yield lab
    finally:
        lab.up()  # the killed node rejoins the cluster (IST or SST)
        SourceDb().set_access_log_rows(lab, int(lab.options.get("access_log_rows", 300)))
        from harborlab.galera import nodes_from

        first = nodes_from(lab.ports)[0]
        galera_sql(lab, first, f"DROP DATABASE IF EXISTS `{FAULT_DB}`")
        galera_sql(lab, first, f"DROP DATABASE IF EXISTS `{FAULT_DB}__staging`")


@pytest.mark.parametrize("victim", ["connected", "peer"])
def test_a_galera_node_killed_mid_import_leaves_the_target_whole(deployed, big_source, tmp_path, victim):
    """The node 02 imports through (the first endpoint) or another one is SIGKILLed while the
    import runs: either the run fails with a clear message and the target holds no table, or it
    completes; in both cases a re-run ends with the full, verified target."""
    from harborlab.galera import nodes_from

    lab, out = deployed
    nodes = nodes_from(lab.ports)
    connected, killed = nodes[0], nodes[0] if victim == "connected" else nodes[2]
    survivor = nodes[1]
    params = params_copy(tmp_path, **{"database: registry_k8s": f"database: {FAULT_DB}"})
    proc = subprocess.Popen([sys.executable, "-m", "harborbook.cli", "run", "02", "--params", str(params),
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not importing(lab, connected):
            assert proc.poll() is None, "02 ended before its import started: " + "".join(proc.communicate())
            assert time.monotonic() < deadline, "the import never started"
            time.sleep(0.1)
        pid = lab.pid(killed.name)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # by PID: a mariadbd the lab started
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    tables = galera_sql(lab, survivor, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                        (FAULT_DB,))[0][0]
    if victim == "connected":
        assert proc.returncode != 0, "02 cannot finish through a dead server: " + stdout
    if proc.returncode != 0:
        # A clean failure: the step, what happened, what to do; never a traceback; no target table.
        assert "step 'migrate'" in stderr and "re-run" in stderr and "Traceback" not in stderr, stderr
        assert tables == 0, "an interrupted import must leave the target untouched"
    else:
        # Two nodes of three keep quorum: the import may ride out the view change and complete.
        assert victim == "peer" and tables > 0

    again = harborbook("run", "02", "--params", str(params), "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    rows = galera_sql(lab, survivor, f"SELECT COUNT(*) FROM `{FAULT_DB}`.access_log")[0][0]
    assert rows == BIG
    staging = galera_sql(lab, survivor, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                         (f"{FAULT_DB}__staging",))[0][0]
    assert staging == 0, "the staging copy is dropped once the swap is done"
