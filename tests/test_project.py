"""The house rules that a reviewer would otherwise check by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = YAML(typ="safe").load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e .[dev]" in pip, "the pip section must install the project itself"
    assert set(pip) - {"-e .[dev]"} == wanted


# The only ceilings, each for a known incompatibility (said where pyproject.toml sets it).
CEILINGS = {"pytest>=7.4,<9.2"}  # pytest 9.2 ignores pytest-xdist 3.8's groups (tests/test_streams.py)


def test_dependencies_have_lower_bounds_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        if req in CEILINGS:
            continue
        assert ">=" in req and "<" not in req.replace("<=", "") and "==" not in req, req


def test_import_contracts_hold():
    """harborbook never imports harborlab; its layers import downwards only (pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "harborbook layers" in result.stdout and " 0 broken" in result.stdout


def test_mypy_is_clean_on_harborbook():
    """The types hold (mypy with the pydantic plugin, configured in pyproject.toml)."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout


def test_the_import_contracts_catch_a_violation(tmp_path):
    """The contracts as written in pyproject.toml fail on a lab module that imports the product
    (and on the reverse), shown on a two-package tree: the control for the test above."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = [c for c in project["contracts"] if c["type"] == "forbidden"]
    config = ['[importlinter]', 'root_packages =', '    harborbook', '    harborlab']
    for i, contract in enumerate(contracts):
        config += [f"[importlinter:contract:{i}]", f"name = {contract['name']}", "type = forbidden",
                   "source_modules =", *(f"    {m}" for m in contract["source_modules"]),
                   "forbidden_modules =", *(f"    {m}" for m in contract["forbidden_modules"])]
    (tmp_path / ".importlinter").write_text("\n".join(config) + "\n")
    lint = Path(sys.executable).with_name("lint-imports")

    def lint_with(lab_code: str, product_code: str) -> subprocess.CompletedProcess:
        for package, code in (("harborlab", lab_code), ("harborbook", product_code)):
            (tmp_path / package).mkdir(exist_ok=True)
            (tmp_path / package / "__init__.py").write_text("")
            (tmp_path / package / "module.py").write_text(code)
        return subprocess.run([str(lint), "--config", str(tmp_path / ".importlinter"), "--no-cache"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)})

    assert lint_with("import json\n", "import json\n").returncode == 0
    broken = lint_with("from harborbook import module\n", "import json\n")
    assert broken.returncode != 0 and "harborlab never imports harborbook" in broken.stdout, broken.stdout
    reverse = lint_with("import json\n", "import harborlab.module\n")
    assert reverse.returncode != 0 and "harborbook never imports harborlab" in reverse.stdout, reverse.stdout


def test_harborbook_does_not_import_harborlab():
    """At run time too (import-linter reads the source; this imports it)."""
    code = "import sys, harborbook, harborbook.errors; print([m for m in sys.modules if m.startswith('harborlab')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def notebooks() -> list[Path]:
    return sorted((ROOT / "runbooks").glob("*.ipynb")) + sorted((ROOT / "tests" / "fixtures" / "runbooks").glob("*.ipynb"))


def _body(script: str) -> str:
    """A percent script without its metadata header (which names the jupytext version)."""
    lines = script.strip().splitlines()
    if lines and lines[0] == "# ---":
        end = lines.index("# ---", 1)
        lines = lines[end + 1:]
    return "\n".join(lines).strip()


@pytest.mark.parametrize("notebook", notebooks(), ids=lambda p: p.name)
def test_jupytext_pair_in_sync(notebook):
    script = notebook.with_suffix(".py")
    assert script.exists(), f"{notebook.name} has no paired {script.name}"
    jupytext = Path(sys.executable).with_name("jupytext")
    # What the notebook's code and markdown would be as a script, compared with the script.
    result = subprocess.run([str(jupytext), "--to", "py:percent", "--output", "-", str(notebook)],
                            capture_output=True, text=True, timeout=120, cwd=notebook.parent)
    assert result.returncode == 0, result.stderr
    assert _body(result.stdout) == _body(script.read_text()), (
        f"{notebook.name} and {script.name} drifted apart: run `make sync`")


@pytest.mark.parametrize("notebook", notebooks(), ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_with_safe_defaults(notebook):
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "params_file" in tagged[0].source and "dry_run = False" in tagged[0].source
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("notebook", sorted((ROOT / "runbooks").glob("[0-9][0-9]-*.ipynb")), ids=lambda p: p.name)
def test_every_plot_in_a_golden_notebook_is_a_picture(notebook):
    """A plot cell's stored output is a PNG (what JupyterLab and the HTML show), never the text
    `<Figure size ...>` that a forced non-interactive backend leaves."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or ".plot_" not in source:
            continue
        kinds = [kind for output in cell.get("outputs", []) for kind in output.get("data", {})]
        assert "image/png" in kinds, f"{notebook.name}: {source.splitlines()[0]} shows {kinds or 'nothing'}"
