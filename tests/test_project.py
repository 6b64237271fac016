"""The house rules that a reviewer would otherwise check by hand."""

from __future__ import annotations

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


def test_dependencies_have_lower_bounds_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
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
