"""The runbooks and the report in a real browser: Debian's Chromium driven by Playwright.

1. JupyterLab started by the README's own command (`harborbook notebook`) serves a copy of the
   preflight runbook (autosave must never touch the golden notebook) beside links to the
   repository's params and the sandbox lab; we run all cells, wait until every cell has executed,
   assert that no error output is on the page, and leave a screenshot.
2. The report of a `harborbook run` (index.html) is opened as a person would: the verdict banner,
   each runbook's status badge in its colour, the warning step with its hint, and the link to the
   executed notebook's HTML, followed.

/usr/bin/chromium is used because no browser download is possible here.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, SANDBOX, STATE, harborbook, run_dir_of, shared_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    # 00 only reads: the lab is handed on to the golden notebooks (see conftest.py).
    return shared_lab("article", undeployed=True)


def test_preflight_runs_in_jupyterlab_in_chromium(tmp_path, lab):
    from playwright.sync_api import sync_playwright

    root = tmp_path / "lab-root"
    (root / "runbooks").mkdir(parents=True)
    shutil.copy(ROOT / "runbooks" / "00-preflight.ipynb", root / "runbooks")
    (root / "params").symlink_to(ROOT / "params")
    (root / ".lab").symlink_to(STATE)
    # Render every cell (no windowing), so that the whole notebook is on the page to inspect.
    settings = tmp_path / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = free_port()
    log = open(tmp_path / "jupyter.log", "wb")
    # The README's command; the settings after `--` only make the page testable.
    server = subprocess.Popen(
        [sys.executable, "-m", "harborbook.cli", "notebook", "--port", str(port), "--dir", str(root), "--",
         f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.PIPE, stderr=log, env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")},
        start_new_session=True, text=True)
    url = ""
    while not url.startswith("open: "):
        url = server.stdout.readline()
        assert url or server.poll() is None, (tmp_path / "jupyter.log").read_text()
    url = url.split(": ", 1)[1].strip()
    assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
    token = url.split("token=", 1)[1]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "jupyter.log").read_text()
                time.sleep(0.5)
        with sync_playwright() as pw:
            # A fresh profile directory: playwright passes it as --user-data-dir.
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
                viewport={"width": 1400, "height": 1000})
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/lab/tree/runbooks/00-preflight.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
                # The kernel is connected when the status bar says so (not merely "Initializing").
                page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
                page.screenshot(path=str(tmp_path / "opened.png"))
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                code_cells = page.locator(".jp-CodeCell").count()
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
                    done = [p for p in prompts if re.fullmatch(r"\[\d+\]:?", p.strip())]
                    if len(done) == code_cells and not any("*" in p for p in prompts):
                        break
                    time.sleep(1)
                page.screenshot(path=str(tmp_path / "00-preflight.png"), full_page=True)
                assert len(done) == code_cells, f"{len(done)} of {code_cells} cells ran: {prompts}"
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                texts = [t for t in errors.all_inner_texts() if "Error" in t or "Traceback" in t]
                assert texts == [], texts
                assert page.locator(".jp-OutputArea-output", has_text="preflight").count() > 0
            finally:
                browser.close()
    finally:
        server.terminate()  # by the PID we started
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert (tmp_path / "00-preflight.png").stat().st_size > 10_000


def test_the_report_shows_the_run_at_a_glance_in_chromium(tmp_path, lab):
    from playwright.sync_api import sync_playwright

    done = harborbook("run", "00", "--params", str(SANDBOX), "--out", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    index = run_dir_of(done.stdout) / "index.html"
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
            viewport={"width": 1200, "height": 900})
        try:
            page = browser.new_page()
            page.goto(index.as_uri())
            assert page.locator("#verdict").inner_text().startswith("succeeded")
            badge = page.locator("tr[data-runbook='00-preflight'] .badge")
            assert badge.inner_text() == "ok"
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(26, 127, 55)"  # green
            # On a fresh lab the namespace does not exist yet: a warning, with the hint that says why.
            warning = page.locator("[data-step-status='warning']").first
            assert "harbor does not exist yet" in warning.inner_text()
            assert "01-cephfs-storage creates it" in warning.inner_text()
            assert page.locator("a[href='summary.md']").count() == 1
            assert page.locator("a[href='results.json']").count() == 1
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
            page.locator("tr[data-runbook='00-preflight'] td a").first.click()
            page.wait_for_load_state()
            assert page.url.endswith("00-preflight.html")
            assert page.locator("text=preflight").count() > 0
        finally:
            browser.close()
