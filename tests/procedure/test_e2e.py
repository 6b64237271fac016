"""The whole procedure, end to end, on both lab profiles: every runbook through `harborbook run`.

A first run deploys (steps ok / changed / unchanged / skipped, never failed); a second run
changes nothing; and no secret the lab generated appears in anything the runs produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakscan import find_leaks

from .conftest import ROOT, harborbook, run_dir_of, sandbox_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
GOOD = {"ok", "changed", "unchanged", "skipped"}


def steps(run_dir: Path) -> list[tuple[str, str, str, str]]:
    results = json.loads((run_dir / "results.json").read_text())
    return [(name, s["name"], s["status"], s["summary"]) for name, rb in results["runbooks"].items()
            for s in rb["steps"]]


def lab_secrets(state: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in (state / "secrets").iterdir() if p.is_file()}


@pytest.mark.parametrize("profile", ["article", "modern"])
def test_the_whole_procedure_twice(profile, tmp_path):
    with sandbox_lab(profile) as lab:
        first = harborbook("run", "--out", str(tmp_path / "runs"))
        assert first.returncode == 0, first.stdout + first.stderr
        run1 = run_dir_of(first.stdout)
        done = steps(run1)
        assert len({name for name, *_ in done}) == 7
        assert [s for s in done if s[2] not in GOOD] == [] or all(s[2] == "warning" for s in done if s[2] not in GOOD)
        assert not [s for s in done if s[2] == "failed"]
        assert any(s[2] == "changed" for s in done), "a first run deploys something"

        second = harborbook("run", "--out", str(tmp_path / "runs"))
        assert second.returncode == 0, second.stdout + second.stderr
        changed = [s for s in steps(run_dir_of(second.stdout)) if s[2] == "changed"]
        assert changed == [], changed

        secrets = lab_secrets(lab.state)
        assert len(secrets) >= 7
        leaks = find_leaks(secrets, [tmp_path / "runs", lab.state / "log"],
                           {"console": first.stdout + first.stderr + second.stdout + second.stderr})
        assert leaks == []
