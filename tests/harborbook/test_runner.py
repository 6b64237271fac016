"""`harborbook run`: order, failure report with hint and resume command, --resume, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "runbooks"
pytestmark = pytest.mark.slow


def harborbook(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harborbook.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


def run_dir_of(output: str) -> Path:
    line = next(l for l in output.splitlines() if l.startswith("report: "))
    return Path(line.split(": ", 1)[1]).parent


def test_help_documents_every_option():
    out = harborbook("run", "--help").stdout
    for option in ["--params", "--out", "--from", "--resume", "--dry-run", "--cell-timeout"]:
        assert option in out
    assert "RUNBOOKS" in out


def test_failure_prints_hint_and_resume_command_then_resume_completes(tmp_path, root):
    marker = tmp_path / "fail-marker"
    marker.touch()
    env = {"HARBORBOOK_FIXTURE_FAIL": str(marker)}
    args = ["run", "00", "01", "--runbooks-dir", str(FIXTURES), "--out", str(tmp_path / "runs"),
            "--params", str(root / "params" / "sandbox.yaml")]
    first = harborbook(*args, env=env)
    assert first.returncode == 1, first.stderr
    assert "01-second failed at cell" in first.stderr
    assert "step 'check marker': the marker exists" in first.stderr
    assert "hint: remove the marker file" in first.stderr
    resume_line = next(l for l in first.stderr.splitlines() if l.startswith("resume with: "))
    run_dir = run_dir_of(first.stdout)
    assert f"--resume {run_dir}" in resume_line
    results = json.loads((run_dir / "results.json").read_text())
    assert results["runner"]["00-first"]["status"] == "ok"
    assert results["runner"]["01-second"]["status"] == "failed"
    for name in ["00-first.ipynb", "00-first.html", "01-second.ipynb", "summary.md", "index.html"]:
        assert (run_dir / name).exists(), name
    assert "hint: remove the marker file" in (run_dir / "summary.md").read_text()

    marker.unlink()
    second = harborbook(*args, "--resume", str(run_dir), env=env)
    assert second.returncode == 0, second.stderr
    assert "00-first" in second.stdout and "skipped" in second.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["runner"]["01-second"]["status"] == "ok"
    assert results["runbooks"]["01-second"]["steps"][0]["status"] == "ok"


def test_resume_refuses_changed_params(tmp_path, root, sandbox_text):
    params = tmp_path / "p.yaml"
    params.write_text(sandbox_text)
    args = ["run", "00", "--runbooks-dir", str(FIXTURES), "--out", str(tmp_path / "runs"), "--params", str(params)]
    first = harborbook(*args)
    assert first.returncode == 0, first.stderr
    run_dir = run_dir_of(first.stdout)
    params.write_text(sandbox_text.replace("db: 11", "db: 12"))
    again = harborbook(*args, "--resume", str(run_dir))
    assert again.returncode == 2  # bad arguments, as the README says
    assert "the params changed since this run started" in again.stderr
    assert "Traceback" not in again.stderr


def test_invalid_params_exit_2_before_any_kernel(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster:\n  namespce: x\n")
    result = harborbook("run", "--runbooks-dir", str(FIXTURES), "--out", str(tmp_path), "--params", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2 cluster.namespce: unknown key (did you mean 'namespace'?)" in result.stderr
    assert not list(tmp_path.glob("*/results.json"))


def test_unknown_runbook_is_a_clear_error(tmp_path, root):
    result = harborbook("run", "99", "--runbooks-dir", str(FIXTURES), "--out", str(tmp_path))
    assert result.returncode == 2  # bad arguments exit 2 (README, "Exit statuses")
    assert "no runbook named '99'" in result.stderr and "00-first" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before a run directory exists


def test_a_from_outside_the_selection_exits_2(tmp_path, root):
    result = harborbook("run", "00", "--from", "01", "--runbooks-dir", str(FIXTURES), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "--from 01: not among the selected runbooks (00-first)" in result.stderr


def test_params_check(tmp_path, root, sandbox_text):
    good = harborbook("params", "check", str(root / "params" / "sandbox.yaml"))
    assert good.returncode == 0, good.stderr
    assert "password: '*** (file:" in good.stdout or "password: *** (file:" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(sandbox_text.replace("  namespace: harbor", "  namespce: harbor")
                   .replace("port: 13307", "port: 133o7")
                   .replace("password: file:../.lab/secrets/redis-password", "password: plain-value-123"))
    result = harborbook("params", "check", str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:6 cluster.namespce: unknown key (did you mean 'namespace'?)" in lines
    assert f"{bad}:36 database.target.endpoints[1].port: expected an integer, got '133o7'" in lines
    assert any(l.startswith(f"{bad}:47 redis.password: expected a secret reference") for l in lines)
    assert "plain-value-123" not in result.stderr + result.stdout


def test_a_run_directory_deeper_than_a_socket_path_allows(tmp_path, root):
    # sockaddr_un holds 107 bytes: the kernel's IPC sockets once lived in the run directory, and a
    # deep one (pytest-xdist's temp folders were enough) stopped every kernel from starting.
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "runs"
    done = harborbook("run", "00", "--runbooks-dir", str(FIXTURES), "--out", str(deep),
                      "--params", str(root / "params" / "sandbox.yaml"))
    assert done.returncode == 0, done.stderr
    assert len(str(run_dir_of(done.stdout))) > 107
    assert not list(run_dir_of(done.stdout).glob(".kernel*"))
