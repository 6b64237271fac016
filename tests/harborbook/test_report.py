"""index.html: the run at a glance — status in colour, what failed or warned with its hint, where
the evidence is, how to resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harborbook import report
from harborbook.runner import Outcome, Run


def make_run(tmp_path: Path, *, stop: bool) -> Run:
    run_dir = tmp_path / "20261130-101010-abcd"
    (run_dir / "artifacts" / "02-database").mkdir(parents=True)
    steps = {
        "00-preflight": {"status": "ok", "steps": [
            {"name": "kubernetes", "status": "warning", "summary": "3 checks: 2 ok, 1 warning",
             "data": {"checks": [
                 {"area": "kubernetes", "check": "namespace", "status": "warning",
                  "detail": "harbor does not exist yet", "hint": "01-cephfs-storage creates it"},
                 {"area": "kubernetes", "check": "API reachable", "status": "ok", "detail": "v1.25"}]}}]},
        "02-database": {"status": "failed", "steps": [
            {"name": "migrate", "status": "failed", "summary": "lost the connection to 127.0.0.1:13306",
             "hint": "re-run: the step resumes safely"}]},
    }
    (run_dir / "results.json").write_text(json.dumps({"runbooks": steps}))
    outcomes = []
    for name, status in [("00-preflight", "ok"), ("01-cephfs-storage", "ok"), ("02-database", "failed")]:
        if status == "failed" and not stop:
            status = "ok"
        nb = run_dir / f"{name}.ipynb"
        nb.write_text("{}")
        html = run_dir / f"{name}.html"
        html.write_text("<html></html>")
        outcomes.append(Outcome(name, status, 1.5, notebook=nb, html=html,
                                message="step 'migrate': lost the connection" if status == "failed" else None))
    return Run(run_dir, outcomes, missing=[], params_file=Path("/p/params/sandbox.yaml"),
               params_hash="1234abcd", names=["00", "01", "02"])


def test_a_stopped_run_shows_where_why_and_how_to_resume(tmp_path):
    page = report.index_html(make_run(tmp_path, stop=True))
    assert 'id="verdict"' in page and "stopped at 02-database: failed" in page
    assert f'background:{report.COLOURS["failed"]}" data-status="failed"' in page
    # the failed step with its message and hint, the warning check with its own hint
    assert "<b>migrate</b>: lost the connection to 127.0.0.1:13306" in page
    assert "hint: re-run: the step resumes safely" in page
    assert "namespace: harbor does not exist yet" in page and "01-cephfs-storage creates it" in page
    assert "API reachable" not in page  # ok checks are not noise in the report
    # the evidence: each notebook and its HTML, artifacts, summary.md, results.json
    for href in ("02-database.html", "02-database.ipynb", "artifacts/02-database", "summary.md", "results.json"):
        assert f'href="{href}"' in page, href
    assert "/p/params/sandbox.yaml" in page and "1234abcd" in page
    resume = re.search(r'<code id="resume">(.*?)</code>', page).group(1)
    assert resume == (f"harborbook run 00 01 02 --params /p/params/sandbox.yaml --resume "
                      f"{tmp_path / '20261130-101010-abcd'}")


def test_a_good_run_says_so_and_offers_no_resume(tmp_path):
    page = report.index_html(make_run(tmp_path, stop=False))
    assert "succeeded: 3 runbook(s)" in page
    assert 'id="resume"' not in page
    assert 'data-status="failed"' not in page.split("<h2>")[0]


def test_every_link_in_the_report_exists(tmp_path):
    run = make_run(tmp_path, stop=True)
    page = report.write(run.run_dir, run).read_text()
    for href in re.findall(r'href="([^"]+)"', page):
        assert (run.run_dir / href).exists(), href
