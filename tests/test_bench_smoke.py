"""The benchmarks in bench/ kept working: their pure parts, and a run of each with tiny sizes.

Benchmarks are not timed tests: nothing here asserts a speed. The smoke runs only prove that
every script still runs end to end and reports a table; the lab-backed ones (db_migrate, e2e)
start their own small lab on shifted ports, never the default .lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # the scripts import their shared `common` by name

import db_migrate  # noqa: E402
import e2e  # noqa: E402
import fleet_scan  # noqa: E402
import kube_api  # noqa: E402

from harborbook import params as params_mod  # noqa: E402

PORT_SHIFT = int(os.environ.get("HARBORBOOK_BENCH_SMOKE_PORT_SHIFT", "4000"))


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the last markdown table printed."""
    lines = [l for l in output.splitlines() if l.startswith("|")]
    return [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]


# -- pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("offset, port", [(0, 31777), (3000, 32009), (4000, 30241), (2768, 31777), (990, 32767), (991, 30000)],
                         ids=["default-lab", "bench-lab", "smoke-lab", "full-cycle", "range-end", "wraps-to-range-start"])
def test_node_port_moves_with_the_offset_inside_the_nodeport_range(offset, port):
    assert e2e.node_port_for(offset) == port
    assert 30000 <= port <= 32767


def fake_lab_json(state: Path, shift: int) -> None:
    """A lab.json shaped like `lab up` writes it, on shifted ports."""
    secrets = state / "secrets"
    secrets.mkdir(parents=True)
    for name in ("harbor-admin-password", "ceph-admin-key", "harbor-db-password", "galera-admin-password",
                 "harbor-db-user-password", "redis-password"):
        (secrets / name).write_text("x")
        os.chmod(secrets / name, 0o600)
    (state / "lab.json").write_text(json.dumps({
        "ceph": {"monitors": [f"127.0.0.1:{16789 + shift}"], "mountpoint": str(state / "cephfs"),
                 "secret_file": str(secrets / "ceph-admin-key")},
        "galera": {"nodes": [{"host": "127.0.0.1", "port": 13306 + shift + i} for i in range(3)],
                   "password_file": str(secrets / "galera-admin-password"), "user": "harborbook_admin"},
        "harbor-db": {"host": "127.0.0.1", "port": 13316 + shift, "user": "harbor_src",
                      "password_file": str(secrets / "harbor-db-password")},
        "kube-apiserver": {"kubeconfig": str(state / "kubeconfig")},
        "lab": {"ports": {"redis": 16379 + shift}},
        "redis": {"host": "127.0.0.1", "port": 16379 + shift, "password_file": str(secrets / "redis-password")},
    }))


def test_e2e_params_point_at_the_shifted_lab_and_validate(tmp_path):
    fake_lab_json(tmp_path, 3000)
    path = e2e.write_params(e2e.lab_params(tmp_path), tmp_path)
    p = params_mod.load(path)
    assert p.harbor.node_port == 32009 and p.harbor.hostname == "127.0.0.1:32009"
    assert [e.port for e in p.database.target.endpoints] == [16306, 16307, 16308]
    assert p.database.source.port == 16316 and p.redis.port == 19379
    assert p.storage.monitors == ["127.0.0.1:19789"]
    assert str(tmp_path / "kubeconfig") in str(p.cluster.kubeconfig)
    # Every secret is a reference into the lab's state, never a value.
    text = path.read_text()
    assert "file:" + str(tmp_path / "secrets" / "redis-password") in text


def test_e2e_params_without_a_lab_name_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="lab.json"):
        e2e.lab_params(tmp_path)


def runner_results(**durations: float) -> dict:
    return {"runner": {name: {"status": "ok", "duration_s": s} for name, s in durations.items()}}


DEPLOY_NAMES = ["00-preflight", "01-cephfs-storage", "02-database", "03-render-config", "04-rollout", "05-verify"]


@pytest.mark.parametrize("durations, verdict", [
    ({n: 10.0 for n in DEPLOY_NAMES} | {"06-node-disk-pressure": 50.0}, "(goal < 90: met)"),
    ({n: 16.0 for n in DEPLOY_NAMES}, "(goal < 90: NOT met)"),
    ({n: 1.0 for n in DEPLOY_NAMES[:3]}, "(goal < 90: NOT met)"),
], ids=["fast-deploy-06-not-counted", "slow-deploy", "stopped-after-02"])
def test_procedure_rows_judge_the_deploy_goal(durations, verdict):
    rows = e2e.procedure_rows(123.4, runner_results(**durations), "first")
    deploy = next(r for r in rows if r["runbook"].startswith("deploy"))
    assert deploy["papermill (s)"].endswith(verdict)
    assert deploy["status"] == ("ok" if len(durations) >= 6 else "incomplete")
    assert rows[-1]["papermill (s)"] == "123.4"


def side(seconds: float, rss: float) -> dict:
    return {"seconds": seconds, "rss_mb": rss, "timings": {"import": seconds * 0.9, "verify": 0.1, "swap": 0.0}}


@pytest.mark.parametrize("ours, base, met", [
    ([side(9, 120)] * 3, [side(10, 20)] * 3, "yes"),
    ([side(11, 120)] * 3, [side(10, 20)] * 3, "no"),
    ([side(9, 120), side(9, 320), side(9, 120)], [side(10, 20)] * 3, "no"),
], ids=["faster-and-small", "slower", "one-run-over-300MB"])
def test_db_summary_judges_ratio_and_peak_rss(ours, base, met):
    (row,) = db_migrate.summary(1000, {"ours": ours, "baseline": base})
    assert row["goal met"] == met
    assert row["ratio"] == f"{ours[0]['seconds'] / 10:.2f}"


def test_rename_touches_only_the_database_name(tmp_path):
    dump = ("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `registry` /*!40100 DEFAULT CHARACTER SET utf8mb3 */;\n"
            "USE `registry`;\n"
            "INSERT INTO `replication_target` VALUES (1,'registry','http://`registry`.example');\n")
    out = subprocess.run(db_migrate.rename_command("registry", "registry_k8s"), input=dump,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `registry_k8s`")
    assert out[1] == "USE `registry_k8s`;"
    assert out[2] == dump.splitlines()[2]  # data that merely contains the name is left alone


@pytest.mark.parametrize("code, floor_mb, ceiling_mb", [
    ("b = bytearray(80 << 20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(0.3)", 80, None),
    ("import time; time.sleep(0.3)", None, 40),
], ids=["child-that-allocates-80MB", "idle-child-not-charged-its-parent"])
def test_peak_sampler_measures_each_process_of_the_tree(code, floor_mb, ceiling_mb):
    ballast = bytearray(200 << 20)  # this process is big: a child must not inherit its peak
    ballast[::4096] = b"y" * len(ballast[::4096])
    with db_migrate.PeakSampler() as sampler:
        shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{code}"; true'])
        sampler.watch(shell.pid)
        assert shell.wait(30) == 0
    peaks = sampler.by_name()
    python = max(mb for name, mb in peaks.items() if name.startswith("python"))
    if floor_mb:
        assert python >= floor_mb
    if ceiling_mb:
        assert python < ceiling_mb
    assert peaks.get("sh", 0) < 40
    del ballast


# -- smoke runs -----------------------------------------------------------------------------------

@pytest.mark.emulator
@pytest.mark.slow
def test_fleet_scan_smoke(capsys):
    assert fleet_scan.main(["--nodes", "5", "--runs", "1", "--concurrency", "4"]) == 0
    (row,) = table_rows(capsys.readouterr().out)
    assert row[0] == "8"  # 5 synthetic nodes plus the 3 lab nodes
    assert float(row[1]) > 0 and float(row[2]) > 0


@pytest.mark.emulator
@pytest.mark.slow
def test_kube_api_smoke(capsys):
    assert kube_api.main(["--nodes", "10", "--watches", "3", "--runs", "1"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["list 13 nodes", "one change seen by 3 watches", "3-replica Deployment to Ready"]
    assert all(float(r[1]) > 0 for r in rows)


@pytest.mark.slow
def test_e2e_fixed_cost_smoke(tmp_path, capsys):
    fake_lab_json(tmp_path / "lab", 3000)
    assert e2e.main(["--state", str(tmp_path / "lab"), "--skip-procedure", "--runs", "1",
                     "--keep", str(tmp_path / "out")]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["00-empty", "00-imports"]
    assert all(float(r[1]) > 0 for r in rows)


@pytest.fixture(scope="module")
def bench_lab():
    """A whole small lab on ports shifted by PORT_SHIFT, purged at the end."""
    from harborlab.lab import Lab, shifted_ports, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    state = Path(tempfile.mkdtemp(prefix="hb-bench-smoke-"))
    os.chmod(state, 0o755)  # mariadbd runs as mysql and must traverse it
    lab = Lab(state, "article", ports=shifted_ports(PORT_SHIFT), access_log_rows=200)
    try:
        lab.up()
        yield state
    finally:
        Lab(state, "article").down(purge=True)
        subprocess.run(["rm", "-rf", str(state)], check=False)


@pytest.mark.lab
@pytest.mark.slow
def test_db_migrate_smoke(bench_lab, capsys):
    assert db_migrate.main(["--state", str(bench_lab), "--rows", "150", "--runs", "1",
                            "--sides", "ours,ours-no-artifact,baseline"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [(r[0], r[1]) for r in rows] == [("150", "ours"), ("150", "ours-no-artifact")]
    assert all(float(r[4]) > 0 and float(r[6]) > 0 for r in rows)  # ratio, ours' peak RSS
    _, target = db_migrate.lab_servers(bench_lab)
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'registry_bench%'")
            assert cur.fetchall() == ()  # the benchmark leaves no database behind
    finally:
        conn.close()


@pytest.mark.lab
@pytest.mark.slow
def test_e2e_smoke(bench_lab, tmp_path, capsys):
    started = time.monotonic()
    assert e2e.main(["--state", str(bench_lab), "--runbooks", "00", "--reruns", "0", "--runs", "1",
                     "--keep", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| first | 00-preflight | ok |" in out
    assert time.monotonic() - started < 600
