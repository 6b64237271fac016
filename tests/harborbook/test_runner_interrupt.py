"""Ctrl-C during `harborbook run`: the running cell's own clean-up (its `finally`) runs before the
kernel goes, and the run stops with 130; started with SIGINT ignored, the run goes on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

CELLS = [
    "import os, time\nfrom pathlib import Path\nfrom harborbook import runbook",
    "params_file = 'x.yaml'\ndry_run = False",
    "rb = runbook.start('00-sleeps', params_file, dry_run=dry_run)",
    ("mark = Path(os.environ['HARBORBOOK_TEST_MARK'])\n"
     "try:\n    mark.with_suffix('.started').touch()\n    time.sleep(120)\n"
     "finally:\n    mark.write_text('cleaned up')"),
    "rb.finish()",
]


def runbooks(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.cells[1].metadata["tags"] = ["parameters"]
    folder.mkdir()
    nbformat.write(nb, folder / "00-sleeps.ipynb")
    return folder


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_ctrl_c_interrupts_the_cell_which_cleans_up(tmp_path, root, sigint):
    mark = tmp_path / "mark"
    disposition = signal.SIG_DFL if sigint == "default" else signal.SIG_IGN
    proc = subprocess.Popen(
        [sys.executable, "-m", "harborbook.cli", "run", "00", "--runbooks-dir", str(runbooks(tmp_path / "rb")),
         "--params", str(root / "params" / "sandbox.yaml"), "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "HARBORBOOK_TEST_MARK": str(mark)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, disposition))
    try:
        deadline = time.monotonic() + 120
        while not mark.with_suffix(".started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        if sigint == "ignored":
            # Started with SIGINT ignored (a background job): the run goes on, as it always did.
            with pytest.raises(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
            assert not mark.exists()
            return
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 130, out + err
        assert mark.read_text() == "cleaned up"      # the cell's finally ran in the kernel
        assert time.monotonic() - interrupted < 60   # not the 120 s sleep
        assert "interrupted" in out + err and "resume with:" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
