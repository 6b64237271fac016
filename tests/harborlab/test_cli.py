"""The `lab` command group: exit codes, one-line errors, options reaching the Lab. No root, no daemons."""

from __future__ import annotations

import os

from click.testing import CliRunner

from harborlab import cli
from harborlab.component import DOWN, OK, STARTED, StatusRow
from harborlab.lab import PORTS, LabError


def test_cli_not_root_exits_2_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("the lab needs root") and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_up_passes_extra_options_to_the_lab(monkeypatch, tmp_path):
    seen = {}

    class Recorder:
        timings = {"x": 1.25}

        def __init__(self, state, profile, **options):
            seen.update(state=state, profile=profile, **options)

        def up(self):
            return {"x": STARTED}

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Recorder)
    result = CliRunner().invoke(
        cli.lab, ["up", "--state", str(tmp_path), "--profile", "modern", "--access-log-rows", "5000"]
    )
    assert result.exit_code == 0, result.output
    assert seen["profile"] == "modern" and seen["access_log_rows"] == 5000 and seen["synthetic_nodes"] == 0
    assert "x: started (1.2s)" in result.output


def test_cli_reports_lab_errors_without_a_traceback(monkeypatch, tmp_path):
    class Failing:
        def __init__(self, *args, **kwargs):
            pass

        def up(self):
            raise LabError("port 127.0.0.1:16379 is already in use by redis-server (pid 42)", hint="stop it")

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Failing)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path)])
    assert result.exit_code == 1
    assert "16379" in result.output and "hint: stop it" in result.output and "Traceback" not in result.output


def test_format_table_aligns_columns():
    rows = [StatusRow("galera-1", 10, "127.0.0.1:13306", OK, "wsrep_cluster_size=3 Synced"),
            StatusRow("redis", None, "127.0.0.1:16379", DOWN, "not running")]
    lines = cli.format_table(rows).splitlines()
    assert lines[0].split() == ["COMPONENT", "PID", "ADDRESS", "HEALTH", "DETAIL"]
    assert lines[1].index("127.0.0.1") == lines[2].index("127.0.0.1")
    assert " - " in lines[2]


def test_scenario_commands_are_part_of_the_lab_group():
    assert set(cli.lab.commands["scenario"].commands) == {"disk-pressure", "clear"}


def test_cli_port_offset_reaches_the_lab(monkeypatch, tmp_path):
    seen = {}

    class Recorder:
        timings: dict = {}

        def __init__(self, state, profile, ports=None, **options):
            seen["ports"] = ports

        def up(self):
            return {}

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "Lab", Recorder)
    result = CliRunner().invoke(cli.lab, ["up", "--state", str(tmp_path), "--port-offset", "1000"])
    assert result.exit_code == 0, result.output
    assert seen["ports"]["redis"] == PORTS["redis"] + 1000
