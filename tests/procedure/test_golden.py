"""The committed notebooks are golden: a fresh lab run must reproduce their checked outputs.

Each runbook's verdict cells are marked ``# NBVAL_CHECK_OUTPUT`` and print deterministic
content; nbval re-executes every notebook (in order, with its default parameters, which point at
the sandbox lab) and compares those cells after tests/nbval-sanitize.cfg. `make golden`
regenerates the outputs on purpose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, mark_deployed, shared_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
RUNBOOKS = ROOT / "runbooks"


@pytest.fixture(scope="module")
def fresh_lab():
    """An article lab nobody deployed on (00 in the browser may have read it); nbval deploys on
    it, and the faults then reuse that deployment (see conftest.py)."""
    yield shared_lab("article", undeployed=True)
    mark_deployed()


def nbval(*books: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-sanitize-with",
         str(ROOT / "tests" / "nbval-sanitize.cfg"), "-p", "no:cacheprovider", "-q", "-rf",
         "-o", "addopts=", "-o", "filterwarnings=", "--nbval-cell-timeout=600", *map(str, books)],
        cwd=RUNBOOKS, capture_output=True, text=True, timeout=1800)


def rename_summary_column(notebook: dict, old: str, new: str) -> int:
    """Rename a column of the step-summary table in the stored outputs; that cell's number as
    nbval counts (code cells only)."""
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for index, cell in enumerate(code):
        source = "".join(cell["source"])
        if "NBVAL_CHECK_OUTPUT" in source and "rb.finish()" in source:
            for output in cell["outputs"]:
                data = output.get("data", {})
                plain = "".join(data["text/plain"]).split("\n")
                assert old in plain[0], plain[0]
                data["text/plain"] = "\n".join([plain[0].replace(old, new), *plain[1:]])
                data["text/html"] = "".join(data.get("text/html", "")).replace(f"<th>{old}</th>", f"<th>{new}</th>")
            return index
    raise AssertionError("no checked step-summary cell")


def test_a_changed_table_column_fails_nbval(fresh_lab):
    """The control for the test below: the same comparison catches a renamed column.

    00 only reads, so it runs here on the fresh lab before the whole set deploys onto it.
    """
    original = RUNBOOKS / "00-preflight.ipynb"
    notebook = json.loads(original.read_text())
    cell = rename_summary_column(notebook, "status", "verdict")
    broken = RUNBOOKS / "_nbval_broken_00.ipynb"  # beside the others: the params paths are relative
    broken.write_text(json.dumps(notebook))
    try:
        result = nbval(original, broken)
    finally:
        broken.unlink()
    failed = re.findall(r"^FAILED (\S+::Cell \d+)", result.stdout, re.M)
    assert result.returncode != 0 and failed, result.stdout[-4000:]
    assert all(name.startswith(f"{broken.name}::") for name in failed), failed  # the pristine copy passes
    assert [name.split("::")[1] for name in failed] == [f"Cell {cell}"], failed
    assert "verdict" in result.stdout, "the diff shows the stored column"


def test_runbooks_reproduce_their_golden_outputs(fresh_lab):
    result = nbval(*sorted(RUNBOOKS.glob("[0-9][0-9]-*.ipynb")))
    (ROOT / "runs").mkdir(exist_ok=True)
    (ROOT / "runs" / "nbval-last.log").write_text(result.stdout + result.stderr)  # the full diff, for a human
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    mark_deployed(succeeded=True)  # every runbook ran without an error: the faults may reuse it
