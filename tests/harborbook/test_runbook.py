"""The runbook scaffold: steps recorded in results.json, failures stop with message and hint."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harborbook import runbook
from harborbook.errors import RunbookError, TransportError
from harborbook.runbook import Status, StepResult
from harborbook.secrets import remember


@pytest.fixture
def rb(tmp_path, root):
    return runbook.start("00-test", root / "params" / "sandbox.yaml", run_dir=tmp_path)


def results(rb) -> dict:
    return json.loads((rb.run_dir / "results.json").read_text())


def test_start_records_params_hash_and_running(rb):
    data = results(rb)
    assert len(data["params_hash"]) == 16
    assert data["runbooks"]["00-test"]["status"] == "running"


def test_invalid_params_stop_at_start(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: {namespce: x}\n")
    with pytest.raises(RunbookError, match=r"the params file is invalid:\n.*bad.yaml:1 cluster.namespce: unknown key"):
        runbook.start("00-test", bad, run_dir=tmp_path / "run")


def test_steps_are_recorded_and_finish_returns_the_summary(rb):
    table = pd.DataFrame({"a": [1]})
    rb.step(lambda: StepResult("first", "changed", "made a thing", table=table, data={"n": 1}))
    rb.record(StepResult("second", "unchanged", "nothing to do"))
    summary = rb.finish()
    assert list(summary["status"]) == ["changed", "unchanged"]
    entry = results(rb)["runbooks"]["00-test"]
    assert entry["status"] == "ok"
    assert entry["steps"][0] == {"name": "first", "status": "changed", "summary": "made a thing", "data": {"n": 1}}


def test_a_failed_step_stops_with_message_hint_and_see(rb):
    def broken():
        raise TransportError("the API answered 401", hint="check the token", see="00-preflight")

    with pytest.raises(RunbookError) as info:
        rb.step(broken)
    assert info.value.hint == "check the token" and info.value.see == "00-preflight"
    assert "step 'broken' failed: the API answered 401" in str(info.value)
    entry = results(rb)["runbooks"]["00-test"]
    assert entry["status"] == "failed"
    assert entry["error"] == {"step": "broken", "message": "the API answered 401", "hint": "check the token",
                              "see": "00-preflight"}


def test_a_non_critical_failure_fails_finish(rb):
    rb.step(lambda: StepResult("optional", Status.FAILED, "skopeo missing", hint="apt-get install skopeo"),
            critical=False)
    rb.record(StepResult("after", "ok", "went on"))
    with pytest.raises(RunbookError, match="1 step\\(s\\) failed: optional"):
        rb.finish()
    assert results(rb)["runbooks"]["00-test"]["status"] == "failed"


def test_a_step_must_return_a_step_result(rb):
    with pytest.raises(TypeError, match="expected StepResult"):
        rb.step(lambda: "ok")


def test_displays_and_results_mask_revealed_secrets(rb):
    remember("pa55-w0rd-xyz")
    result = rb.record(StepResult("login", "ok", "server said pa55-w0rd-xyz is wrong",
                                  table=pd.DataFrame({"detail": ["pa55-w0rd-xyz"]})))
    assert "pa55-w0rd-xyz" not in repr(result) and "***" in repr(result)
    assert "pa55-w0rd-xyz" not in result._repr_html_()
    assert "pa55-w0rd-xyz" not in (rb.run_dir / "results.json").read_text()
    assert "pa55-w0rd-xyz" not in rb.summary().to_string()


def test_artifacts_live_in_the_run_directory(rb):
    path = rb.artifact("manifests.yaml")
    assert path.parent == rb.run_dir / "artifacts" / "00-test" and path.parent.is_dir()


def test_the_summary_table_shows_each_summary_whole(rb):
    # pandas cut cells at 50 characters, so where a summary was cut depended on the path in it.
    long = "/a/checkout/path/of/any/length/.lab/backups: 0 complete, 0 incomplete backup(s)"
    rb.record(StepResult("target", "ok", long))
    assert long in rb.finish()._repr_html_()
