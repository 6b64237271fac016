"""The preflight runbook opened in a real browser: JupyterLab + Debian's Chromium, run all, no error.

JupyterLab serves a copy of the runbook (autosave must never touch the golden notebook) beside
links to the repository's params and the sandbox lab, on loopback with a token. Playwright drives
/usr/bin/chromium (no browser download is possible here), runs all cells, waits until every cell
has executed, asserts that no error output is on the page, and leaves a screenshot.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, STATE, sandbox_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preflight_runs_in_jupyterlab_in_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sandbox_lab("article"):
        root = tmp_path / "lab-root"
        (root / "runbooks").mkdir(parents=True)
        shutil.copy(ROOT / "runbooks" / "00-preflight.ipynb", root / "runbooks")
        (root / "params").symlink_to(ROOT / "params")
        (root / ".lab").symlink_to(STATE)
        # Render every cell (no windowing), so that the whole notebook is on the page to inspect.
        settings = tmp_path / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        token, port = secrets.token_hex(16), free_port()
        jupyter = Path(sys.executable).with_name("jupyter")
        log = open(tmp_path / "jupyter.log", "wb")
        server = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")},
            start_new_session=True)
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
